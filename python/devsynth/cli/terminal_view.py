"""Tokens drawn on a terminal: each token on its own background colour, the colours cycling so
that neighbours always differ; or, without colour (a pipe, ``NO_COLOR``), each token in
brackets: ``[hel][lo]``. With ``ids``, each token's id is written under it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TextIO

from devsynth.cli import palette
from devsynth.cli.visible import Glyphs, TokenLines, display_width, summary_line, token_lines
from devsynth.tokens.spans import TokenizedText, TokenSpan

RESET = "\x1b[0m"


def use_color(mode: str, stream: TextIO) -> bool:
    """Colour for ``--color always``; for ``auto``, only on a terminal, without ``NO_COLOR``
    (https://no-color.org: set and not empty) and not on a dumb terminal."""
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _sgr(*codes: int) -> str:
    return "\x1b[" + ";".join(str(c) for c in codes) + "m"


@dataclass
class _Painter:
    """Writes glyphs with or without colour."""

    color: bool

    def token(self, index: int, span: TokenSpan, glyphs: tuple[Glyphs, ...]) -> str:
        if not self.color:
            return "".join(g.text for g in glyphs)
        bg = palette.token_background(index)
        out: list[str] = []
        for g in glyphs:
            if g.kind == "mark":
                out.append(_sgr(0, 48, 5, bg, 38, 5, palette.MARK))
            elif g.kind == "bytes":
                out.append(_sgr(0, 48, 5, bg, 38, 5, palette.BYTES, 4))
            elif span.special:
                out.append(_sgr(0, 48, 5, bg, 38, 5, palette.SPECIAL, 1))
            else:
                out.append(_sgr(0, 48, 5, bg, 38, 5, palette.TEXT))
            out.append(g.text)
        if not glyphs:  # an empty line part still shows its colour
            return ""
        out.append(RESET)
        return "".join(out)

    def open(self) -> str:
        return "" if self.color else "["

    def close(self) -> str:
        return "" if self.color else "]"

    def summary(self, text: str) -> str:
        return _sgr(2) + text + RESET if self.color else text

    def id(self, text: str) -> str:
        return _sgr(38, 5, palette.TOKEN_ID) + text + RESET if self.color else text


def _parts(
    index: int, span: TokenSpan, paint: _Painter, *, widths: bool = False
) -> list[tuple[str, int, bool]]:
    """The token's lines as (drawn text, columns, a line break follows); the columns are
    measured only when ``widths`` (laying out ids), else 0."""
    drawn: TokenLines = token_lines(span)
    n = len(drawn.lines)
    out: list[tuple[str, int, bool]] = []
    for k, line in enumerate(drawn.lines):
        text = paint.token(index, span, line)
        width = sum(display_width(g.text) for g in line) if widths else 0
        if k == 0:
            text, width = paint.open() + text, width + len(paint.open())
        last = k == n - 1
        if last:
            text, width = text + paint.close(), width + len(paint.close())
        out.append((text, width, not last or drawn.ends_line))
    return out


def render_tokens(view: TokenizedText, out: TextIO, *, color: bool) -> None:
    """The tokens as running text, the text's own line breaks kept."""
    paint = _Painter(color)
    at_line_start = True
    for i, span in enumerate(view.spans):
        for text, _, breaks in _parts(i, span, paint):
            out.write(text)
            at_line_start = False
            if breaks:
                out.write("\n")
                at_line_start = True
    if not at_line_start:
        out.write("\n")


@dataclass
class _Rows:
    """Cells laid out in rows no wider than ``width``: a text line, then the ids under it."""

    out: TextIO
    paint: _Painter
    width: int
    cells: list[tuple[str, int, str]] = field(default_factory=list)
    used: int = 0

    def add(self, text: str, text_width: int, token_id: str) -> None:
        cell = max(text_width, len(token_id))
        if self.cells and self.used + 1 + cell > self.width:
            self.flush()
        self.used += cell + (1 if self.cells else 0)
        self.cells.append((text, text_width, token_id))

    def flush(self) -> None:
        texts: list[str] = []
        ids: list[str] = []
        for text, text_width, token_id in self.cells:
            cell = max(text_width, len(token_id))
            texts.append(text + " " * (cell - text_width))
            ids.append(self.paint.id(token_id) + " " * (cell - len(token_id)))
        self.out.write(" ".join(texts).rstrip(" ") + "\n")
        self.out.write(" ".join(ids).rstrip(" ") + "\n")
        self.cells = []
        self.used = 0


def render_tokens_with_ids(view: TokenizedText, out: TextIO, *, color: bool, width: int) -> None:
    """Each token in a cell with its id under it; rows wrap at ``width`` columns and at the
    text's line breaks."""
    paint = _Painter(color)
    rows = _Rows(out, paint, max(width, 1))
    for i, span in enumerate(view.spans):
        for k, (text, text_width, breaks) in enumerate(_parts(i, span, paint, widths=True)):
            rows.add(text, text_width, str(span.token) if k == 0 else "")
            if breaks:
                rows.flush()
    if rows.cells:
        rows.flush()


def render_view(
    view: TokenizedText, out: TextIO, *, color: bool, ids: bool, width: int = 80
) -> None:
    """The tokens, then a blank line and the summary."""
    if ids:
        render_tokens_with_ids(view, out, color=color, width=width)
    else:
        render_tokens(view, out, color=color)
    out.write("\n" + _Painter(color).summary(summary_line(view)) + "\n")
