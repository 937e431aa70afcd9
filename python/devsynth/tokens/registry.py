"""The built-in encodings by name: built once, shared, safe to use from any thread."""

from __future__ import annotations

import _thread

from devsynth import _core
from devsynth.domain.errors import UnknownEncodingError
from devsynth.tokens.core import Encoding
from devsynth.tokens.model import encoding_name_for_model

_lock = _thread.allocate_lock()  # threading.Lock itself, without importing threading
_ENCODINGS: dict[str, Encoding] = {}


def list_encoding_names() -> list[str]:
    """Names of the encodings this package ships."""
    return list(_core.BUILTIN_ENCODINGS)


def get_encoding(encoding_name: str) -> Encoding:
    """The encoding of this name; the same object on every call."""
    enc = _ENCODINGS.get(encoding_name) if isinstance(encoding_name, str) else None
    if enc is not None:
        return enc
    if not isinstance(encoding_name, str):
        raise TypeError(f"encoding_name must be str, got {type(encoding_name).__name__}")
    if encoding_name not in _core.BUILTIN_ENCODINGS:
        raise UnknownEncodingError(
            f"unknown encoding {encoding_name!r}; available encodings: "
            f"{', '.join(_core.BUILTIN_ENCODINGS)}"
        )
    with _lock:
        enc = _ENCODINGS.get(encoding_name)
        if enc is None:
            enc = Encoding._from_core(_core.CoreEncoding.builtin(encoding_name))
            _ENCODINGS[encoding_name] = enc
    return enc


def encoding_for_model(model_name: str) -> Encoding:
    """The encoding a model uses (tiktoken's table, prefixes included)."""
    return get_encoding(encoding_name_for_model(model_name))


def is_registered(encoding: Encoding) -> bool:
    """Whether this object is the shared built-in encoding of its name."""
    return _ENCODINGS.get(encoding.name) is encoding
