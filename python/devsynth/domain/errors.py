"""Every error devsynth raises, in one hierarchy rooted in :class:`DevSynthError`.

::

    DevSynthError
    ├── ConfigurationError (ValueError)            bad settings, bad parameters
    ├── UnknownEncodingError (ValueError)          get_encoding("nope")
    ├── UnknownModelError (KeyError)               encoding_for_model("nope")
    ├── TokenLimitExceededError                    text or conversation over a token budget
    ├── ModelLoadError                             a local model that is missing or unloadable
    └── ProviderError                              anything a provider call can fail with
        ├── AuthenticationError                    401, missing or invalid API key
        ├── PermissionDeniedError                  403
        ├── NotFoundError                          404, unknown model or path
        ├── RateLimitError                         429, retried
        │   └── QuotaExceededError                 no credit left: 429 insufficient_quota,
        │                                          402; never retried
        ├── BadRequestError                        400, 413, 422
        │   └── ContextLengthExceededError         the prompt does not fit the model's window
        │                                          (also a TokenLimitExceededError)
        ├── ServerError                            5xx, 529 overloaded; retried
        │   └── ConflictError                      409 (a concurrent change, e.g. a lock held
        │                                          elsewhere); retried, as the SDKs do
        ├── ProviderConnectionError                the server cannot be reached
        ├── ProviderTimeoutError                   connect, read or total timeout
        ├── StreamInterruptedError                 a stream ended early or with an error event
        ├── ResponseFormatError                    a reply that is not the API's shape (not
        │                                          JSON, fields missing or of the wrong type)
        ├── ResponseTooLargeError                  a body or event over the size limit
        ├── UnsupportedOperationError              e.g. embeddings from Anthropic
        └── StructuredOutputError                  a reply that should be JSON and is not
                                                   (the raw text is kept on it)

A server's ``x-should-retry: true`` or ``false`` overrides which statuses are retried, both
ways. Provider errors keep what the provider said (status, error type, request id); none of them
ever holds an API key.
"""

from __future__ import annotations


class DevSynthError(Exception):
    """Base class of every devsynth error."""


class ConfigurationError(DevSynthError, ValueError):
    """Settings or parameters that cannot work."""


class UnknownEncodingError(DevSynthError, ValueError):
    """An encoding name that is not known."""


class UnknownModelError(DevSynthError, KeyError):
    """A model name that maps to no known encoding (a KeyError, as in tiktoken)."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class TokenLimitExceededError(DevSynthError):
    """Text or a conversation needs more tokens than allowed."""

    def __init__(
        self,
        message: str,
        *,
        current_tokens: int | None = None,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.current_tokens = current_tokens
        self.max_tokens = max_tokens


class ModelLoadError(DevSynthError):
    """A local model that is missing, incomplete or cannot be loaded."""


class ProviderError(DevSynthError):
    """A provider call failed."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.error_type = error_type
        self.request_id = request_id

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("status", self.status),
                ("type", self.error_type),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class AuthenticationError(ProviderError):
    """The API key is missing or was refused (401)."""


class PermissionDeniedError(ProviderError):
    """The key may not do this (403)."""


class NotFoundError(ProviderError):
    """The model or path does not exist (404)."""


class RateLimitError(ProviderError):
    """Too many requests (429), after the retries allowed."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """No credit or quota left (429 ``insufficient_quota``, 402): waiting will not help, so it
    is never retried."""


class BadRequestError(ProviderError):
    """The provider refused the request as malformed (400, 422)."""


class ContextLengthExceededError(BadRequestError, TokenLimitExceededError):
    """The prompt and the requested completion do not fit the model's context window."""

    def __init__(
        self,
        message: str,
        *,
        current_tokens: int | None = None,
        max_tokens: int | None = None,
        **kwargs: object,
    ) -> None:
        BadRequestError.__init__(self, message, **kwargs)  # type: ignore[arg-type]
        self.current_tokens = current_tokens
        self.max_tokens = max_tokens


class ServerError(ProviderError):
    """The provider failed (5xx, or 529 overloaded), after the retries allowed."""


class ConflictError(ServerError):
    """409: the request conflicted with another change on the server (OpenAI and Anthropic
    use it for transient lock conflicts); retried like a server error."""


class ProviderConnectionError(ProviderError):
    """The provider's server could not be reached."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""


class StreamInterruptedError(ProviderError):
    """A stream ended before its terminator, or with an error event."""


class ResponseFormatError(ProviderError):
    """The server answered, but not in the API's shape: not JSON, a required field missing,
    or a field of the wrong type. Fallback chains move on: another server may answer well."""


class ResponseTooLargeError(ProviderError):
    """A response body (decompressed) or one stream event larger than the configured limit
    (``max_response_size``, ``max_event_size``); reading stopped there."""

    def __init__(self, message: str, *, limit: int | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.limit = limit


class UnsupportedOperationError(ProviderError):
    """The provider does not offer this operation."""


class StructuredOutputError(ProviderError):
    """A reply asked for as JSON (``response_format``) that does not parse, or a refusal.

    ``text`` is the reply exactly as the model wrote it, ``finish_reason`` why it ended
    (``"length"``: cut off by ``max_tokens``).
    """

    def __init__(
        self, message: str, *, text: str, finish_reason: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.text = text
        self.finish_reason = finish_reason


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ContextLengthExceededError",
    "DevSynthError",
    "ModelLoadError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "ServerError",
    "StreamInterruptedError",
    "StructuredOutputError",
    "TokenLimitExceededError",
    "UnknownEncodingError",
    "UnknownModelError",
    "UnsupportedOperationError",
]
