"""Reading the fields of a provider's reply with their types checked.

A server that answers 200 with ``"message": "hello"`` or ``"prompt_tokens": "many"`` must not
surface as an AttributeError or a ValueError from deep inside a parser, nor as an empty
answer: the wire formats read their fields through these helpers, which raise
:class:`ShapeError` naming the field, and the provider turns it into a
:class:`~devsynth.domain.errors.ResponseFormatError` (which fallback chains move on from).
The value itself is never echoed: a reply may carry anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ShapeError(ValueError):
    """A field of a reply that is missing or of the wrong type."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        got = "nothing" if value is None else f"a {type(value).__name__}"
        super().__init__(f"{path} should be {expected}, not {got}")
        self.path = path


def mapping(value: object, path: str) -> Mapping[str, Any]:
    """``value`` when it is an object; ShapeError otherwise."""
    if not isinstance(value, Mapping):
        raise ShapeError(path, "an object", value)
    return value


def optional_mapping(value: object, path: str) -> Mapping[str, Any]:
    """``value`` when it is an object, ``{}`` when absent (``None``); ShapeError otherwise."""
    return {} if value is None else mapping(value, path)


def text(value: object, path: str) -> str:
    """A message's content as text: a string, nothing (``""``), or a list of content parts
    whose text parts are joined (OpenAI's ``[{"type": "text", "text": ...}]``, or plain
    strings); parts without text (images, audio) are left out."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        pieces = []
        for index, part in enumerate(value):
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, Mapping):
                piece = part.get("text")
                if piece is not None and not isinstance(piece, str):
                    raise ShapeError(f"{path}[{index}].text", "a string", piece)
                pieces.append(piece or "")
            else:
                raise ShapeError(f"{path}[{index}]", "a content part", part)
        return "".join(pieces)
    raise ShapeError(path, "text or a list of content parts", value)


def count(value: object, path: str, default: int = 0) -> int:
    """A token count: a non-negative integer (a float with no fraction is taken), ``default``
    when absent; ShapeError for anything else (``"many"``, ``-3``, ``True``)."""
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ShapeError(path, "a count (an integer >= 0)", value)
    return value


def optional_count(value: object, path: str) -> int | None:
    """Like :func:`count`, but ``None`` when absent."""
    return None if value is None else count(value, path)


__all__ = ["ShapeError", "count", "mapping", "optional_count", "optional_mapping", "text"]
