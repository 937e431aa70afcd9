"""Tool calling in one shape for every provider: OpenAI's function format.

- :func:`check_tools` checks tool definitions before any request;
- :func:`tool_call` turns an id, a name and argument text into a :class:`ToolCall`, parsing
  the arguments and reporting (never dropping) a call whose arguments are not a JSON object;
- :class:`ToolCallAssembler` rebuilds calls from streamed fragments, several at once, in the
  order the model started them, whatever text or thinking arrives between the fragments.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from devsynth.domain.errors import ConfigurationError
from devsynth.domain.llm import ToolCall, ToolCallDelta

logger = logging.getLogger("devsynth.llm.tools")


def check_tools(tools: object) -> list[dict[str, Any]]:
    """``tools`` as a list of dicts, each function tool checked: ``{"type": "function",
    "function": {"name": str, "parameters": <object schema>}}``. Tools of other types (a
    provider's own, such as Anthropic's server tools) pass as they are."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ConfigurationError(f"tools must be a list of tool definitions, got {tools!r:.80}")
    checked = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigurationError(f"tool {i} must be a mapping, got {type(tool).__name__}")
        if tool.get("type", "function") == "function":
            function = tool.get("function")
            if not isinstance(function, Mapping):
                raise ConfigurationError(
                    f'tool {i} must have a "function": {{"name": ..., "parameters": ...}} '
                    "(OpenAI's function format)"
                )
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"tool {i} has no function name")
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, Mapping):
                raise ConfigurationError(
                    f"tool {i} ({name}): parameters must be a JSON schema object"
                )
        checked.append(dict(tool))
    return checked


def parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(arguments, None)`` for argument text that is a JSON object, else ``(None, why)``.
    Blank text means no arguments: ``{}`` (Anthropic streams a call without input so)."""
    if not raw.strip():
        return {}, None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"the arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"the arguments are JSON but not an object (a {type(value).__name__})"
    return value, None


def tool_call(call_id: str, name: str, arguments: str) -> ToolCall:
    """A :class:`ToolCall` with its arguments parsed; unparseable ones are logged and kept."""
    parsed, error = parse_arguments(arguments)
    if error is not None:
        logger.warning("tool call %s (%s): %s", call_id, name, error)
    return ToolCall(
        id=call_id, name=name, arguments=arguments, parsed_arguments=parsed, arguments_error=error
    )


def tool_call_from_object(call_id: str, name: str, arguments: object) -> ToolCall:
    """A call whose arguments arrived already parsed (Anthropic's ``input``)."""
    if isinstance(arguments, dict):
        text = orjson.dumps(arguments).decode()
        return ToolCall(id=call_id, name=name, arguments=text, parsed_arguments=arguments)
    return tool_call(call_id, name, orjson.dumps(arguments).decode())


def arguments_object(call: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of an OpenAI-shaped ``tool_calls`` entry as an object, for providers
    that want one (Anthropic's ``tool_use.input``). Unparseable text becomes ``{}``, logged:
    the conversation can still go on with a tool result that reports the error."""
    function = call.get("function") or {}
    raw = function.get("arguments", "")
    if isinstance(raw, Mapping):
        return dict(raw)
    parsed, error = parse_arguments(str(raw or ""))
    if parsed is None:
        logger.warning("tool call %s: %s; sent as {}", call.get("id"), error)
        return {}
    return parsed


class _Partial:
    __slots__ = ("arguments", "id", "name", "position")

    def __init__(self, position: int) -> None:
        self.position = position
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class ToolCallAssembler:
    """Tool calls rebuilt from stream fragments.

    ``key`` is whatever the provider uses to tell parallel calls apart (OpenAI's
    ``tool_calls[i].index``, Anthropic's content block index); calls are numbered 0, 1, ...
    in the order they started, and that number is the :class:`ToolCallDelta` index.
    """

    def __init__(self) -> None:
        self._calls: dict[Any, _Partial] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(
        self, key: Any, *, call_id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> ToolCallDelta:
        partial = self._calls.get(key)
        if partial is None:
            partial = self._calls[key] = _Partial(len(self._calls))
        # The id and name arrive once, in the first fragment; some servers repeat them.
        if call_id and not partial.id:
            partial.id = call_id
        if name and not partial.name:
            partial.name = name
        if arguments:
            partial.arguments.append(arguments)
        return ToolCallDelta(index=partial.position, id=call_id, name=name, arguments=arguments)

    def last_key(self) -> Any:
        """The key of the call started last (for servers that send fragments without one)."""
        return next(reversed(self._calls)) if self._calls else None

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            tool_call(p.id or f"call_{i}", p.name, "".join(p.arguments))
            for i, p in enumerate(self._calls.values())
        )


__all__ = [
    "ToolCallAssembler",
    "arguments_object",
    "check_tools",
    "parse_arguments",
    "tool_call",
    "tool_call_from_object",
]
