"""A token's text as it is drawn: whitespace and control characters made visible, bytes of a
cut character written as ``\\xNN``, split into the lines the text's newlines make. Shared by
the terminal view and the HTML page, so both draw a token the same way."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from devsynth.tokens.spans import TokenizedText, TokenSpan

NEWLINE = "⏎"
SPACE = "·"
_MARKS = {" ": SPACE, "\n": NEWLINE, "\t": "→", "\r": "␍", "\x7f": "␡"}
OTHER_SPACE = "␣"  # no-break space, ideographic space, line separator...
C1_CONTROL = "␦"

GlyphKind = Literal["text", "mark", "bytes"]


@dataclass(frozen=True)
class Glyphs:
    """A run of one kind: text as it is, a visible mark for whitespace or a control
    character, or the escaped bytes of a character the token holds only part of."""

    kind: GlyphKind
    text: str


@dataclass(frozen=True)
class TokenLines:
    """A token's glyphs by line: a newline ends a line. ``ends_line`` is True when the token's
    last character is a newline (the break then comes after the token, not inside it)."""

    lines: tuple[tuple[Glyphs, ...], ...]
    ends_line: bool


def mark_of(ch: str) -> str | None:
    """The visible stand-in for a whitespace or control character; None for other text.
    Control characters never reach the terminal as they are (no escape sequences)."""
    mark = _MARKS.get(ch)
    if mark is not None:
        return mark
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ ␁ ... ␛ ...
    if 0x80 <= code < 0xA0:
        return C1_CONTROL
    if ch.isspace() or unicodedata.category(ch) in ("Zl", "Zp"):
        return OTHER_SPACE
    return None


def _glyphs_of_text(text: str) -> list[Glyphs]:
    out: list[Glyphs] = []
    run: list[str] = []
    for ch in text:
        mark = mark_of(ch)
        if mark is None:
            run.append(ch)
            continue
        if run:
            out.append(Glyphs("text", "".join(run)))
            run = []
        if out and out[-1].kind == "mark" and out[-1].text[-1] != NEWLINE:
            out[-1] = Glyphs("mark", out[-1].text + mark)
        else:
            out.append(Glyphs("mark", mark))
    if run:
        out.append(Glyphs("text", "".join(run)))
    return out


def token_lines(span: TokenSpan) -> TokenLines:
    glyphs: list[Glyphs] = []
    for fragment in span.fragments:
        if fragment.is_partial:
            glyphs.append(Glyphs("bytes", "".join(f"\\x{b:02x}" for b in fragment.partial)))
        else:
            glyphs.extend(_glyphs_of_text(fragment.text))
    lines: list[tuple[Glyphs, ...]] = []
    line: list[Glyphs] = []
    for g in glyphs:
        line.append(g)
        if g.kind == "mark" and g.text.endswith(NEWLINE):
            lines.append(tuple(line))
            line = []
    ends_line = not line and bool(lines)
    if line or not lines:
        lines.append(tuple(line))
    return TokenLines(tuple(lines), ends_line)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide East Asian characters 2, combining and
    zero-width characters 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cf", "Mn", "Me"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def summary_line(view: TokenizedText) -> str:
    """``5 tokens, 21 chars, 23 bytes, 4.60 bytes/token (o200k_base)``, and how many tokens
    hold part of a character, when some do."""
    per = view.bytes_per_token
    line = ", ".join(
        [
            _plural(view.tokens, "token"),
            _plural(view.chars, "char"),
            _plural(view.bytes, "byte"),
            f"{per:.2f} bytes/token" if per is not None else "no bytes/token",
        ]
    )
    line += f" ({view.encoding})"
    if view.partial_tokens:
        n = view.partial_tokens
        verb = "holds" if n == 1 else "hold"
        line += f"; {_plural(n, 'token')} {verb} part of a character (\\xNN)"
    return line


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
