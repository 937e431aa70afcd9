"""The request parameters an HTTP provider sends, checked before any request.

A value the server would refuse, or misread, is a ConfigurationError naming the parameter:
at creation for the configured parameters, at the call for a call's own. Only the type and
range every API agrees on are checked here (a temperature is a finite number from 0 to 2);
a server may narrow them further (Anthropic's temperature stops at 1) and says so itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from devsynth.domain.errors import ConfigurationError

# name: (lowest, highest) for numbers that must be finite and in range.
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
# name: the smallest value of an integer parameter.
_INTEGERS: dict[str, int] = {
    "max_tokens": 1,
    "max_completion_tokens": 1,
    "top_k": 0,
    "seed": -(2**63),
    "context_window": 1,
}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_parameters(params: Mapping[str, Any]) -> None:
    """Raise ConfigurationError for the first parameter of the wrong type or range."""
    for name, (low, high) in _RANGES.items():
        value = params.get(name)
        if value is None:
            continue
        if not _is_number(value) or not math.isfinite(value) or not low <= value <= high:
            raise ConfigurationError(
                f"{name} must be a number from {low:g} to {high:g}, not {value!r}"
            )
    for name, lowest in _INTEGERS.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise ConfigurationError(f"{name} must be an integer >= {lowest}, not {value!r}")
    model = params.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigurationError(f"model must be a non-empty string, not {model!r}")


def check_url(value: object, name: str = "api_base") -> str:
    """``value`` if it is an http(s) URL with a host and nothing around it; a
    ConfigurationError naming ``name`` otherwise (with a hint for a missing scheme)."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"{name} must be a URL such as 'http://localhost:1234/v1', not {value!r}"
        )
    shown = _without_userinfo(value)
    if value != value.strip():
        raise ConfigurationError(f"{name} has spaces or a line end around it: {shown!r}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigurationError(f"{name} has a space or a control character in it: {shown!r}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        hint = f"; did you mean 'http://{shown}'?" if "://" not in value else ""
        raise ConfigurationError(
            f"{name} must start with http:// or https:// and name a host, not {shown!r}{hint}"
        )
    try:
        parts.port  # noqa: B018 -- urlsplit checks the port only when asked
    except ValueError:
        raise ConfigurationError(f"{name} has an invalid port: {shown!r}") from None
    if not parts.hostname:
        raise ConfigurationError(f"{name} names no host: {shown!r}")
    return value


def _without_userinfo(url: str) -> str:
    # A URL may carry a password ("https://user:secret@host"): never echo it.
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


__all__ = ["check_parameters", "check_url"]
