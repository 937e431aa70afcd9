"""OpenAI's chat-completions shapes (shared by LM Studio and other compatible servers), read
into the package's result: text, tool calls, reasoning text, usage with reasoning tokens.

Whole replies go through :func:`message_parts`; streamed ones through :class:`DeltaAssembler`,
which rebuilds tool calls from ``tool_calls[i].function.arguments`` fragments (several calls
at once, text between them) and keeps the reasoning text some servers stream
(``reasoning_content`` in DeepSeek's and vLLM's dialect, ``reasoning`` in LM Studio's and
OpenRouter's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from devsynth.application.llm import shape
from devsynth.application.llm.tools import ToolCallAssembler, tool_call
from devsynth.domain.llm import ThinkingDelta, ToolCall, Usage

_REASONING_FIELDS = ("reasoning_content", "reasoning")


@dataclass(frozen=True)
class MessageParts:
    text: str
    tool_calls: tuple[ToolCall, ...]
    thinking: str | None
    refusal: str | None


def _reasoning(source: Mapping[str, Any]) -> str | None:
    for name in _REASONING_FIELDS:
        value = source.get(name)
        if isinstance(value, str):
            return value
    return None


def message_parts(message: object) -> MessageParts:
    """The parts of a whole reply's ``choices[0].message``."""
    message = shape.mapping(message, "choices[0].message")
    calls = []
    for i, raw in enumerate(message.get("tool_calls") or ()):
        if not isinstance(raw, Mapping):
            continue
        function = raw.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # a server that sent an object, or nothing
            arguments = "" if arguments is None else _dumps(arguments)
        calls.append(
            tool_call(str(raw.get("id") or f"call_{i}"), str(function.get("name") or ""), arguments)
        )
    refusal = message.get("refusal")
    return MessageParts(
        text=shape.text(message.get("content"), "choices[0].message.content"),
        tool_calls=tuple(calls),
        thinking=_reasoning(message),
        refusal=str(refusal) if refusal else None,
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def usage_of(raw: object) -> Usage | None:
    """``usage``, with the cached prompt tokens and the reasoning tokens when reported."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    prompt_details = raw.get("prompt_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, Mapping) else None
    return Usage(
        prompt_tokens=shape.count(raw.get("prompt_tokens"), "usage.prompt_tokens"),
        completion_tokens=shape.count(raw.get("completion_tokens"), "usage.completion_tokens"),
        cache_read_input_tokens=shape.count(cached, "usage.prompt_tokens_details.cached_tokens"),
        reasoning_tokens=shape.optional_count(
            reasoning, "usage.completion_tokens_details.reasoning_tokens"
        ),
    )


class DeltaAssembler:
    """The ``choices[0].delta`` objects of a stream, folded into text chunks, events and,
    at the end, tool calls, reasoning text and refusal."""

    def __init__(self) -> None:
        self.calls = ToolCallAssembler()
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.refusal: list[str] = []

    def feed(self, delta: Mapping[str, Any]) -> list[Any]:
        parts: list[Any] = []
        thinking = _reasoning(delta)
        if thinking:
            self.thinking.append(thinking)
            parts.append(ThinkingDelta(thinking))
        content = shape.text(delta.get("content"), "choices[].delta.content")
        if content:
            self.text.append(content)
            parts.append(content)
        if delta.get("refusal"):
            self.refusal.append(str(delta["refusal"]))
        for fragment in delta.get("tool_calls") or ():
            if isinstance(fragment, Mapping):
                parts.append(self._call_fragment(fragment))
        return parts

    def _call_fragment(self, fragment: Mapping[str, Any]) -> Any:
        function = fragment.get("function") or {}
        key = fragment.get("index")
        if key is None:
            # Servers that omit the index: a new id starts a call, else the last one goes on.
            key = fragment.get("id") if fragment.get("id") else self.calls.last_key()
        return self.calls.add(
            key,
            call_id=fragment.get("id"),
            name=function.get("name"),
            arguments=str(function.get("arguments") or ""),
        )

    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.calls.calls()

    def thinking_text(self) -> str | None:
        return "".join(self.thinking) if self.thinking else None

    def refusal_text(self) -> str | None:
        return "".join(self.refusal) if self.refusal else None


__all__ = ["DeltaAssembler", "MessageParts", "message_parts", "usage_of"]
