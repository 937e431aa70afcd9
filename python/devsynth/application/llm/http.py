"""The one module that speaks HTTP (through httpx); every provider goes through it.

:class:`HttpClient` holds a pooled sync client and, per event loop, a pooled async client.
Both honour the environment's proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) and verify TLS.
Each call:

- retries 408, 409, 429, 5xx, 529 and failed connections with exponential backoff and jitter,
  or after the server's ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date), capped;
  never 400, 401, 403, 404 or other client errors, nor a 429 that says the quota is used up;
  a server's ``x-should-retry: true``/``false`` overrides these rules both ways (as the
  OpenAI and Anthropic SDKs do);
- bounds time: connect, read (each wait for data) and total (the whole call, retries and
  their waits included, on the wall clock: a server that trickles its headers a byte at a time
  is cut off at the total too); a stream is bounded by an idle timeout between data events
  instead of the total, so a long answer is not cut but a stalled one fails, and keep-alive
  comments or ``ping`` events alone end it after ``keepalive`` seconds (the idle timeout
  unless set). An optional per-attempt bound (the SDKs' meaning of ``timeout``) limits each
  try, and a try that runs out is retried;
- bounds size: a body may hold ``max_response_size`` bytes once decompressed, checked as it
  inflates (a gzip bomb stops at the limit), one stream event ``max_event_size`` characters,
  and an error body is read for its first 64 KiB only;
- does not follow redirects: a 3xx names where it points, to put in ``api_base``;
- maps failures to :mod:`devsynth.errors`, with the API key scrubbed from every message;
- closes a stream's response however the stream ends (exhausted, failed or closed early), so
  its connection goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import random
import ssl
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
import orjson

from devsynth import __version__
from devsynth.application.llm.bodies import (
    ACCEPT_ENCODING,
    BodyError,
    BodyTooLarge,
    Inflater,
    SizeLimit,
)
from devsynth.application.llm.error_mapping import error_from_response, request_id_from
from devsynth.application.llm.secrets import Hidden, redact
from devsynth.application.llm.secrets import register as register_secrets
from devsynth.application.llm.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    EventTooLargeError,
    SSEDecoder,
    SSEEvent,
)
from devsynth.domain.errors import (
    ConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    ResponseFormatError,
    ResponseTooLargeError,
    StreamInterruptedError,
)

logger = logging.getLogger("devsynth.llm.http")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 529})
MAX_ERROR_BODY = 64 * 1024  # bytes of an error response read for its message
# The event name under which a stream request's plain JSON answer is passed on whole: some
# servers answer with one JSON document (an error inside a 200, or a completion when they
# do not stream). No real event stream names an event like a media type.
JSON_BODY_EVENT = "application/json"
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024  # bytes of one (decompressed) response body
KEEPALIVE_EVENTS = frozenset({"ping"})  # named events that only keep a stream open
_USER_AGENT = f"devsynth-llm/{__version__}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds; ``None`` waits forever. ``idle`` bounds the wait for a stream's next data
    event; ``keepalive`` bounds how long keep-alives alone (comments, ``ping`` events) may
    keep a stream open without data, and is the idle timeout when not set.

    ``total`` is the budget of the whole call, retries and their waits included. ``attempt``
    bounds each try instead (or as well): what the official SDKs call ``timeout``. A try that
    runs out of its ``attempt`` time is retried like a failed connection.
    """

    connect: float | None = 10.0
    read: float | None = 120.0
    total: float | None = 600.0
    idle: float | None = 120.0
    attempt: float | None = None
    keepalive: float | None = None

    @classmethod
    def from_parameter(cls, value: object) -> Timeouts:
        """``timeout`` as configured: one number is the whole call's budget (it sets connect,
        at most 10 s, read, idle and total), a mapping sets some, ``None`` keeps the defaults.

        A mapping with ``attempt`` but no ``total`` has SDK semantics: each try gets
        ``attempt`` seconds (and each read as long, unless ``read`` says otherwise), and no
        budget spans the tries."""
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        if isinstance(value, bool):
            raise ConfigurationError("timeout must be a number of seconds or a mapping")
        if isinstance(value, (int, float)):
            seconds = _seconds(value, "timeout")
            assert seconds is not None
            return cls(connect=min(seconds, 10.0), read=seconds, total=seconds, idle=seconds)
        if isinstance(value, Mapping):
            unknown = set(value) - {"connect", "read", "total", "idle", "attempt", "keepalive"}
            if unknown:
                raise ConfigurationError(f"unknown timeout keys: {sorted(unknown)}")
            base = cls()
            attempt = _seconds(value.get("attempt"))
            per_attempt = attempt is not None and "total" not in value
            connect = base.connect if attempt is None else min(attempt, 10.0)
            read = _seconds(value.get("read", attempt if per_attempt else base.read))
            return cls(
                connect=_seconds(value.get("connect", connect)),
                read=read,
                total=None if per_attempt else _seconds(value.get("total", base.total)),
                idle=_seconds(value.get("idle", read)),
                attempt=attempt,
                keepalive=_seconds(value.get("keepalive")),
            )
        raise ConfigurationError("timeout must be a number of seconds or a mapping")


