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
  their waits included); a stream is bounded by an idle timeout between chunks instead of the
  total, so a long answer is not cut but a stalled one fails. An optional per-attempt bound
  (the SDKs' meaning of ``timeout``) limits each try, and a try that runs out is retried;
- maps failures to :mod:`devsynth.errors`, with the API key scrubbed from every message;
- closes a stream's response however the stream ends (exhausted, failed or closed early), so
  its connection goes back to the pool.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from devsynth import __version__
from devsynth.application.llm.error_mapping import error_from_response, request_id_from
from devsynth.application.llm.secrets import Hidden, redact
from devsynth.application.llm.secrets import register as register_secrets
from devsynth.application.llm.sse import SSEDecoder, SSEEvent
from devsynth.domain.errors import (
    ConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    StreamInterruptedError,
)

logger = logging.getLogger("devsynth.llm.http")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 529})
MAX_ERROR_BODY = 64 * 1024  # bytes of an error response read for its message
# The event name under which a stream request's plain JSON answer is passed on whole: some
# servers answer with one JSON document (an error inside a 200, or a completion when they
# do not stream). No real event stream names an event like a media type.
JSON_BODY_EVENT = "application/json"
_USER_AGENT = f"devsynth-llm/{__version__}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds; ``None`` waits forever. ``idle`` bounds the gap between stream chunks.

    ``total`` is the budget of the whole call, retries and their waits included. ``attempt``
    bounds each try instead (or as well): what the official SDKs call ``timeout``. A try that
    runs out of its ``attempt`` time is retried like a failed connection.
    """

    connect: float | None = 10.0
    read: float | None = 120.0
    total: float | None = 600.0
    idle: float | None = 120.0
    attempt: float | None = None

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
            seconds = float(value)
            if seconds <= 0:
                raise ConfigurationError("timeout must be positive")
            return cls(connect=min(seconds, 10.0), read=seconds, total=seconds, idle=seconds)
        if isinstance(value, Mapping):
            unknown = set(value) - {"connect", "read", "total", "idle", "attempt"}
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
            )
        raise ConfigurationError("timeout must be a number of seconds or a mapping")


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ConfigurationError(f"a timeout must be a positive number of seconds, not {value!r}")


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
        hinted = retry_after_seconds(headers)
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        return self.backoff(attempt)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a server asked for: ``retry-after-ms``, else ``Retry-After`` in seconds or as
    an HTTP date. ``None`` when absent or unreadable; never negative."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
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


class HttpClient:
    """Pooled JSON and SSE requests against one base URL, for one provider.

    ``headers`` go with every request (put the API key there); ``secrets`` lists the values
    that must never appear in an error message. ``connect_hint`` is added to the message of a
    connection failure (e.g. how to start the local server). ``sleep``/``asleep`` are the waits
    between retries (tests pass recorders).
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
        self._verify = verify
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

    def _ssl(self) -> ssl.SSLContext | bool:
        if isinstance(self._verify, str):  # a CA bundle path
            return ssl.create_default_context(cafile=self._verify)
        return self._verify

    def _httpx_timeout(self) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                headers=self._headers.value,
                verify=self._ssl(),
                trust_env=True,
                limits=self._limits,
                timeout=self._httpx_timeout(),
            )
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
                verify=self._ssl(),
                trust_env=True,
                limits=self._limits,
                timeout=self._httpx_timeout(),
            )
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
        headers = {"accept": "text/event-stream" if stream else "application/json"}
        content = None
        if body is not None:
            content = orjson.dumps(body)
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
        hint = f". {self.connect_hint}" if self.connect_hint else ""
        return ProviderConnectionError(
            self._message(f"Cannot reach {self.provider} at {url}: {exc}{hint}"),
            provider=self.provider,
        )

    # An error status's body is read here, in a frame that is gone by the time the error is
    # raised: a body that echoes the key never sits in a traceback's locals. Only its first
    # MAX_ERROR_BODY bytes are read; an error message needs no more.
    def _error_of(self, response: httpx.Response) -> ProviderError:
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass
        finally:
            response.close()
        return self._status_error(response, bytes(body[:MAX_ERROR_BODY]))

    async def _aerror_of(self, response: httpx.Response) -> ProviderError:
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_ERROR_BODY:
                    break
        except httpx.HTTPError:
            pass
        finally:
            await response.aclose()
        return self._status_error(response, bytes(body[:MAX_ERROR_BODY]))

    def _status_error(self, response: httpx.Response, body: bytes) -> ProviderError:
        return error_from_response(
            self.provider,
            response.status_code,
            body,
            response.headers,
            secrets=self._secrets.value,
            retry_after=retry_after_seconds(response.headers),
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
            raise ProviderError(
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
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                error: ProviderError = self._transport_error(exc, url)
                retry, why = self._retry_transport(exc), type(exc).__name__
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
        chunks: list[bytes] = []
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if limit.expired():
                    raise self._out_of_time(limit, deadline, url)
        except httpx.HTTPError as exc:
            raise self._read_failed(exc, deadline, url) from None
        finally:
            response.close()
        return b"".join(chunks)

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
        decoder = SSEDecoder()
        try:
            if _is_json(response):
                yield SSEEvent(
                    data=response.read().decode("utf-8", "replace"), event=JSON_BODY_EVENT
                )
                return
            for chunk in response.iter_bytes():
                yield from decoder.feed(chunk)
            yield from decoder.close()
        except httpx.HTTPError as exc:
            raise self._stream_error(exc, url, request_id) from None
        finally:
            response.close()

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
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                error: ProviderError = self._transport_error(exc, url)
                retry, why = self._retry_transport(exc), type(exc).__name__
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
        chunks: list[bytes] = []
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                if limit.expired():
                    raise self._out_of_time(limit, deadline, url)
        except httpx.HTTPError as exc:
            raise self._read_failed(exc, deadline, url) from None
        finally:
            await response.aclose()
        return b"".join(chunks)

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
        decoder = SSEDecoder()
        try:
            if _is_json(response):
                body = await response.aread()
                yield SSEEvent(data=body.decode("utf-8", "replace"), event=JSON_BODY_EVENT)
                return
            async for chunk in response.aiter_bytes():
                for event in decoder.feed(chunk):
                    yield event
            for event in decoder.close():
                yield event
        except httpx.HTTPError as exc:
            raise self._stream_error(exc, url, request_id) from None
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
    or a mapping of connect/read/total/idle), ``max_retries``, ``retry_initial_delay``,
    ``retry_max_delay``, ``retry_after_max`` and ``verify`` (bool or a CA bundle path)."""
    base = RetryPolicy()
    max_retries = params.get("max_retries", base.max_retries)
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise ConfigurationError("max_retries must be a non-negative integer")
    retry = RetryPolicy(
        max_retries=max_retries,
        initial_delay=float(params.get("retry_initial_delay", base.initial_delay)),
        max_delay=float(params.get("retry_max_delay", base.max_delay)),
        max_retry_after=float(params.get("retry_after_max", base.max_retry_after)),
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
    )


def is_reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether a server answers at ``url`` at all (any status), within ``timeout`` seconds,
    without retries: a cheap probe for local servers."""
    try:
        with httpx.Client(timeout=timeout, trust_env=True) as client:
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
