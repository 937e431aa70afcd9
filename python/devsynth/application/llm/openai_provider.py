"""OpenAI, and the OpenAI wire format that compatible servers (LM Studio) share.

``/chat/completions`` (streamed with ``stream_options.include_usage`` so the usage arrives in
the last chunk, whose ``choices`` is empty), ``/embeddings`` and ``/models``. The API key
comes from ``api_key`` or ``OPENAI_API_KEY`` and travels only in the Authorization header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from devsynth.application.llm.base import StreamPart
from devsynth.application.llm.http import JsonResponse
from devsynth.application.llm.http_provider import HttpProvider, WireStream
from devsynth.application.llm.openai_format import DeltaAssembler, message_parts, usage_of
from devsynth.application.llm.reasoning import adapt_openai_body
from devsynth.application.llm.sse import SSEEvent
from devsynth.application.llm.structured import json_request, parse_json_reply
from devsynth.domain.errors import ResponseFormatError
from devsynth.domain.llm import Completion

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
    "parallel_tool_calls",
    "reasoning_effort",
    "user",
)


class OpenAIProvider(HttpProvider):
    """OpenAI's chat completions API, sync and async, streamed or not."""

    name: ClassVar[str] = "openai"
    defaults: ClassVar[Mapping[str, Any]] = {
        "api_base": OPENAI_API_BASE,
        "model": "gpt-4o-mini",
        "embedding_model": "text-embedding-3-small",
    }
    chat_path: ClassVar[str] = "/chat/completions"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    # OpenAI's reasoning models want max_completion_tokens and no sampling parameters; other
    # servers on the wire format decide for themselves.
    adapts_reasoning_models: ClassVar[bool] = True

    def _headers(self) -> dict[str, str]:
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
        return adapt_openai_body(body) if self.adapts_reasoning_models else body

    def _stream_body(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **self._body(messages, params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _stream_state(self, params: dict[str, Any]) -> WireStream:
        return _ChatStream(self, params)

    def _completion(self, response: JsonResponse, params: Mapping[str, Any]) -> Completion:
        data = response.data
        if not isinstance(data, Mapping):
            raise ResponseFormatError(
                f"{self.name} sent a reply that is not a JSON object",
                provider=self.name,
                status=response.status,
                request_id=response.request_id,
            )
        if data.get("error"):  # LM Studio and others report some errors with HTTP 200
            raise self._in_band_error(data, response.status, response.request_id)
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], Mapping):
            raise ResponseFormatError(
                f"{self.name} sent no choices",
                provider=self.name,
                status=response.status,
                request_id=response.request_id,
            )
        choice = choices[0]
        parts = message_parts(choice.get("message"))
        completion = Completion(
            text=parts.text,
            provider=self.name,
            model=data.get("model"),
            usage=usage_of(data.get("usage")),
            finish_reason=choice.get("finish_reason"),
            request_id=response.request_id or data.get("id"),
            tool_calls=parts.tool_calls,
            thinking=parts.thinking,
        )
        return self._structured(completion, params, parts.refusal)

    def _structured(
        self, completion: Completion, params: Mapping[str, Any], refusal: str | None
    ) -> Completion:
        """``completion`` with ``parsed`` set when the call asked for JSON."""
        if json_request(params.get("response_format")) is None:
            return completion
        if completion.tool_calls:  # the model called a tool instead of answering
            return completion
        parsed = parse_json_reply(
            completion.text,
            provider=self.name,
            finish_reason=completion.finish_reason,
            refusal=refusal,
            request_id=completion.request_id,
        )
        return replace(completion, parsed=parsed)

    # -- embeddings and models -------------------------------------------------------------

    def _embedding_body(self, text: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"model": params.get("embedding_model") or params["model"], "input": text}

    def _embedding(self, response: JsonResponse) -> list[float]:
        data = response.data
        if isinstance(data, Mapping) and data.get("error"):
            raise self._in_band_error(data, response.status, response.request_id)
        try:
            return [float(x) for x in data["data"][0]["embedding"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise ResponseFormatError(
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


class _ChatStream(WireStream):
    """A chat-completions stream: ``choices[].delta`` chunks, then usage, then ``[DONE]``."""

    terminator: ClassVar[str] = "[DONE]"
    provider: OpenAIProvider

    def __init__(self, provider: OpenAIProvider, params: Mapping[str, Any]) -> None:
        super().__init__(provider, params)
        self.deltas = DeltaAssembler()

    def feed(self, event: SSEEvent) -> list[StreamPart]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        return super().feed(event)

    def complete(self) -> bool:
        # Some servers (older llama.cpp builds) end a finished stream without [DONE]: a
        # finish reason followed by a clean end of the body is a whole answer.
        return self.done or self.finish_reason is not None

    def handle(self, event: SSEEvent, payload: Mapping[str, Any]) -> list[StreamPart]:
        if payload.get("error") or event.event == "error":
            raise self.error(payload)
        self.model = payload.get("model") or self.model
        if payload.get("usage"):
            self.usage = usage_of(payload["usage"])
        parts: list[StreamPart] = []
        for choice in payload.get("choices") or ():  # [] and null in the usage chunk
            parts += self.deltas.feed(choice.get("delta") or {})
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return parts

    def finish(self) -> Completion:
        if self.answer is not None:  # a whole reply, already read
            return super().finish()
        completion = replace(
            super().finish(),
            text="".join(self.deltas.text),
            tool_calls=self.deltas.tool_calls(),
            thinking=self.deltas.thinking_text(),
        )
        return self.provider._structured(completion, self.params, self.deltas.refusal_text())


def _model_ids(data: object) -> list[str]:
    items = data.get("data") if isinstance(data, Mapping) else None
    return [str(m["id"]) for m in items or () if isinstance(m, Mapping) and "id" in m]


__all__ = ["OPENAI_API_BASE", "OpenAIProvider"]
