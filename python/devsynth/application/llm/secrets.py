"""Secrets: which parameters hold them, a wrapper that never shows them, and masking.

The transport (``http.py``), the provider framework (``base.py``) and the adapter all import
from here, so the rules for keeping an API key out of reprs, logs and messages live in one
place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

# Parameter names whose values are secrets: never shown by repr() or ``parameters``.
SECRET_PARAMETERS = frozenset({"api_key", "key", "token", "secret", "password", "authorization"})
MASK = "***"

# Key shapes of the major providers, masked even when they are not this provider's key.
_KEY_SHAPES = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{12,}")

T = TypeVar("T")


class Hidden(Generic[T]):
    """A value that ``repr()`` never shows: an API key, or headers that carry one. Debuggers,
    tracebacks with locals and ``vars()`` dumps print ``<hidden>`` instead."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<hidden>"


def is_secret_name(name: str) -> bool:
    """True for parameter names that hold credentials (``api_key``, ``auth_token``, ...)."""
    lowered = name.lower()
    return lowered in SECRET_PARAMETERS or lowered.endswith(("_key", "_token", "_secret"))


def mask_secrets(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` with every secret value replaced by ``***``."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in parameters.items()}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the known secrets, and anything shaped like an API key, masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _KEY_SHAPES.sub(MASK, text)


__all__ = [
    "MASK",
    "SECRET_PARAMETERS",
    "Hidden",
    "is_secret_name",
    "mask_secrets",
    "redact",
]
