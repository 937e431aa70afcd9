"""Anthropic's Messages API: ``/v1/messages``, its event stream and ``count_tokens``.

Chat messages, tools, ``tool_choice`` and ``response_format`` in the OpenAI shape are
converted on the way out (:mod:`devsynth.application.llm.anthropic_format`: system messages
become the top-level ``system`` field, tool calls ``tool_use`` blocks, tool results
``tool_result`` blocks, and consecutive messages of one role are merged). ``max_tokens`` is
required by the API, so it is always sent. Extended thinking (``thinking``) comes back apart
from the text, whole or streamed. Anthropic has no embeddings endpoint: ``get_embedding``
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from devsynth.application.llm import shape
from devsynth.application.llm.anthropic_format import (
    ContentAssembler,
    to_anthropic_messages,
    to_anthropic_tool_choice,
    to_anthropic_tools,
)
from devsynth.application.llm.base import StreamPart
from devsynth.application.llm.http import JsonResponse
from devsynth.application.llm.http_provider import HttpProvider, WireStream
from devsynth.application.llm.reasoning import adapt_anthropic_body
from devsynth.application.llm.shape import ShapeError
from devsynth.application.llm.sse import SSEEvent
from devsynth.application.llm.structured import JsonRequest, json_request, parse_json_reply
from devsynth.domain.errors import (
    ConfigurationError,
    ResponseFormatError,
    UnsupportedOperationError,
)
from devsynth.domain.llm import Completion, Message, Parameters, Usage

ANTHROPIC_API_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    """Claude through the Messages API, sync and async, streamed or not."""

    name: ClassVar[str] = "anthropic"
    defaults: ClassVar[Mapping[str, Any]] = {
        "api_base": ANTHROPIC_API_BASE,
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 4096,
    }
    chat_path: ClassVar[str] = "/v1/messages"
    api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"

    def _base_url(self) -> str:
        return str(self._parameters["api_base"]).rstrip("/").removesuffix("/v1")

    def _headers(self) -> dict[str, str]:
        headers = {
            "anthropic-version": str(self._parameters.get("anthropic_version", ANTHROPIC_VERSION))
        }
        if self._api_key.value:
            headers["x-api-key"] = self._api_key.value
        return headers

    # -- wire format -----------------------------------------------------------------------

    def _body(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        system, converted = to_anthropic_messages(messages)
        body: dict[str, Any] = {
            "model": params["model"],
            "max_tokens": int(params.get("max_tokens") or self.defaults["max_tokens"]),
            "messages": converted,
        }
        if system is not None:
            body["system"] = system
        for name in ("temperature", "top_p", "top_k", "metadata", "thinking"):
            if params.get(name) is not None:
                body[name] = params[name]
        stop = params.get("stop_sequences", params.get("stop"))
        if stop is not None:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if params.get("tools"):
            body["tools"] = to_anthropic_tools(params["tools"])
        choice = to_anthropic_tool_choice(
            params.get("tool_choice"), params.get("parallel_tool_calls")
        )
        if choice is not None:
            body["tool_choice"] = choice
        wanted = json_request(params.get("response_format"))
        if wanted is not None:
            self._force_response_tool(body, wanted)
        return adapt_anthropic_body(body)

    def _force_response_tool(self, body: dict[str, Any], wanted: JsonRequest) -> None:
        """Anthropic's JSON technique: one tool whose input schema is the reply's schema, and
        ``tool_choice`` forcing it. The model cannot also call the caller's tools or think
        (forced tool use and extended thinking exclude each other), so those are errors."""
        if body.get("tools"):
            raise ConfigurationError(
                "response_format with tools is not possible on anthropic: its structured output "
                "is a forced tool call, which leaves the model no choice of other tools"
            )
        thinking = body.get("thinking")
        if isinstance(thinking, Mapping) and thinking.get("type") != "disabled":
            raise ConfigurationError(
                "response_format with extended thinking is not possible on anthropic: its "
                "structured output forces a tool call, which thinking does not allow"
            )
        body["tools"] = [wanted.as_tool()]
        body["tool_choice"] = {"type": "tool", "name": wanted.name}

    def _stream_state(self, params: dict[str, Any]) -> WireStream:
        return _MessageStream(self, params)

    def _completion(self, response: JsonResponse, params: Mapping[str, Any]) -> Completion:
        data = response.data
        if not isinstance(data, Mapping):
            raise ResponseFormatError(
                "anthropic sent a reply that is not a JSON object",
                provider=self.name,
                status=response.status,
                request_id=response.request_id,
            )
        if data.get("type") == "error" or data.get("error"):
            raise self._in_band_error(data, response.status, response.request_id)
        blocks = data.get("content")
        if not isinstance(blocks, list):  # without content there is no answer, not an empty one
            raise ShapeError("content", "a list of content blocks", blocks)
        content = _assembler(params)
        content.add_blocks(blocks)
        return _result(
            content,
            Completion(
                text="",
                provider=self.name,
                model=data.get("model"),
                usage=_usage(data.get("usage"), None),
                finish_reason=data.get("stop_reason"),
                request_id=response.request_id or data.get("id"),
            ),
        )

    def _embed(self, text: str, params: dict[str, Any]) -> list[float]:
        raise UnsupportedOperationError(
            "Anthropic offers no embeddings API; use the openai, lmstudio or offline provider "
            "for embeddings",
            provider=self.name,
        )

    async def _aembed(self, text: str, params: dict[str, Any]) -> list[float]:
        return self._embed(text, params)

    # -- token counting --------------------------------------------------------------------

    def _count_body(self, messages: list[Message], parameters: Parameters | None) -> dict[str, Any]:
        body = self._body([dict(m) for m in messages], self._params(parameters))
        counted = ("model", "messages", "system", "tools", "tool_choice", "thinking")
        return {k: v for k, v in body.items() if k in counted}

    def count_tokens(self, messages: list[Message], parameters: Parameters | None = None) -> int:
        """Input tokens of ``messages`` as Anthropic counts them (``/v1/messages/count_tokens``)."""
        response = self.http.post_json(
            "/v1/messages/count_tokens", self._count_body(messages, parameters)
        )
        return _input_tokens(response)

    async def acount_tokens(
        self, messages: list[Message], parameters: Parameters | None = None
    ) -> int:
        response = await self.http.apost_json(
            "/v1/messages/count_tokens", self._count_body(messages, parameters)
        )
        return _input_tokens(response)


def _input_tokens(response: JsonResponse) -> int:
    data = response.data
    if isinstance(data, Mapping) and isinstance(data.get("input_tokens"), int):
        return int(data["input_tokens"])
    raise ResponseFormatError(
        "anthropic sent a count_tokens response without input_tokens",
        provider="anthropic",
        request_id=response.request_id,
    )


def _usage(raw: object, previous: Usage | None) -> Usage | None:
    """``Usage`` on OpenAI's basis: the prompt counts cached tokens too. A stream's
    message_delta carries cumulative counts and may omit some: those keep their value."""
    if not isinstance(raw, Mapping):
        return previous
    before = previous or Usage()
    read = _count(raw, "cache_read_input_tokens", before.cache_read_input_tokens)
    written = _count(raw, "cache_creation_input_tokens", before.cache_creation_input_tokens)
    uncached_before = (
        before.prompt_tokens - before.cache_read_input_tokens - before.cache_creation_input_tokens
    )
    details = raw.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, Mapping) else None
    return Usage(
        prompt_tokens=_count(raw, "input_tokens", uncached_before) + read + written,
        completion_tokens=_count(raw, "output_tokens", before.completion_tokens),
        cache_read_input_tokens=read,
        cache_creation_input_tokens=written,
        reasoning_tokens=shape.count(
            thinking, "usage.output_tokens_details.thinking_tokens", before.reasoning_tokens or 0
        )
        if thinking is not None
        else before.reasoning_tokens,
    )


def _count(raw: Mapping[str, Any], name: str, default: int) -> int:
    return shape.count(raw.get(name), f"usage.{name}", default)


def _assembler(params: Mapping[str, Any]) -> ContentAssembler:
    wanted = json_request(params.get("response_format"))
    return ContentAssembler(wanted.name if wanted is not None else None)


def _result(content: ContentAssembler, completion: Completion) -> Completion:
    """``completion`` with the message's folded content; a structured reply parsed (or a
    StructuredOutputError carrying its raw text)."""
    completion = replace(
        completion,
        text=content.text,
        tool_calls=content.tool_calls,
        thinking=content.thinking,
        thinking_blocks=content.thinking_blocks,
    )
    if content.response_tool is None:
        return completion
    if content.has_parsed:
        return replace(completion, parsed=content.parsed)
    # The forced tool's input did not parse (or never came): report it with the raw text.
    parsed = parse_json_reply(
        completion.text,
        provider=completion.provider,
        finish_reason=completion.finish_reason,
        request_id=completion.request_id,
    )
    return replace(completion, parsed=parsed)


class _MessageStream(WireStream):
    """The Messages API's event stream, folded into text chunks, thinking and tool-call
    fragments, and one Completion."""

    terminator: ClassVar[str] = "message_stop"

    def __init__(self, provider: HttpProvider, params: Mapping[str, Any]) -> None:
        super().__init__(provider, params)
        self.content = _assembler(params)

    def handle(self, event: SSEEvent, payload: Mapping[str, Any]) -> list[StreamPart]:
        kind = payload.get("type") or event.event
        index = payload.get("index")
        index = index if isinstance(index, int) else 0  # lenient with servers that omit it
        if kind == "message_start":
            message = payload.get("message") or {}
            self.model = message.get("model") or self.model
            self.message_id = message.get("id")
            self.usage = _usage(message.get("usage"), self.usage)
        elif kind == "content_block_start":
            parts: list[StreamPart] = self.content.start(index, payload.get("content_block") or {})
            return parts
        elif kind == "content_block_delta":
            parts = self.content.delta(index, payload.get("delta") or {})
            return parts
        elif kind == "content_block_stop":
            self.content.stop(index)
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            self.finish_reason = delta.get("stop_reason") or self.finish_reason
            self.usage = _usage(payload.get("usage"), self.usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise self.error(payload)
        return []  # ping, and event types added later

    def finish(self) -> Completion:
        return _result(self.content, super().finish())


__all__ = ["ANTHROPIC_API_BASE", "ANTHROPIC_VERSION", "AnthropicProvider", "to_anthropic_messages"]
