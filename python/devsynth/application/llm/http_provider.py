"""HttpProvider: what every provider that talks to an HTTP API shares, whatever its wire format.

It owns the API key (hidden, never in ``parameters``), the :class:`HttpClient`, the request
and stream loops of the :class:`~devsynth.application.llm.base.BaseProvider` hooks and
closing. A wire format (OpenAI's chat completions, Anthropic's Messages API) fills in:

=======================  ===========================================================
``chat_path``            where completions are requested (``/chat/completions``)
``_body``                the request body for a list of chat messages
``_stream_body``         the same, asking for a stream (default: ``"stream": true``)
``_completion``          a decoded response (and the call's parameters) -> :class:`Completion`
``_stream_state``        a :class:`WireStream` that folds the stream's events
``_headers``             the headers that carry the key and API version
``_base_url``            the client's base URL (default: ``api_base``)
``requires_key``         whether a missing key is an error (default: unless the
                         server is local, see :func:`is_local_url`)
``_can_recover``         whether a failed request is worth one more try, with the
/ ``_recover``           parameters ``_recover`` settles (default: never)
=======================  ===========================================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping
from contextlib import aclosing, closing, contextmanager
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from devsynth.application.llm.base import BaseProvider, StreamPart
from devsynth.application.llm.error_mapping import error_from_response, request_id_from
from devsynth.application.llm.http import JSON_BODY_EVENT, HttpClient, JsonResponse, client_for
from devsynth.application.llm.parameters import check_parameters, check_url
from devsynth.application.llm.secrets import Hidden, api_key, redact
from devsynth.application.llm.shape import ShapeError
from devsynth.application.llm.sse import SSEEvent
from devsynth.domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    DevSynthError,
    ProviderError,
    ResponseFormatError,
    StreamInterruptedError,
)
from devsynth.domain.llm import Completion, Parameters, Usage

# Names that only resolve inside a machine, a LAN or a container network.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier NAT, Tailscale


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine or a private network: loopback, private and
    link-local addresses (and 100.64.0.0/10), ``localhost``, names under ``.localhost``,
    ``.local``, ``.internal``, ``.lan`` or ``.home.arpa``, and single-label names (a
    container's service name). Local servers (vLLM, Ollama, llama.cpp) need no API key."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address in _SHARED_ADDRESS_SPACE
    )


class HttpProvider(BaseProvider):
    """A provider behind an HTTP API; subclasses supply the wire format (see the module)."""

    chat_path: ClassVar[str] = "/chat/completions"
    api_key_env: ClassVar[str | None] = None
    connect_hint: ClassVar[str] = ""

    def __init__(self, parameters: Parameters | None = None) -> None:
        super().__init__(parameters)
        check_url(self._parameters.get("api_base"))
        check_parameters(self._parameters)
        # Cleaned where it enters and held hidden from the first line: no local variable of
        # this frame ever holds the key (tracebacks with locals show them).
        self._api_key: Hidden[str | None] = api_key(
            self._parameters.pop("api_key", None), source="api_key"
        )
        if self._api_key.value is None and self.api_key_env:
            self._api_key = api_key(os.environ.get(self.api_key_env), source=self.api_key_env)
        if self._api_key.value is None and self.requires_key():
            raise AuthenticationError(
                f"No API key for {self.name} at {urlsplit(self._base_url()).hostname}: set "
                f"{self.api_key_env} or pass api_key (a server on localhost or a private "
                "address needs none)",
                provider=self.name,
            )
        self.http: HttpClient = client_for(
            self.name,
            self._parameters,
            base_url=self._base_url(),
            headers=self._headers(),
            secrets=self._secrets(),
            connect_hint=self.connect_hint,
        )

    def _params(self, overrides: Parameters | None) -> dict[str, Any]:
        params = super()._params(overrides)
        if overrides:  # a call's own values, checked as the configured ones were
            check_parameters(params)
        return params

    # -- what a wire format provides --------------------------------------------------------

    def requires_key(self) -> bool:
        """Whether a missing key is an error at creation: for any server but a local one
        (loopback, a private or link-local address, a single-label or ``.local`` name)."""
        return not is_local_url(self._base_url())

    def _base_url(self) -> str:
        return str(self._parameters["api_base"])

    def _headers(self) -> dict[str, str]:
        return {}

    def _body(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _body")

    def _stream_body(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        return {**self._body(messages, params), "stream": True}

    def _completion(self, response: JsonResponse, params: Mapping[str, Any]) -> Completion:
        raise NotImplementedError(f"{type(self).__name__} must implement _completion")

    def _stream_state(self, params: dict[str, Any]) -> WireStream:
        raise NotImplementedError(f"{type(self).__name__} must implement _stream_state")

    # -- shared ----------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        return [self._api_key.value] if self._api_key.value else []

    def _in_band_error(
        self, payload: Mapping[str, Any], status: int | None, rid: str | None
    ) -> ProviderError:
        """The exception for an error object inside a 200 reply or a stream event."""
        error = error_from_response(self.name, status, payload, secrets=self._secrets())
        error.request_id = error.request_id or rid
        return error

    # -- recovery: one more try with other parameters (LM Studio: the model went away) -------

    def _can_recover(self, exc: ProviderError, params: Mapping[str, Any]) -> bool:
        """Whether ``exc`` is worth one more try with :meth:`_recover`'s parameters."""
        return False

    def _recover(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    async def _arecover(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._recover(params)

    # -- hooks -----------------------------------------------------------------------------

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        try:
            return self._complete_once(messages, params)
        except ProviderError as exc:
            if not self._can_recover(exc, params):
                raise
        return self._complete_once(messages, self._recover(params))

    async def _acomplete(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Completion:
        try:
            return await self._acomplete_once(messages, params)
        except ProviderError as exc:
            if not self._can_recover(exc, params):
                raise
        return await self._acomplete_once(messages, await self._arecover(params))

    def _stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        started = False
        try:
            with closing(self._stream_once(messages, params)) as parts:
                for part in parts:
                    started = True
                    yield part
            return
        except ProviderError as exc:
            if started or not self._can_recover(exc, params):
                raise
        yield from self._stream_once(messages, self._recover(params))

    async def _astream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncGenerator[StreamPart, None]:
        started = False
        try:
            async with aclosing(self._astream_once(messages, params)) as parts:
                async for part in parts:
                    started = True
                    yield part
            return
        except ProviderError as exc:
            if started or not self._can_recover(exc, params):
                raise
        again = self._astream_once(messages, await self._arecover(params))
        async with aclosing(again):
            async for part in again:
                yield part

    # -- one request -----------------------------------------------------------------------

    @contextmanager
    def _reading(self, request_id: str | None, status: int | None = 200) -> Iterator[None]:
        """Reading a reply: one of the wrong shape becomes a ResponseFormatError, whichever
        field a wire format tripped over (a typed error that fallback chains move on from,
        not an AttributeError from deep inside a parser)."""
        try:
            yield
        except DevSynthError:
            raise
        except ShapeError as exc:
            raise ResponseFormatError(
                f"{self.name} sent a reply of the wrong shape: {exc}",
                provider=self.name,
                status=status,
                request_id=request_id,
            ) from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets())[:200]
            raise ResponseFormatError(
                f"{self.name} sent a reply of the wrong shape ({detail})",
                provider=self.name,
                status=status,
                request_id=request_id,
            ) from None

    def _complete_once(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        response = self.http.post_json(self.chat_path, self._body(messages, params))
        with self._reading(response.request_id, response.status):
            return self._completion(response, params)

    async def _acomplete_once(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Completion:
        response = await self.http.apost_json(self.chat_path, self._body(messages, params))
        with self._reading(response.request_id, response.status):
            return self._completion(response, params)

    def _stream_once(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        state = self._stream_state(params)
        events = self.http.stream_events(
            "POST", self.chat_path, self._stream_body(messages, params), state.on_headers
        )
        with closing(events):
            for event in events:
                yield from state.feed(event)
                if state.done:
                    break
        with self._reading(state.request_id):
            final = state.finish()
        yield final

    async def _astream_once(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncGenerator[StreamPart, None]:
        state = self._stream_state(params)
        events = self.http.astream_events(
            "POST", self.chat_path, self._stream_body(messages, params), state.on_headers
        )
        async with aclosing(events):
            async for event in events:
                for part in state.feed(event):
                    yield part
                if state.done:
                    break
        with self._reading(state.request_id):
            final = state.finish()
        yield final

    def _close(self) -> None:
        self.http.close()

    async def _aclose(self) -> None:
        await self.http.aclose()


class WireStream:
    """What one streamed response has told so far; shared by the sync and async loops.

    A wire format implements :meth:`handle` (one decoded event -> text chunks and thinking
    or tool-call fragments, updating ``model``, ``usage``, ``finish_reason`` and ``done``)
    and names its ``terminator``.
    """

    terminator: ClassVar[str] = "its end"

    def __init__(self, provider: HttpProvider, params: Mapping[str, Any]) -> None:
        self.provider = provider
        self.params = params
        self.model: str | None = params.get("model")
        self.request_id: str | None = None
        self.message_id: str | None = None  # the body's id, when the headers carry none
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.answer: Completion | None = None  # a whole reply instead of a stream
        self.done = False

    @property
    def name(self) -> str:
        return self.provider.name

    def on_headers(self, headers: Mapping[str, str]) -> None:
        self.request_id = request_id_from(headers)

    def feed(self, event: SSEEvent) -> list[StreamPart]:
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError(
                f"{self.name} sent a stream event that is not JSON",
                provider=self.name,
                request_id=self.request_id,
            ) from None
        with self.provider._reading(self.request_id):
            if event.event == JSON_BODY_EVENT:
                return self.whole(payload)
            if not isinstance(payload, Mapping):
                return []
            return self.handle(event, payload)

    def whole(self, payload: Any) -> list[StreamPart]:
        """A plain JSON answer to the stream request: an error inside a 200 is raised as the
        provider's error, a whole completion (a server that does not stream) is one chunk,
        and it is the stream's result (tool calls, thinking and all)."""
        response = JsonResponse(data=payload, status=200, headers={}, request_id=self.request_id)
        completion = self.provider._completion(response, self.params)
        self.answer = completion
        self.model = completion.model or self.model
        self.usage = completion.usage
        self.finish_reason = completion.finish_reason
        self.message_id = completion.request_id
        self.done = True
        return [completion.text] if completion.text else []

    def handle(self, event: SSEEvent, payload: Mapping[str, Any]) -> list[StreamPart]:
        raise NotImplementedError(f"{type(self).__name__} must implement handle")

    def error(self, payload: Mapping[str, Any]) -> ProviderError:
        """The exception for an error event: a context overflow stays what it is (the caller
        can shorten the prompt); anything else interrupted the stream."""
        error = self.provider._in_band_error(payload, None, self.request_id)
        if isinstance(error, ContextLengthExceededError):
            return error
        return StreamInterruptedError(
            f"The {self.name} stream ended with an error: {error.message}",
            provider=self.name,
            error_type=error.error_type,
            request_id=self.request_id,
        )

    def complete(self) -> bool:
        """Whether the stream, having ended cleanly, said all it had to say."""
        return self.done

    def finish(self) -> Completion:
        if not self.complete():
            raise StreamInterruptedError(
                f"The {self.name} stream ended before {self.terminator}",
                provider=self.name,
                request_id=self.request_id,
            )
        if self.answer is not None:
            return replace(self.answer, request_id=self.request_id or self.answer.request_id)
        return Completion(
            text="",
            provider=self.name,
            model=self.model,
            usage=self.usage,
            finish_reason=self.finish_reason,
            request_id=self.request_id or self.message_id,
        )


__all__ = ["HttpProvider", "WireStream", "is_local_url"]
