"""Chat rules from the core (rust/chat.rs), and OpenAI's chat formula over any way of counting
text.

- :data:`SYSTEM_ROLES` and :func:`is_system_message`: which messages are system instructions
  (kept whatever the budget; Anthropic's ``system`` field); :func:`is_tool_result`: which
  answer a tool call (never kept without the call);
- :class:`ChatFormat`: the formula's constants for a model; :class:`ToolFormat`: the
  cookbook's constants for tool definitions;
- :class:`ChatCounter`: messages, conversations and tool definitions counted, and
  conversations pruned, on an :class:`~devsynth.tokens.Encoding` or with a local model's
  tokenizer (any ``str -> int`` callable). Which message fields count is decided in the core.

::

    counter = ChatCounter(get_encoding("o200k_base"), ChatFormat.for_model("gpt-4o"))
    counter.conversation_tokens(messages, tools)
    kept, tokens = counter.prune(messages, 4096)     # kept is None when the system part is over
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devsynth import _core
from devsynth.tokens.core import Encoding

#: Roles whose messages are instructions to the model.
SYSTEM_ROLES: frozenset[str] = frozenset(_core.SYSTEM_ROLES)
#: Roles whose messages answer a tool call (pruning never keeps one without its call).
TOOL_RESULT_ROLES: frozenset[str] = frozenset(_core.TOOL_RESULT_ROLES)

# The core counts budgets in i64; any budget above that fits every conversation.
_MAX_BUDGET = 2**63 - 1


def is_system_message(message: Mapping[str, Any]) -> bool:
    """Whether a chat message is a system (or developer) instruction."""
    role = message.get("role")
    return isinstance(role, str) and role in SYSTEM_ROLES


def is_tool_result(message: Mapping[str, Any]) -> bool:
    """Whether a chat message answers a tool (or function) call."""
    role = message.get("role")
    return isinstance(role, str) and role in TOOL_RESULT_ROLES


@dataclass(frozen=True)
class ChatFormat:
    """OpenAI's chat overhead: per message, per name, and priming of the reply."""

    per_message: int
    per_name: int
    reply_priming: int

    @classmethod
    def for_model(cls, model: str | None) -> ChatFormat:
        """The format of a model's chat (the current one for models not known)."""
        return cls(*_core.chat_format(model))


@dataclass(frozen=True)
class ToolFormat:
    """Constants of OpenAI's cookbook for counting function/tool definitions."""

    func_init: int
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12

    @classmethod
    def for_model(cls, model: str | None) -> ToolFormat:
        """gpt-4 and gpt-3.5 models' constants, else gpt-4o's (and newer models')."""
        legacy = model is not None and (
            model.startswith(("gpt-4-", "gpt-3.5", "gpt-35")) or model == "gpt-4"
        )
        return GPT4_TOOLS if legacy else GPT4O_TOOLS


GPT4O_TOOLS = ToolFormat(func_init=7)
GPT4_TOOLS = ToolFormat(func_init=10)


class ChatCounter:
    """OpenAI's chat formula over one way of counting text: an Encoding (ordinary text, in the
    core with the GIL released) or a ``str -> int`` callable (a local model's tokenizer)."""

    def __init__(
        self,
        text: Encoding | Callable[[str], int],
        chat_format: ChatFormat,
        tool_format: ToolFormat = GPT4O_TOOLS,
    ) -> None:
        self.chat_format = chat_format
        self.tool_format = tool_format
        self._encoding = text if isinstance(text, Encoding) else None
        self._count: Callable[[str], int] = (
            text.count_ordinary if isinstance(text, Encoding) else text
        )

    def count_text(self, text: str) -> int:
        """Tokens of ``text`` as ordinary text."""
        return self._count(text)

    def message_tokens(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """Tokens of each message: the per-message overhead, role, the fields that count, name."""
        fmt = self.chat_format
        if self._encoding is not None:
            return self._encoding._chat_message_tokens(messages, fmt.per_message, fmt.per_name)
        return _core.chat_message_tokens(self._count, messages, fmt.per_message, fmt.per_name)

    def conversation_tokens(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Tokens of a conversation as the model receives it: the messages, the priming of the
        reply, and the tool definitions when given."""
        total = sum(self.message_tokens(messages)) + self.chat_format.reply_priming
        if tools is not None:
            total += self.tools_tokens(tools)
        return total

    def prune(
        self, messages: Sequence[Mapping[str, Any]], budget: int
    ) -> tuple[list[int] | None, int]:
        """(indices kept, their tokens): every system message and the longest run of newest
        messages that fits in ``budget`` (a non-negative int), reply priming included, less any
        tool results at its start (their call was dropped); or (None, tokens the system
        messages alone need) when they do not fit."""
        fmt = self.chat_format
        budget = min(budget, _MAX_BUDGET)
        args = (budget, fmt.per_message, fmt.per_name, fmt.reply_priming)
        if self._encoding is not None:
            return self._encoding._chat_prune(messages, *args)
        return _core.chat_prune(self._count, messages, *args)

    def tools_tokens(self, tools: Sequence[Mapping[str, Any]]) -> int:
        """Tokens that tool (function) definitions add, with OpenAI's cookbook constants."""
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
            raise TypeError(f"tools must be a list of tool definitions, got {_type(tools)}")
        fmt = self.tool_format
        total = 0
        for i, tool in enumerate(tools):
            function = _function_of(i, tool)
            description = _text(i, function, "description").removesuffix(".")
            total += fmt.func_init + self._count(f"{function['name']}:{description}")
            properties = _mapping(i, function, "parameters").get("properties") or {}
            if not isinstance(properties, Mapping):
                raise TypeError(f"tool {i}: 'properties' must be a dict, got {_type(properties)}")
            if properties:
                total += fmt.prop_init
            for key, prop in properties.items():
                if not isinstance(prop, Mapping):
                    raise TypeError(f"tool {i}: property {key!r} must be a dict, got {_type(prop)}")
                total += fmt.prop_key
                if "enum" in prop:
                    values = prop["enum"]
                    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                        raise TypeError(
                            f"tool {i}: property {key!r}: 'enum' must be a list, got "
                            f"{_type(values)}"
                        )
                    total += fmt.enum_init
                    total += sum(fmt.enum_item + self._count(str(v)) for v in values)
                p_type = prop.get("type", "")
                p_desc = _text(i, prop, "description").removesuffix(".")
                total += self._count(f"{key}:{p_type}:{p_desc}")
        return total + fmt.func_end if tools else 0


def _type(value: object) -> str:
    return type(value).__name__


def _function_of(i: int, tool: object) -> Mapping[str, Any]:
    """The function of tool ``i`` (``{"type": "function", "function": {...}}`` or bare)."""
    if not isinstance(tool, Mapping):
        raise TypeError(f"tool {i} must be a dict, got {_type(tool)}")
    function = tool.get("function", tool)
    if not isinstance(function, Mapping):
        raise TypeError(f"tool {i}: 'function' must be a dict, got {_type(function)}")
    if "name" not in function:
        raise ValueError(f"tool {i} has no function name")
    if not isinstance(function["name"], str):
        raise TypeError(f"tool {i}: the function name must be str, got {_type(function['name'])}")
    return function


def _text(i: int, fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"tool {i}: {key!r} must be str, got {_type(value)}")
    return value


def _mapping(i: int, fields: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = fields.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"tool {i}: {key!r} must be a dict, got {_type(value)}")
    return value
