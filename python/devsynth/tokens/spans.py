"""Where each token of a text lies, for showing tokens to people (``devsynth tokens show``).

::

    from devsynth.tokens import get_encoding
    from devsynth.tokens.spans import token_spans

    view = token_spans(get_encoding("o200k_base"), "hello 🫠")
    [(s.token, s.text) for s in view.spans]   # [(24912, 'hello'), (4103, ' \\xf0\\x9f'), ...]
    view.tokens, view.chars, view.bytes        # 4, 7, 10

A token is a run of bytes, and a token's bytes need not hold whole characters: an emoji can be
split over three tokens. Each span therefore splits into fragments: text made of the characters
that lie wholly inside the token, and the bytes of a character cut by a token boundary, kept as
bytes and marked ``partial`` (with the character they belong to, for a tooltip).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devsynth.tokens.core import Encoding

if TYPE_CHECKING:
    from devsynth.tokens.core import AllowedSpecial, DisallowedSpecial


@dataclass(frozen=True)
class Fragment:
    """Part of a token: whole characters (``partial`` empty), or the bytes ``partial`` of the
    single character ``text`` that the token holds only part of."""

    text: str
    partial: bytes = b""

    @property
    def is_partial(self) -> bool:
        return bool(self.partial)


@dataclass(frozen=True)
class TokenSpan:
    """One token: its id, where its bytes lie in the text's UTF-8, and what it shows."""

    token: int
    start: int  # byte offsets into the text's UTF-8
    end: int
    fragments: tuple[Fragment, ...]
    special: bool = False

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def is_partial(self) -> bool:
        """True when the token holds only part of some character."""
        return any(f.is_partial for f in self.fragments)

    @property
    def text(self) -> str:
        """The token as text, partial bytes written as ``\\xNN`` escapes."""
        return "".join(
            "".join(f"\\x{b:02x}" for b in f.partial) if f.is_partial else f.text
            for f in self.fragments
        )


@dataclass(frozen=True)
class TokenizedText:
    """A text's tokens as spans, and the figures of its summary."""

    encoding: str
    spans: tuple[TokenSpan, ...]
    chars: int
    bytes: int

    @property
    def tokens(self) -> int:
        return len(self.spans)

    @property
    def partial_tokens(self) -> int:
        return sum(1 for s in self.spans if s.is_partial)

    @property
    def bytes_per_token(self) -> float | None:
        """None for an empty text (no tokens)."""
        return self.bytes / len(self.spans) if self.spans else None


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte < 0xC0


def _char_around(data: bytes, pos: int) -> tuple[int, int]:
    """The byte range of the character holding ``data[pos]``."""
    start = pos
    while start > 0 and _is_continuation(data[start]):
        start -= 1
    end = pos + 1
    while end < len(data) and _is_continuation(data[end]):
        end += 1
    return start, end


def _fragments(data: bytes, start: int, end: int) -> tuple[Fragment, ...]:
    """The fragments of the token ``data[start:end]``: a cut character before the first
    character boundary, whole characters, a cut character after the last boundary."""
    if start == end:
        return ()
    # First and last character boundaries inside [start, end].
    first = start
    while first < end and _is_continuation(data[first]):
        first += 1
    last = end
    if first < end:
        cut_start, cut_end = _char_around(data, end - 1)
        last = cut_start if cut_end > end else end
    out: list[Fragment] = []
    if first > start:  # the token begins inside a character
        a, b = _char_around(data, start)
        out.append(Fragment(data[a:b].decode("utf-8", "replace"), data[start:first]))
    if first < last:
        out.append(Fragment(data[first:last].decode("utf-8")))
    if first < end and last < end:  # the token ends inside a character
        a, b = _char_around(data, last)
        out.append(Fragment(data[a:b].decode("utf-8", "replace"), data[last:end]))
    return tuple(out)


def spans_of_tokens(encoding: Encoding, tokens: Sequence[int], data: bytes) -> TokenizedText:
    """Spans of ``tokens``, which must be the tokens of the UTF-8 text ``data``."""
    pieces = encoding.decode_tokens_bytes(tokens)
    spans: list[TokenSpan] = []
    # Most tokens hold whole characters: their one fragment depends on the token alone.
    whole: dict[int, tuple[Fragment, ...]] = {}
    pos = 0
    n = len(data)
    for token, piece in zip(tokens, pieces, strict=True):
        end = pos + len(piece)
        if data[pos:end] != piece:
            raise ValueError("the tokens do not spell the text")
        if (
            piece
            and not _is_continuation(piece[0])
            and (end == n or not _is_continuation(data[end]))
        ):
            fragments = whole.get(token)
            if fragments is None:
                fragments = whole[token] = (Fragment(piece.decode("utf-8")),)
        else:
            fragments = _fragments(data, pos, end)
        spans.append(TokenSpan(token, pos, end, fragments, encoding.is_special_token(token)))
        pos = end
    if pos != n:
        raise ValueError("the tokens do not spell the text")
    chars = len(data.decode("utf-8", "replace"))
    return TokenizedText(encoding.name, tuple(spans), chars, len(data))


def token_spans(
    encoding: Encoding,
    text: str,
    *,
    allowed_special: AllowedSpecial = frozenset(),
    disallowed_special: DisallowedSpecial = "all",
) -> TokenizedText:
    """Encodes ``text`` (as :meth:`Encoding.encode`, same arguments and errors) and gives where
    each token lies."""
    tokens = encoding.encode(
        text, allowed_special=allowed_special, disallowed_special=disallowed_special
    )
    return spans_of_tokens(encoding, tokens, text.encode("utf-8"))


__all__ = ["Fragment", "TokenSpan", "TokenizedText", "spans_of_tokens", "token_spans"]
