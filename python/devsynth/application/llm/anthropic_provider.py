"""Anthropic's Messages API: ``/v1/messages``, its event stream and ``count_tokens``.

Chat messages in the OpenAI shape are converted on the way out: system messages become the
top-level ``system`` field, and consecutive messages of one role are merged (the API wants
user and assistant turns to alternate). ``max_tokens`` is required by the API, so it is
always sent. Anthropic has no embeddings endpoint: ``get_embedding`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from devsynth.application.llm.http import JsonResponse
from devsynth.application.llm.http_provider import HttpProvider, WireStream
from devsynth.application.llm.sse import SSEEvent
from devsynth.domain.errors import ProviderError, UnsupportedOperationError
from devsynth.domain.llm import Completion, Message, Parameters, Usage

ANTHROPIC_API_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_SYSTEM_ROLES = ("system", "developer")


def to_anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API from OpenAI-shaped chat messages."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in _SYSTEM_ROLES:
            system.append(_text_of(content))
            continue
        role = "assistant" if role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _merge(out[-1]["content"], content)
        else:
            out.append({"role": role, "content": content if content is not None else ""})
    return ("\n\n".join(system) if system else None), out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping))
    return "" if content is None else str(content)


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": _text_of(content)}]


def _merge(first: Any, second: Any) -> Any:
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    return _blocks(first) + _blocks(second)


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
        for name in ("temperature", "top_p", "top_k", "metadata", "tools", "tool_choice"):
            if params.get(name) is not None:
                body[name] = params[name]
        stop = params.get("stop_sequences", params.get("stop"))
        if stop is not None:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        return body

    def _stream_state(self, params: dict[str, Any]) -> WireStream:
        return _MessageStream(self, params)

    def _completion(self, response: JsonResponse) -> Completion:
        data = response.data
        if not isinstance(data, Mapping):
            raise ProviderError(
                "anthropic sent an unexpected response", provider=self.name, status=response.status
            )
        if data.get("type") == "error" or data.get("error"):
            raise self._in_band_error(data, response.status, response.request_id)
        text = "".join(
            str(block.get("text", ""))
            for block in data.get("content") or ()
            if isinstance(block, Mapping) and block.get("type") == "text"
        )
        return Completion(
            text=text,
            provider=self.name,
            model=data.get("model"),
            usage=_usage(data.get("usage"), None),
            finish_reason=data.get("stop_reason"),
            request_id=response.request_id or data.get("id"),
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
        return {k: v for k, v in body.items() if k in ("model", "messages", "system", "tools")}

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
    raise ProviderError(
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
    return Usage(
        prompt_tokens=_count(raw, "input_tokens", uncached_before) + read + written,
        completion_tokens=_count(raw, "output_tokens", before.completion_tokens),
        cache_read_input_tokens=read,
        cache_creation_input_tokens=written,
    )


def _count(raw: Mapping[str, Any], name: str, default: int) -> int:
    value = raw.get(name)
    return default if value is None else int(value)


class _MessageStream(WireStream):
    """The Messages API's event stream, folded into text chunks and one Completion."""

    terminator: ClassVar[str] = "message_stop"

    def handle(self, event: SSEEvent, payload: Mapping[str, Any]) -> list[str]:
        kind = payload.get("type") or event.event
        if kind == "message_start":
            message = payload.get("message") or {}
            self.model = message.get("model") or self.model
            self.message_id = message.get("id")
            self.usage = _usage(message.get("usage"), self.usage)
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return [str(block["text"])]
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [str(delta["text"])]
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            self.finish_reason = delta.get("stop_reason") or self.finish_reason
            self.usage = _usage(payload.get("usage"), self.usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise self.error(payload)
        return []  # ping, content_block_stop, and event types added later


__all__ = ["ANTHROPIC_API_BASE", "ANTHROPIC_VERSION", "AnthropicProvider", "to_anthropic_messages"]
