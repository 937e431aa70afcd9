"""OpenAI, and the OpenAI wire format that compatible servers (LM Studio) share.

``/chat/completions`` (streamed with ``stream_options.include_usage`` so the usage arrives in
the last chunk, whose ``choices`` is empty), ``/embeddings`` and ``/models``. The API key
comes from ``api_key`` or ``OPENAI_API_KEY`` and travels only in the Authorization header.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Mapping
from contextlib import aclosing, closing
from typing import Any, ClassVar

import orjson

from devsynth.application.llm.base import BaseProvider, StreamPart
from devsynth.application.llm.error_mapping import error_from_response
from devsynth.application.llm.http import HttpClient, JsonResponse, client_for
from devsynth.application.llm.secrets import Hidden
from devsynth.application.llm.sse import SSEEvent
from devsynth.domain.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    ProviderError,
    StreamInterruptedError,
)
from devsynth.domain.llm import Completion, Parameters, Usage

OPENAI_API_BASE = "https://api.openai.com/v1"

# Request fields passed through from parameters when set (``None`` means "not sent"; 0 is sent).
_BODY_FIELDS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "user",
)


class OpenAIProvider(BaseProvider):
    """OpenAI's chat completions API, sync and async, streamed or not."""

    name: ClassVar[str] = "openai"
    defaults: ClassVar[Mapping[str, Any]] = {
        "api_base": OPENAI_API_BASE,
        "model": "gpt-4o-mini",
        "embedding_model": "text-embedding-3-small",
    }
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    connect_hint: ClassVar[str] = ""

    def __init__(self, parameters: Parameters | None = None) -> None:
        super().__init__(parameters)
        key = self._parameters.get("api_key")
        if not key and self.api_key_env:
            key = os.environ.get(self.api_key_env) or None
        if not key and self.requires_key():
            raise AuthenticationError(
                f"No API key for {self.name}: set {self.api_key_env} or pass api_key",
                provider=self.name,
            )
        self._api_key: Hidden[str | None] = Hidden(str(key) if key else None)
        self._parameters.pop("api_key", None)  # kept in one private place only
        self.http: HttpClient = client_for(
            self.name,
            self._parameters,
            base_url=str(self._parameters["api_base"]),
            headers=self._auth_headers(),
            secrets=self._secrets(),
            connect_hint=self.connect_hint,
        )

    def requires_key(self) -> bool:
        """A key is required by OpenAI itself; other servers on its wire format may not."""
        return str(self._parameters.get("api_base", "")).rstrip("/") == OPENAI_API_BASE

    def _auth_headers(self) -> dict[str, str]:
        headers = {}
        if self._api_key.value:
            headers["authorization"] = f"Bearer {self._api_key.value}"
        organization = self._parameters.get("organization")
        if organization:
            headers["openai-organization"] = str(organization)
        return headers

    # -- wire format -----------------------------------------------------------------------

    def _body(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": params["model"], "messages": messages}
        for name in _BODY_FIELDS:
            if params.get(name) is not None:
                body[name] = params[name]
        return body

    def _stream_body(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **self._body(messages, params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _in_band_error(
        self, payload: Mapping[str, Any], status: int | None, rid: str | None
    ) -> ProviderError:
        error = error_from_response(self.name, status, payload, secrets=self._secrets())
        error.request_id = error.request_id or rid
        return error

    def _secrets(self) -> list[str]:
        return [self._api_key.value] if self._api_key.value else []

    def _completion(self, response: JsonResponse) -> Completion:
        data = response.data
        if not isinstance(data, Mapping):
            raise ProviderError(
                f"{self.name} sent an unexpected response",
                provider=self.name,
                status=response.status,
            )
        if data.get("error"):  # LM Studio and others report some errors with HTTP 200
            raise self._in_band_error(data, response.status, response.request_id)
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], Mapping):
            raise ProviderError(
                f"{self.name} sent no choices",
                provider=self.name,
                status=response.status,
                request_id=response.request_id,
            )
        choice = choices[0]
        message = choice.get("message") or {}
        return Completion(
            text=str(message.get("content") or ""),
            provider=self.name,
            model=data.get("model"),
            usage=_usage(data.get("usage")),
            finish_reason=choice.get("finish_reason"),
            request_id=response.request_id or data.get("id"),
        )

    # -- hooks -----------------------------------------------------------------------------

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        return self._completion(
            self.http.post_json("/chat/completions", self._body(messages, params))
        )

    async def _acomplete(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Completion:
        response = await self.http.apost_json("/chat/completions", self._body(messages, params))
        return self._completion(response)

    def _stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        state = _StreamState(self, params)
        events = self.http.stream_events(
            "POST", "/chat/completions", self._stream_body(messages, params), state.on_headers
        )
        with closing(events):
            for event in events:
                yield from state.feed(event)
                if state.done:
                    break
        yield state.finish()

    async def _astream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> AsyncGenerator[StreamPart, None]:
        state = _StreamState(self, params)
        events = self.http.astream_events(
            "POST", "/chat/completions", self._stream_body(messages, params), state.on_headers
        )
        async with aclosing(events):
            async for event in events:
                for part in state.feed(event):
                    yield part
                if state.done:
                    break
        yield state.finish()

    def _embedding_body(self, text: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"model": params.get("embedding_model") or params["model"], "input": text}

    def _embedding(self, response: JsonResponse) -> list[float]:
        data = response.data
        if isinstance(data, Mapping) and data.get("error"):
            raise self._in_band_error(data, response.status, response.request_id)
        try:
            return [float(x) for x in data["data"][0]["embedding"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderError(
                f"{self.name} sent an embedding response without an embedding ({exc!r})",
                provider=self.name,
                request_id=response.request_id,
            ) from None

    def _embed(self, text: str, params: dict[str, Any]) -> list[float]:
        return self._embedding(
            self.http.post_json("/embeddings", self._embedding_body(text, params))
        )

    async def _aembed(self, text: str, params: dict[str, Any]) -> list[float]:
        response = await self.http.apost_json("/embeddings", self._embedding_body(text, params))
        return self._embedding(response)

    def list_models(self) -> list[str]:
        """The ids the server's ``/models`` lists."""
        return _model_ids(self.http.get_json("/models").data)

    async def alist_models(self) -> list[str]:
        return _model_ids((await self.http.aget_json("/models")).data)

    def _close(self) -> None:
        self.http.close()

    async def _aclose(self) -> None:
        await self.http.aclose()


class _StreamState:
    """What a chat-completions stream has told so far; shared by the sync and async paths."""

    def __init__(self, provider: OpenAIProvider, params: dict[str, Any]) -> None:
        self.provider = provider
        self.model: str | None = params.get("model")
        self.request_id: str | None = None
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False

    def on_headers(self, headers: Mapping[str, str]) -> None:
        self.request_id = headers.get("x-request-id") or headers.get("request-id")

    def feed(self, event: SSEEvent) -> list[str]:
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError(
                f"{self.provider.name} sent a stream event that is not JSON",
                provider=self.provider.name,
                request_id=self.request_id,
            ) from None
        if not isinstance(payload, Mapping):
            return []
        if payload.get("error") or event.event == "error":
            raise self._error(payload)
        self.model = payload.get("model") or self.model
        if payload.get("usage"):
            self.usage = _usage(payload["usage"])
        texts = []
        for choice in payload.get("choices") or ():  # [] and null in the usage chunk
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                texts.append(str(content))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return texts

    def _error(self, payload: Mapping[str, Any]) -> ProviderError:
        error = self.provider._in_band_error(payload, None, self.request_id)
        if isinstance(error, ContextLengthExceededError):
            return error
        return StreamInterruptedError(
            f"The {self.provider.name} stream ended with an error: {error.message}",
            provider=self.provider.name,
            error_type=error.error_type,
            request_id=self.request_id,
        )

    def finish(self) -> Completion:
        if not self.done:
            raise StreamInterruptedError(
                f"The {self.provider.name} stream ended before [DONE]",
                provider=self.provider.name,
                request_id=self.request_id,
            )
        return Completion(
            text="",
            provider=self.provider.name,
            model=self.model,
            usage=self.usage,
            finish_reason=self.finish_reason,
            request_id=self.request_id,
        )


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, Mapping):
        return None
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )


def _model_ids(data: object) -> list[str]:
    items = data.get("data") if isinstance(data, Mapping) else None
    return [str(m["id"]) for m in items or () if isinstance(m, Mapping) and "id" in m]


__all__ = ["OPENAI_API_BASE", "OpenAIProvider"]
