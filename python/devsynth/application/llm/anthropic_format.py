"""Anthropic's Messages API shapes, to and from the one shape the package speaks (OpenAI's).

Out (:func:`to_anthropic_messages`, :func:`to_anthropic_tools`, :func:`to_anthropic_tool_choice`):

- system and developer messages become the top-level ``system``;
- an assistant message's ``thinking_blocks`` go first, intact (the API checks their
  signatures), then its text, then one ``tool_use`` block per ``tool_calls`` entry;
- ``{"role": "tool", "tool_call_id", "content"}`` becomes a ``tool_result`` block in a user turn;
- consecutive turns of one role merge (the API wants user and assistant to alternate), so
  the results of parallel calls share one user turn, as the API requires.

Back (:class:`ContentAssembler`): content blocks, whole or streamed, become the text, the
thinking (text and intact blocks), the tool calls, and the structured reply when the request
used the forced-tool technique of :mod:`devsynth.application.llm.structured`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from devsynth.application.llm.tools import (
    ToolCallAssembler,
    arguments_object,
    tool_call_from_object,
)
from devsynth.domain.errors import ConfigurationError
from devsynth.domain.llm import ThinkingDelta, ToolCall

_THINKING_TYPES = ("thinking", "redacted_thinking")


def to_anthropic_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API from OpenAI-shaped chat messages."""
    from devsynth.tokens.chat import is_system_message, is_tool_result  # the core, on first use

    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if is_system_message(message):
            system.append(_text_of(message.get("content")))
            continue
        content: Any
        if is_tool_result(message):
            role, content = "user", [_tool_result(message)]
        elif role == "assistant":
            content = _assistant_content(message)
        else:
            role, content = "user", message.get("content")
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _merge(out[-1]["content"], content)
        else:
            out.append({"role": role, "content": content if content is not None else ""})
    return ("\n\n".join(system) if system else None), out


def _assistant_content(message: Mapping[str, Any]) -> Any:
    content = message.get("content")
    calls = message.get("tool_calls") or ()
    thinking = message.get("thinking_blocks") or ()
    if not calls and not thinking:
        return content if content is not None else ""
    blocks: list[Any] = [dict(block) for block in thinking]
    if content:
        blocks += _blocks(content)
    for call in calls:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments_object(call),
            }
        )
    return blocks


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise ConfigurationError('a "tool" message needs the "tool_call_id" of the call it answers')
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        block["content"] = content  # text (and image) parts have the same shape in both APIs
    elif content is not None:
        block["content"] = content if isinstance(content, str) else _json(content)
    if message.get("is_error"):
        block["is_error"] = True
    return block


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


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


def to_anthropic_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function tools as Anthropic tools; Anthropic's own tool types pass unchanged."""
    out = []
    for tool in tools:
        if tool.get("type", "function") != "function":
            out.append(dict(tool))
            continue
        function = tool["function"]
        converted: dict[str, Any] = {
            "name": function["name"],
            "input_schema": dict(function.get("parameters") or {"type": "object"}),
        }
        if function.get("description"):
            converted["description"] = function["description"]
        if function.get("strict") is not None:
            converted["strict"] = bool(function["strict"])
        out.append(converted)
    return out


def to_anthropic_tool_choice(choice: Any, parallel: bool | None = None) -> dict[str, Any] | None:
    """OpenAI's ``tool_choice`` ("auto", "required", "none" or a named function) in
    Anthropic's shape; ``parallel=False`` (``parallel_tool_calls``) forbids parallel calls."""
    converted: dict[str, Any]
    if choice is None:
        if parallel is not False:
            return None
        converted = {"type": "auto"}
    elif choice in ("auto", "none"):
        converted = {"type": choice}
    elif choice == "required":
        converted = {"type": "any"}
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        converted = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    elif isinstance(choice, Mapping) and choice.get("type") in ("auto", "any", "tool", "none"):
        converted = dict(choice)  # already Anthropic's shape
    else:
        raise ConfigurationError(
            f"tool_choice {choice!r} is not known: use 'auto', 'required', 'none' or "
            '{"type": "function", "function": {"name": ...}}'
        )
    if parallel is False and converted["type"] != "none":
        converted["disable_parallel_tool_use"] = True
    return converted


