"""Secrets: which parameters hold them, a wrapper that never shows them, and masking.

The transport (``http.py``), the provider framework (``base.py``) and the adapter all import
from here, so the rules for keeping an API key out of reprs, logs and messages live in one
place:

- a key is cleaned once, where it enters (:func:`api_key`): surrounding whitespace (a file's
  trailing newline) is stripped, and a key that cannot travel in an HTTP header is refused
  without being shown;
- it is then held in a :class:`Hidden`, which never shows in ``repr()``, tracebacks with
  locals or ``vars()`` dumps, and refuses to be pickled;
- :func:`redact` masks it in every form it may take in a message: as is, escaped as Python
  or JSON writes it, percent-encoded;
- :func:`register` puts it on a list that a filter on httpx's and httpcore's loggers masks in
  every record (httpcore's DEBUG log prints response headers, which a server may echo a key in).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from devsynth.domain.errors import ConfigurationError

if TYPE_CHECKING:
    import logging

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

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a secret (an API key, or headers that carry one) is never pickled")


def api_key(value: object, *, source: str) -> Hidden[str | None]:
    """A key as given (``source`` names where from: ``api_key``, ``OPENAI_API_KEY``), cleaned:
    surrounding whitespace stripped, ``None`` when nothing is left. A key with a character an
    HTTP header cannot carry (a space, a control or non-ASCII character) is a
    ConfigurationError that names the source and the position, never the key."""
    if value is None:
        return Hidden(None)
    if not isinstance(value, str):
        raise ConfigurationError(f"{source} must be a string, not {type(value).__name__}")
    key = value.strip()
    for position, char in enumerate(key):
        if not "!" <= char <= "~":
            kind = (
                "a space"
                if char.isspace()
                else "a non-ASCII character"
                if ord(char) > 127
                else "a control character"
            )
            raise ConfigurationError(
                f"{source} has {kind} at position {position}, which an HTTP header cannot "
                "carry; check the key (it is not shown here)"
            )
    return Hidden(key or None)


def is_secret_name(name: str) -> bool:
    """True for parameter names that hold credentials (``api_key``, ``auth_token``, ...)."""
    lowered = name.lower()
    return lowered in SECRET_PARAMETERS or lowered.endswith(("_key", "_token", "_secret"))


def mask_secrets(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` with every secret value replaced by ``***``."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in parameters.items()}


def _forms(secret: str) -> set[str]:
    """The ways a message may spell ``secret``: as is, escaped by ``repr()`` (of the str or
    of its bytes, as an HTTP library shows a header), escaped by JSON, percent-encoded."""
    from urllib.parse import quote, quote_plus

    return {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        secret.replace("\\", "\\\\").replace('"', '\\"'),
        quote(secret, safe=""),
        quote_plus(secret),
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the known secrets, in any of their forms, and anything shaped like an API
    key, masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in sorted(_forms(secret), key=len, reverse=True):
                text = text.replace(form, MASK)
    return _KEY_SHAPES.sub(MASK, text)


# -- logs ---------------------------------------------------------------------------------

# The loggers of the HTTP stack that may print header values (httpcore's DEBUG trace prints
# response headers as they arrive). A filter on a logger sees only that logger's own records,
# so each is named.
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack.hpack",
)
_live: dict[int, tuple[str, ...]] = {}  # the secrets of every live owner, by owner id


class _RedactingFilter:
    """A logging filter (any object with ``filter`` is one) that masks live secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s for group in list(_live.values()) for s in group]
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def register(owner: object, secrets: Iterable[str]) -> None:
    """Mask ``secrets`` in the HTTP stack's log records for as long as ``owner`` lives."""
    values = tuple(s for s in secrets if s)
    if not values:
        return
    import logging  # here: the adapter imports this module, and must stay cheap to import

    _live[id(owner)] = values
    weakref.finalize(owner, _live.pop, id(owner), None)
    for name in _HTTP_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # once: addFilter skips a known filter


__all__ = [
    "MASK",
    "SECRET_PARAMETERS",
    "Hidden",
    "api_key",
    "is_secret_name",
    "mask_secrets",
    "redact",
    "register",
]
