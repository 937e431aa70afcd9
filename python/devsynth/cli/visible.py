"""A token's text as it is drawn: whitespace and control characters made visible, bytes of a
cut character written as ``\\xNN``, split into the lines the text's newlines make. Shared by
the terminal view and the HTML page, so both draw a token the same way."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from devsynth.tokens.spans import Fragment, TokenizedText, TokenSpan

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


# Runs of what mark_of() replaces: whitespace (str.isspace(), U+2028/2029 included) and C0/C1
# controls; everything else is drawn as it is.
_MARKED_RUN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def _glyphs_of_text(text: str) -> list[Glyphs]:
    out: list[Glyphs] = []
    pos = 0
    for m in _MARKED_RUN.finditer(text):
        if m.start() > pos:
            out.append(Glyphs("text", text[pos : m.start()]))
        marks = "".join(mark_of(ch) or ch for ch in m.group())
        # One glyph per line: each newline mark ends its glyph (and the line).
        for piece in marks.replace(NEWLINE, NEWLINE + "\0").split("\0"):
            if piece:
                out.append(Glyphs("mark", piece))
        pos = m.end()
    if pos < len(text):
        out.append(Glyphs("text", text[pos:]))
    return out


def token_lines(span: TokenSpan) -> TokenLines:
    fragments = span.fragments
    if len(fragments) == 1 and not fragments[0].is_partial:
        return _text_lines(fragments[0].text)
    return _lines(span)


@functools.lru_cache(maxsize=8192)
def _text_lines(text: str) -> TokenLines:
    """The lines of a token of whole characters (the same token text draws the same way)."""
    return _lines(TokenSpan(0, 0, 0, (Fragment(text),)))


def _lines(span: TokenSpan) -> TokenLines:
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