def _seconds(value: object, name: str = "a timeout") -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        return float(value)
    raise ConfigurationError(
        f"{name} must be a positive, finite number of seconds (None waits forever), not {value!r}"
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying again."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # the most a server's Retry-After may make us wait

    def backoff(self, attempt: int) -> float:
        """Exponential backoff for retry number ``attempt`` (0-based), with up to 25% jitter
        taken off so that clients that failed together do not retry together."""
        base = min(self.max_delay, self.initial_delay * 2.0**attempt)
        return base * (1.0 - 0.25 * random.random())

    def delay(self, attempt: int, headers: Mapping[str, str]) -> float:
        # A hint of zero (a date already past) gets the backoff: our own delay is the floor
        # under a server that asks to be hammered.
        hinted = retry_after_seconds(headers)
        if hinted is not None and hinted > 0:
            return min(hinted, self.max_retry_after)
        return self.backoff(attempt)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _wait(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a server asked for: ``retry-after-ms``, else ``Retry-After`` in seconds or as
    an HTTP date. ``None`` when absent or unreadable (so is a negative or infinite number); a
    date already past is 0."""
    millis = _number(headers.get("retry-after-ms") or "")
    if millis is not None and _wait(millis) is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return _wait(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class JsonResponse:
    """A successful response's decoded JSON body."""

    data: Any = field(repr=False)  # what the server sent, which may echo anything back
    status: int
    headers: Mapping[str, str] = field(repr=False)
    request_id: str | None = None


def should_retry(status: int, headers: Mapping[str, str], error: ProviderError) -> bool:
    """Whether a failed status is worth another try: the server's ``x-should-retry`` first,
    both ways; then 408, 409, 429, 5xx and 529, except when no quota is left (waiting cannot
    bring credit back)."""
    hint = headers.get("x-should-retry", "").strip().lower()
    if hint in ("true", "false"):
        return hint == "true"
    if isinstance(error, QuotaExceededError):
        return False
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


class _Deadline:
    """The end of a call's total time, if it has one."""

    def __init__(self, seconds: float | None) -> None:
        self.end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self.end is None else self.end - time.monotonic()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def allows(self, wait: float) -> bool:
        left = self.remaining()
        return left is None or wait < left

    def cap(self, value: float | None) -> float | None:
        left = self.remaining()
        if left is None:
            return value
        left = max(left, 0.001)
        return left if value is None else min(value, left)

    def within(self, seconds: float | None) -> _Deadline:
        """This deadline, or ``seconds`` from now when that comes first (one try's end)."""
        if seconds is None:
            return self
        sooner = _Deadline(seconds)
        if self.end is not None and sooner.end is not None:
            sooner.end = min(sooner.end, self.end)
        return sooner


class _TryTimedOut(Exception):
    """One try ran out of its per-attempt time while the whole call still has some."""

    def __init__(self, error: ProviderTimeoutError) -> None:
        super().__init__(error.message)
        self.error = error


# -- the wall clock under every socket operation -------------------------------------------
#
# httpx's timeouts bound each socket operation, so a server that sends its headers two bytes a
# second never trips them. The connection pools' network streams below cap every connect,
# read and write at the time left before the end of the request in progress (a context
# variable: each thread and each task sees its own request), so the whole call ends on time.

_request_end: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "devsynth_request_end", default=None
)


def _capped(timeout: float | None) -> float | None:
    end = _request_end.get()
    if end is None:
        return timeout
    left = max(end - time.monotonic(), 0.001)  # 0 would make the socket non-blocking
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def _until(end: float | None) -> Iterator[None]:
    """Socket operations in this block end by ``end`` (``time.monotonic()``)."""
    token = _request_end.set(end)
    try:
        yield
    finally:
        _request_end.reset(token)


class _CappedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _capped(timeout))
        return _CappedStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _CappedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self.backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_tcp(
            host, port, _capped(timeout), local_address, socket_options
        )
        return _CappedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_unix_socket(path, _capped(timeout), socket_options)
        return _CappedStream(stream)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class _AsyncCappedStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, _capped(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, _capped(timeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, _capped(timeout))
        return _AsyncCappedStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncCappedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self.backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.backend.connect_tcp(
            host, port, _capped(timeout), local_address, socket_options
        )
        return _AsyncCappedStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.backend.connect_unix_socket(path, _capped(timeout), socket_options)
        return _AsyncCappedStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


def _cap_pools(client: httpx.Client | httpx.AsyncClient) -> int:
    """Give every connection pool of ``client`` (the direct one and each proxy's) capped
    network streams; the number of pools capped. httpx has no public way to pass a network
    backend (encode/httpx#3749), so the pools' attribute is wrapped; tests check that every
    pool, proxies included, was reached."""
    capped = 0
    for transport in [client._transport, *client._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        if not isinstance(backend, (_CappedBackend, _AsyncCappedBackend)):
            wrapped = (
                _CappedBackend(backend)
                if isinstance(backend, httpcore.NetworkBackend)
                else _AsyncCappedBackend(backend)
            )
            pool._network_backend = wrapped  # type: ignore[union-attr]
        capped += 1
    if not capped:
        logger.warning("httpx's pools were not found: the total timeout is checked between reads")
    return capped


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """``verify`` as httpx takes it; a CA bundle path is loaded now, so that a wrong one is a
    ConfigurationError at creation rather than a connection error at the first request."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigurationError(
            f"verify names {verify!r}, which is not a readable CA bundle: {reason}"
        ) from None


class _Body:
    """A response body, decompressed as it arrives and counted against ``limit``."""

    def __init__(self, response: httpx.Response, limit: int | None) -> None:
        declared = response.headers.get("content-length", "")
        encoded = response.headers.get("content-encoding", "identity") != "identity"
        if limit is not None and declared.isdigit() and int(declared) > limit and not encoded:
            raise BodyTooLarge(limit)  # said so up front: nothing to read
        self._inflater = Inflater(response.headers.get("content-encoding"))
        self._size = SizeLimit(limit)
        self._pieces: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        for piece in self._inflater.feed(chunk):
            self._pieces.append(self._size.add(piece))

    def finish(self) -> bytes:
        for piece in self._inflater.flush():
            self._pieces.append(self._size.add(piece))
        return b"".join(self._pieces)


class _ErrorBody:
    """The first MAX_ERROR_BODY bytes of an error response, decompressed; the rest unread."""

    def __init__(self, response: httpx.Response) -> None:
        self._body = bytearray()
        try:
            self._inflater: Inflater | None = Inflater(response.headers.get("content-encoding"))
        except BodyError:
            self._inflater = None  # the status still says what went wrong

    def full(self, chunk: bytes) -> bool:
        if self._inflater is None:
            return True
        for piece in self._inflater.feed(chunk):
            self._body += piece
            if len(self._body) >= MAX_ERROR_BODY:
                return True
        return False

    def value(self) -> bytes:
        return bytes(self._body[:MAX_ERROR_BODY])


class _DataClock:
    """How long a stream has gone without a data event: keep-alives (comments, which the
    decoder drops, and ``ping`` events) do not count as data."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._last = time.monotonic()

    def stale(self, events: list[SSEEvent]) -> bool:
        now = time.monotonic()
        if any(e.event not in KEEPALIVE_EVENTS for e in events):
            self._last = now
            return False
        return self.limit is not None and now - self._last > self.limit


class HttpClient:
    """Pooled JSON and SSE requests against one base URL, for one provider.

    ``headers`` go with every request (put the API key there); ``secrets`` lists the values
    that must never appear in an error message. ``connect_hint`` is added to the message of a
    connection failure (e.g. how to start the local server). ``max_response_size`` bounds a
    body in bytes once decompressed, ``max_event_size`` one stream event in characters.
    ``sleep``/``asleep`` are the waits between retries (tests pass recorders).
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        max_connections: int = 20,
        connect_hint: str = "",
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.connect_hint = connect_hint
        self._headers = Hidden({"user-agent": _USER_AGENT, **(headers or {})})
        self._secrets = Hidden(tuple(s for s in secrets if s))
        register_secrets(self, self._secrets.value)  # masked in httpx's and httpcore's logs
        self.max_response_size = max_response_size
        self.max_event_size = max_event_size
        self._verify = _ssl_context(verify)
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
        )
        self._sleep = sleep
        self._asleep = asleep
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def __repr__(self) -> str:  # never the headers: they hold the key
        return f"HttpClient(provider={self.provider!r}, base_url={self.base_url!r})"

    # -- clients ---------------------------------------------------------------------------

    def _httpx_timeout(self) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                headers=self._headers.value,
                verify=self._verify,
                trust_env=True,
                limits=self._limits,
                timeout=self._httpx_timeout(),
            )
            _cap_pools(self._client)
        return self._client

    def async_client(self) -> httpx.AsyncClient:
        # An AsyncClient's connections belong to the loop that opened them: one per loop.
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[old]
            client = httpx.AsyncClient(
                headers=self._headers.value,
                verify=self._verify,
                trust_env=True,
                limits=self._limits,
                timeout=self._httpx_timeout(),
            )
            _cap_pools(client)
            self._aclients[loop] = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        self.close()
        loop = asyncio.get_running_loop()
        client = self._aclients.pop(loop, None)
        if client is not None:
            await client.aclose()

    # -- building blocks -------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _request_timeout(self, deadline: _Deadline, stream: bool) -> httpx.Timeout:
        t = self.timeouts
        read = self._stream_read_timeout() if stream else deadline.cap(t.read)
        connect = deadline.cap(t.connect)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    def _build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        body: Any,
        deadline: _Deadline,
        stream: bool,
    ) -> httpx.Request:
        headers = {
            "accept": "text/event-stream" if stream else "application/json",
            "accept-encoding": ACCEPT_ENCODING,  # what bodies.Inflater decodes, in bounds
        }
        content = None
        if body is not None:
            try:
                content = orjson.dumps(body)
            except orjson.JSONEncodeError as exc:  # a lone surrogate, a value JSON cannot hold
                raise ConfigurationError(
                    f"the request to {self.provider} cannot be sent as JSON: {exc} (is there "
                    "a lone surrogate or a non-JSON value in the prompt, messages or parameters?)"
                ) from None
            headers["content-type"] = "application/json"
        return client.build_request(
            method,
            self.url(path),
            content=content,
            headers=headers,
            timeout=self._request_timeout(deadline, stream),
        )

    def _message(self, text: str) -> str:
        return redact(text, self._secrets.value)

    def _transport_error(self, exc: httpx.HTTPError, url: str) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            kind = type(exc).__name__
            return ProviderTimeoutError(
                self._message(f"{self.provider} at {url} did not answer in time ({kind})"),
                provider=self.provider,
            )
        if not isinstance(exc, httpx.ConnectError):  # connected, then the exchange failed
            return ProviderConnectionError(
                self._message(f"The request to {self.provider} at {url} failed: {exc}"),
                provider=self.provider,
            )
        hint = f". {self.connect_hint}" if self.connect_hint else ""
        return ProviderConnectionError(
            self._message(f"Cannot reach {self.provider} at {url}: {exc}{hint}"),
            provider=self.provider,
        )

    # An error status's body is read here, in a frame that is gone by the time the error is
    # raised: a body that echoes the key never sits in a traceback's locals. Only its first
    # MAX_ERROR_BODY bytes are read; an error message needs no more.
    def _error_of(self, response: httpx.Response) -> ProviderError:
        body = _ErrorBody(response)
        try:
            for chunk in response.iter_raw():
                if body.full(chunk):
                    break
        except (httpx.HTTPError, BodyError):
            pass
        finally:
            response.close()
        return self._status_error(response, body.value())

    async def _aerror_of(self, response: httpx.Response) -> ProviderError:
        body = _ErrorBody(response)
        try:
            async for chunk in response.aiter_raw():
                if body.full(chunk):
                    break
        except (httpx.HTTPError, BodyError):
            pass
        finally:
            await response.aclose()
        return self._status_error(response, body.value())

    def _status_error(self, response: httpx.Response, body: bytes) -> ProviderError:
        if response.is_redirect:
            return self._redirect_error(response)
        return error_from_response(
            self.provider,
            response.status_code,
            body,
            response.headers,
            secrets=self._secrets.value,
            retry_after=retry_after_seconds(response.headers),
        )

    def _redirect_error(self, response: httpx.Response) -> ProviderError:
        # Not followed: a POST would become a GET, and the key would go wherever the server
        # points. The message names the target so that api_base can be corrected.
        location = response.headers.get("location", "")
        target = str(response.url.join(location)) if location else "nowhere (no Location)"
        return ProviderError(
            self._message(
                f"{self.provider} at {response.url} redirects (HTTP {response.status_code}) to "
                f"{target}; redirects are not followed: set api_base to the new address"
            ),
            provider=self.provider,
            status=response.status_code,
            request_id=request_id_from(response.headers),
        )

    def _too_large(self, response: httpx.Response, limit: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"{self.provider} at {response.url} sent a body larger than {limit} bytes "
            "(max_response_size)",
            provider=self.provider,
            status=response.status_code,
            request_id=request_id_from(response.headers),
            limit=limit,
        )

    def _undecodable(self, response: httpx.Response, exc: BodyError) -> ResponseFormatError:
        return ResponseFormatError(
            f"{self.provider} at {response.url} sent a body that cannot be decoded: {exc}",
            provider=self.provider,
            status=response.status_code,
            request_id=request_id_from(response.headers),
        )

    def _total_timeout(self, url: str) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"{self.provider} at {url} took longer than the total timeout of "
            f"{self.timeouts.total} s",
            provider=self.provider,
        )

    def _retry_wait(
        self, attempt: int, deadline: _Deadline, headers: Mapping[str, str] | None
    ) -> float | None:
        """The wait before the next attempt, or ``None`` when no retry is left."""
        if attempt >= self.retry.max_retries:
            return None
        wait = self.retry.delay(attempt, headers or {})
        return wait if deadline.allows(wait) else None

    def _decode(self, response: httpx.Response, body: bytes) -> JsonResponse:
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError as exc:
            raise ResponseFormatError(
                f"{self.provider} sent a response that is not JSON: {exc}",
                provider=self.provider,
                status=response.status_code,
                request_id=request_id_from(response.headers),
            ) from None
        return JsonResponse(
            data=data,
            status=response.status_code,
            headers=response.headers,
            request_id=request_id_from(response.headers),
        )

    def _retry_transport(self, exc: httpx.HTTPError) -> bool:
        # A failed or refused connection is safe to retry. A read timeout is not, unless each
        # try has its own time (the SDKs' rule): otherwise the server may still be working on
        # the request, and waiting again would blow the call's budget.
        if not isinstance(exc, httpx.TimeoutException) or isinstance(exc, httpx.ConnectTimeout):
            return True
        return self.timeouts.attempt is not None

    def _out_of_time(
        self, limit: _Deadline, deadline: _Deadline, url: str
    ) -> ProviderTimeoutError | _TryTimedOut:
        if limit is deadline or deadline.expired():
            return self._total_timeout(url)
        return _TryTimedOut(
            ProviderTimeoutError(
                f"{self.provider} at {url} took longer than the per-attempt timeout of "
                f"{self.timeouts.attempt} s",
                provider=self.provider,
            )
        )

    def _read_failed(
        self, exc: httpx.HTTPError, deadline: _Deadline, url: str
    ) -> ProviderError | _TryTimedOut:
        if isinstance(exc, httpx.TimeoutException) and deadline.expired():
            return self._total_timeout(url)
        error = self._transport_error(exc, url)
        retry = self._retry_transport(exc) and not deadline.expired()
        if isinstance(error, ProviderTimeoutError) and retry:
            return _TryTimedOut(error)
        return error

    def _stream_read_timeout(self) -> float | None:
        idle, attempt = self.timeouts.idle, self.timeouts.attempt
        if attempt is None or idle is None:
            return idle if attempt is None else attempt
        return min(idle, attempt)

    def _stream_error(
        self, exc: httpx.HTTPError, url: str, request_id: str | None
    ) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimeoutError(
                f"{self.provider} at {url} sent nothing for {self._stream_read_timeout()} s "
                "(stream idle timeout)",
                provider=self.provider,
                request_id=request_id,
            )
        return StreamInterruptedError(
            self._message(f"The stream from {self.provider} at {url} broke off: {exc}"),
            provider=self.provider,
            request_id=request_id,
        )

    def _log_retry(self, method: str, url: str, why: str, wait: float, attempt: int) -> None:
        logger.warning(
            "%s %s failed (%s); retry %d of %d in %.2f s",
            method,
            url,
            why,
            attempt + 1,
            self.retry.max_retries,
            wait,
        )

    # -- sync ------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: Any, stream: bool, deadline: _Deadline
    ) -> tuple[httpx.Response, bytes]:
        """A response with a success status, after any retries, and its body read within the
        try's time (a stream's body is left unread: ``b""``)."""
        client = self.client()
        url = self.url(path)
        attempt = 0
        while True:
            limit = deadline.within(self.timeouts.attempt)
            request = self._build(client, method, path, body, limit, stream)
            headers: Mapping[str, str] | None = None
            try:
                with _until(limit.end):
                    response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                error: ProviderError = self._transport_error(exc, url)
                retry, why = self._retry_transport(exc), type(exc).__name__
                if isinstance(exc, httpx.TimeoutException) and deadline.expired():
                    error, retry = self._total_timeout(url), False
            else:
                if response.is_success:
                    if stream:
                        return response, b""
                    try:
                        return response, self._read(response, limit, deadline, url)
                    except _TryTimedOut as timed_out:
                        error, retry, why = timed_out.error, True, "per-attempt timeout"
                else:
                    error = self._error_of(response)
                    headers = response.headers
                    retry = should_retry(response.status_code, headers, error)
                    why = f"HTTP {response.status_code}"
            wait = self._retry_wait(attempt, deadline, headers) if retry else None
            if wait is None:
                raise error
            self._log_retry(method, url, why, wait, attempt)
            self._sleep(wait)
            attempt += 1

    def _read(
        self, response: httpx.Response, limit: _Deadline, deadline: _Deadline, url: str
    ) -> bytes:
        try:
            body = _Body(response, self.max_response_size)
            with _until(limit.end):
                for chunk in response.iter_raw():
                    body.add(chunk)
                    if limit.expired():
                        raise self._out_of_time(limit, deadline, url)
            return body.finish()
        except httpx.HTTPError as exc:
            raise self._read_failed(exc, deadline, url) from None
        except BodyTooLarge as exc:
            raise self._too_large(response, exc.limit) from None
        except BodyError as exc:
            raise self._undecodable(response, exc) from None
        finally:
            response.close()

    def request_json(self, method: str, path: str, body: Any = None) -> JsonResponse:
        response, content = self._send(method, path, body, False, _Deadline(self.timeouts.total))
        return self._decode(response, content)

    def get_json(self, path: str) -> JsonResponse:
        return self.request_json("GET", path)

    def post_json(self, path: str, body: Any) -> JsonResponse:
        return self.request_json("POST", path, body)

    def stream_events(
        self,
        method: str,
        path: str,
        body: Any = None,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
    ) -> Generator[SSEEvent, None, None]:
        """Server-sent events of one request, lazily: nothing is sent before the first
        ``next()``. ``on_headers`` sees the response headers (e.g. for the request id).
        Closing the iterator closes the response."""
        response, _ = self._send(method, path, body, True, _Deadline(self.timeouts.total))
        if on_headers is not None:
            on_headers(response.headers)
        url = self.url(path)
        request_id = request_id_from(response.headers)
        decoder = SSEDecoder(self.max_event_size)
        clock = _DataClock(self._keepalive_timeout())
        try:
            if _is_json(response):  # a whole JSON answer, read within the size limit
                whole = _Body(response, self.max_response_size)
                for chunk in response.iter_raw():
                    whole.add(chunk)
                yield SSEEvent(
                    data=whole.finish().decode("utf-8", "replace"), event=JSON_BODY_EVENT
                )
                return
            inflater = Inflater(response.headers.get("content-encoding"))
            for chunk in response.iter_raw():
                for piece in inflater.feed(chunk):
                    yield from self._events(decoder, clock, piece, url, request_id)
            for piece in inflater.flush():
                yield from self._events(decoder, clock, piece, url, request_id)
            yield from decoder.close()
        except httpx.HTTPError as exc:
            raise self._stream_error(exc, url, request_id) from None
        except EventTooLargeError as exc:
            raise self._event_too_large(response, exc) from None
        except BodyTooLarge as exc:
            raise self._too_large(response, exc.limit) from None
        except BodyError as exc:
            raise self._undecodable(response, exc) from None
        finally:
            response.close()

    def _keepalive_timeout(self) -> float | None:
        keepalive = self.timeouts.keepalive
        return keepalive if keepalive is not None else self._stream_read_timeout()

    def _events(
        self,
        decoder: SSEDecoder,
        clock: _DataClock,
        piece: bytes,
        url: str,
        request_id: str | None,
    ) -> list[SSEEvent]:
        events = decoder.feed(piece)
        if clock.stale(events):
            raise ProviderTimeoutError(
                f"{self.provider} at {url} sent only keep-alives for {clock.limit} s "
                "(stream keep-alive timeout)",
                provider=self.provider,
                request_id=request_id,
            )
        return events

    def _event_too_large(
        self, response: httpx.Response, exc: EventTooLargeError
    ) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"{self.provider} at {response.url} sent a stream event larger than {exc.limit} "
            "characters (max_event_size)",
            provider=self.provider,
            status=response.status_code,
            request_id=request_id_from(response.headers),
            limit=exc.limit,
        )

    # -- async -----------------------------------------------------------------------------

    async def _asend(
        self, method: str, path: str, body: Any, stream: bool, deadline: _Deadline
    ) -> tuple[httpx.Response, bytes]:
        client = self.async_client()
        url = self.url(path)
        attempt = 0
        while True:
            limit = deadline.within(self.timeouts.attempt)
            request = self._build(client, method, path, body, limit, stream)
            headers: Mapping[str, str] | None = None
            try:
                with _until(limit.end):
                    response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                error: ProviderError = self._transport_error(exc, url)
                retry, why = self._retry_transport(exc), type(exc).__name__
                if isinstance(exc, httpx.TimeoutException) and deadline.expired():
                    error, retry = self._total_timeout(url), False
            else:
                if response.is_success:
                    if stream:
                        return response, b""
                    try:
                        return response, await self._aread(response, limit, deadline, url)
                    except _TryTimedOut as timed_out:
                        error, retry, why = timed_out.error, True, "per-attempt timeout"
                else:
                    error = await self._aerror_of(response)
                    headers = response.headers
                    retry = should_retry(response.status_code, headers, error)
                    why = f"HTTP {response.status_code}"
            wait = self._retry_wait(attempt, deadline, headers) if retry else None
            if wait is None:
                raise error
            self._log_retry(method, url, why, wait, attempt)
            await self._asleep(wait)
            attempt += 1

    async def _aread(
        self, response: httpx.Response, limit: _Deadline, deadline: _Deadline, url: str
    ) -> bytes:
        try:
            body = _Body(response, self.max_response_size)
            with _until(limit.end):
                async for chunk in response.aiter_raw():
                    body.add(chunk)
                    if limit.expired():
                        raise self._out_of_time(limit, deadline, url)
            return body.finish()
        except httpx.HTTPError as exc:
            raise self._read_failed(exc, deadline, url) from None
        except BodyTooLarge as exc:
            raise self._too_large(response, exc.limit) from None
        except BodyError as exc:
            raise self._undecodable(response, exc) from None
        finally:
            await response.aclose()

    async def arequest_json(self, method: str, path: str, body: Any = None) -> JsonResponse:
        deadline = _Deadline(self.timeouts.total)
        response, content = await self._asend(method, path, body, False, deadline)
        return self._decode(response, content)

    async def aget_json(self, path: str) -> JsonResponse:
        return await self.arequest_json("GET", path)

    async def apost_json(self, path: str, body: Any) -> JsonResponse:
        return await self.arequest_json("POST", path, body)

    async def astream_events(
        self,
        method: str,
        path: str,
        body: Any = None,
        on_headers: Callable[[Mapping[str, str]], None] | None = None,
    ) -> AsyncGenerator[SSEEvent, None]:
        deadline = _Deadline(self.timeouts.total)
        response, _ = await self._asend(method, path, body, True, deadline)
        if on_headers is not None:
            on_headers(response.headers)
        url = self.url(path)
        request_id = request_id_from(response.headers)
        decoder = SSEDecoder(self.max_event_size)
        clock = _DataClock(self._keepalive_timeout())
        try:
            if _is_json(response):  # a whole JSON answer, read within the size limit
                whole = _Body(response, self.max_response_size)
                async for chunk in response.aiter_raw():
                    whole.add(chunk)
                yield SSEEvent(
                    data=whole.finish().decode("utf-8", "replace"), event=JSON_BODY_EVENT
                )
                return
            inflater = Inflater(response.headers.get("content-encoding"))
            async for chunk in response.aiter_raw():
                for piece in inflater.feed(chunk):
                    for event in self._events(decoder, clock, piece, url, request_id):
                        yield event
            for piece in inflater.flush():
                for event in self._events(decoder, clock, piece, url, request_id):
                    yield event
            for event in decoder.close():
                yield event
        except httpx.HTTPError as exc:
            raise self._stream_error(exc, url, request_id) from None
        except EventTooLargeError as exc:
            raise self._event_too_large(response, exc) from None
        except BodyTooLarge as exc:
            raise self._too_large(response, exc.limit) from None
        except BodyError as exc:
            raise self._undecodable(response, exc) from None
        finally:
            await response.aclose()


def _is_json(response: httpx.Response) -> bool:
    media = str(response.headers.get("content-type", "")).partition(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def client_for(
    provider: str,
    params: Mapping[str, Any],
    *,
    base_url: str,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    connect_hint: str = "",
) -> HttpClient:
    """An :class:`HttpClient` configured from a provider's parameters: ``timeout`` (seconds
    or a mapping of connect/read/total/idle/attempt/keepalive), ``max_retries``,
    ``retry_initial_delay``, ``retry_max_delay``, ``retry_after_max``, ``verify`` (bool or a
    CA bundle path), ``max_response_size`` (bytes) and ``max_event_size`` (characters). Each
    is checked here: a bad one is a ConfigurationError naming it."""
    base = RetryPolicy()
    retry = RetryPolicy(
        max_retries=_count(params, "max_retries", base.max_retries, minimum=0),
        initial_delay=_delay(params, "retry_initial_delay", base.initial_delay),
        max_delay=_delay(params, "retry_max_delay", base.max_delay),
        max_retry_after=_delay(params, "retry_after_max", base.max_retry_after),
    )
    verify = params.get("verify", True)
    if not isinstance(verify, (bool, str)):
        raise ConfigurationError("verify must be true, false or a CA bundle path")
    return HttpClient(
        provider=provider,
        base_url=base_url,
        headers=headers,
        secrets=secrets,
        timeouts=Timeouts.from_parameter(params.get("timeout")),
        retry=retry,
        verify=verify,
        connect_hint=connect_hint,
        max_response_size=_count(params, "max_response_size", DEFAULT_MAX_RESPONSE_SIZE),
        max_event_size=_count(params, "max_event_size", DEFAULT_MAX_EVENT_SIZE),
    )


def _count(params: Mapping[str, Any], name: str, default: int, *, minimum: int = 1) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _delay(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def is_reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether a server answers at ``url`` at all (any status), within ``timeout`` seconds,
    without retries: a cheap probe for local servers."""
    try:
        with httpx.Client(timeout=timeout, trust_env=True) as client:
            _cap_pools(client)
            with _until(time.monotonic() + timeout):
                client.get(url)
    except httpx.HTTPError:
        return False
    return True


__all__ = [
    "JSON_BODY_EVENT",
    "HttpClient",
    "JsonResponse",
    "RetryPolicy",
    "Timeouts",
    "client_for",
    "is_reachable",
    "retry_after_seconds",
    "should_retry",
]
