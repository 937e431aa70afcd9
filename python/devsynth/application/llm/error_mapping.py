"""What a provider's error response means, as one of devsynth's exceptions.

Pure functions over status, headers and body: the HTTP module calls them for error statuses,
providers call them for errors that arrive inside a 200 (LM Studio) or as a stream event.
Error bodies come in a few shapes, all handled:

- OpenAI and most compatible servers: ``{"error": {"message", "type", "code"}}``
- Anthropic: ``{"type": "error", "error": {"type", "message"}}``
- LM Studio and others: ``{"error": "message"}``, or ``{"message": ...}``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from devsynth.application.llm.secrets import redact
from devsynth.domain.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)

# Codes and messages that mean "the prompt does not fit the window", across providers.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PATTERNS = re.compile(
    r"context[ _]length|context window|maximum context|prompt is too long|too many tokens"
    r"|exceeds? the (?:model'?s? )?context|context (?:the )?overflows|tokens to keep"
    r"|input is too long|reduce the length of the messages",
    re.IGNORECASE,
)
# Error types that say "overloaded / try later" whatever the status.
_RATE_TYPES = frozenset({"rate_limit_error", "rate_limit_exceeded"})
_SERVER_TYPES = frozenset({"overloaded_error", "api_error", "server_error"})
_AUTH_TYPES = frozenset({"authentication_error", "invalid_api_key"})
_PERMISSION_TYPES = frozenset({"permission_error", "permission_denied"})
_NOT_FOUND_TYPES = frozenset({"not_found_error", "model_not_found"})
# No credit left: OpenAI's 429 insufficient_quota, and 402 Payment Required (OpenRouter).
_QUOTA_TYPES = frozenset({"insufficient_quota"})

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "anthropic-request-id")


def request_id_from(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def parse_error_body(
    body: bytes | str | Mapping[str, Any] | None,
) -> tuple[str | None, str | None, str | None]:
    """``(message, type, code)`` from an error body of any of the known shapes."""
    payload: Any = body
    if isinstance(body, (bytes, str)):
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return (text.strip()[:500] or None, None, None)
    if not isinstance(payload, Mapping):
        return (None, None, None)
    error = payload.get("error", payload)
    if isinstance(error, str):
        return (error, None, None)
    if not isinstance(error, Mapping):
        return (None, None, None)
    message = error.get("message") or error.get("detail") or error.get("msg")
    kind = error.get("type")
    code = error.get("code")
    return (
        str(message) if message is not None else None,
        str(kind) if kind is not None else None,
        str(code) if code is not None else None,
    )


def is_context_length_error(message: str | None, kind: str | None, code: str | None) -> bool:
    if code in _CONTEXT_CODES or kind in _CONTEXT_CODES:
        return True
    return bool(message and _CONTEXT_PATTERNS.search(message))


def error_from_response(
    provider: str,
    status: int | None,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    secrets: Iterable[str] = (),
    retry_after: float | None = None,
) -> ProviderError:
    """The exception for an error response; ``status`` is ``None`` for in-band errors."""
    message, kind, code = parse_error_body(body)
    headers = headers or {}
    text = _short(redact(message or _default_message(status), secrets))
    common: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "error_type": kind or code,
        "request_id": request_id_from(headers),
    }
    if is_context_length_error(message, kind, code):
        return ContextLengthExceededError(text, **common)
    if status == 402 or kind in _QUOTA_TYPES or code in _QUOTA_TYPES:
        return QuotaExceededError(text, retry_after=retry_after, **common)
    # An error inside a 200 (or a stream event) has no status to go by: its code counts too.
    in_band = status is None or 200 <= status < 300
    cls = _class_for(status, kind or code)
    if in_band and cls in (BadRequestError, ProviderError) and code is not None:
        cls = _class_for(status, code) if _class_for(status, code) is not ProviderError else cls
    if cls is RateLimitError:
        return RateLimitError(text, retry_after=retry_after, **common)
    return cls(text, **common)


def _class_for(status: int | None, kind: str | None) -> type[ProviderError]:
    if status == 401 or kind in _AUTH_TYPES:
        return AuthenticationError
    if status == 403 or kind in _PERMISSION_TYPES:
        return PermissionDeniedError
    if status == 404 or kind in _NOT_FOUND_TYPES:
        return NotFoundError
    if status == 429 or kind in _RATE_TYPES:
        return RateLimitError
    if status == 408:
        return ProviderTimeoutError
    if status == 409:
        return ConflictError
    if (status is not None and status >= 500) or kind in _SERVER_TYPES:
        return ServerError
    if status in (400, 413, 422) or kind == "invalid_request_error":
        return BadRequestError
    return ProviderError


MAX_MESSAGE = 1000  # characters of a server's error message kept in the exception


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " [...]"


def _default_message(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else "The provider reported an error"


__all__ = [
    "error_from_response",
    "is_context_length_error",
    "parse_error_body",
    "request_id_from",
]