class ContentAssembler:
    """A message's content blocks, whole or streamed, folded into the package's shape.

    ``response_tool`` names the forced tool of a structured-output request: its input is the
    reply (its JSON is the text, streamed as text), not a tool call.
    """

    def __init__(self, response_tool: str | None = None) -> None:
        self.response_tool = response_tool
        self._text: list[str] = []
        self._blocks: dict[int, dict[str, Any]] = {}  # thinking blocks, by content index
        self._calls = ToolCallAssembler()
        self._whole_calls: list[ToolCall] = []
        self._response_index: int | None = None
        self._response_json: list[str] = []
        self.parsed: Any = None
        self.has_parsed = False

    # -- whole messages --------------------------------------------------------------------

    def add_blocks(self, content: Sequence[Any]) -> None:
        for index, block in enumerate(content):
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind == "text":
                self._text.append(str(block.get("text", "")))
            elif kind in _THINKING_TYPES:
                self._blocks[index] = dict(block)
            elif kind == "tool_use" and block.get("name") == self.response_tool:
                self.parsed = block.get("input")
                self.has_parsed = True
                self._text.append(_json(self.parsed))
            elif kind == "tool_use":
                self._whole_calls.append(
                    tool_call_from_object(
                        str(block.get("id", "")), str(block.get("name", "")), block.get("input")
                    )
                )

    # -- streamed events -------------------------------------------------------------------

    def start(self, index: int, block: Mapping[str, Any]) -> list[Any]:
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text") or "")
            self._text.append(text)
            return [text] if text else []
        if kind in _THINKING_TYPES:
            self._blocks[index] = dict(block)  # redacted_thinking's data comes whole here
            if kind == "thinking":  # its text and signature come as deltas
                self._blocks[index].update(
                    thinking=str(block.get("thinking") or ""),
                    signature=str(block.get("signature") or ""),
                )
            return []
        if kind == "tool_use" and block.get("name") == self.response_tool:
            self._response_index = index
            return []
        if kind == "tool_use":
            return [
                self._calls.add(index, call_id=str(block.get("id", "")), name=block.get("name"))
            ]
        return []

    def delta(self, index: int, delta: Mapping[str, Any]) -> list[Any]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = str(delta.get("text") or "")
            self._text.append(text)
            return [text] if text else []
        if kind == "thinking_delta":
            piece = str(delta.get("thinking") or "")
            block = self._blocks.setdefault(index, {"type": "thinking", "thinking": ""})
            block["thinking"] = block.get("thinking", "") + piece
            return [ThinkingDelta(piece)] if piece else []
        if kind == "signature_delta":
            block = self._blocks.setdefault(index, {"type": "thinking", "thinking": ""})
            block["signature"] = (block.get("signature") or "") + str(delta.get("signature", ""))
            return []
        if kind == "input_json_delta":
            piece = str(delta.get("partial_json") or "")
            if index == self._response_index:
                self._response_json.append(piece)
                self._text.append(piece)
                return [piece] if piece else []
            return [self._calls.add(index, arguments=piece)]
        return []  # citations and delta types added later

    def stop(self, index: int) -> None:
        if index == self._response_index:
            raw = "".join(self._response_json)
            self.has_parsed = True
            try:
                self.parsed = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                self.has_parsed = False  # left to the caller to report, with the raw text

    # -- the result ------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking_blocks(self) -> tuple[dict[str, Any], ...]:
        return tuple(self._blocks[i] for i in sorted(self._blocks))

    @property
    def thinking(self) -> str | None:
        texts = [b.get("thinking", "") for b in self.thinking_blocks if b["type"] == "thinking"]
        return "".join(texts) if self._blocks else None

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(self._whole_calls) + self._calls.calls()


__all__ = [
    "ContentAssembler",
    "to_anthropic_messages",
    "to_anthropic_tool_choice",
    "to_anthropic_tools",
]
