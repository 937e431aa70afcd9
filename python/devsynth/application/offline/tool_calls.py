"""Tool calls in a local model's text, in the format tool-capable chat templates teach:
Hermes' ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (Qwen 2.5 and 3,
Hermes 2 and 3, and the many models trained on them)."""

from __future__ import annotations

import re

import orjson

from devsynth.application.llm.tools import tool_call
from devsynth.domain.llm import ToolCall

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def split_tool_calls(text: str) -> tuple[str, tuple[ToolCall, ...]]:
    """``(text without the call blocks, the calls)``; a block that is not JSON is kept as a
    call whose arguments error says so (and whose raw text is the block)."""
    calls = []
    for i, match in enumerate(_BLOCK.finditer(text)):
        body = match.group(1)
        call_id = f"call_{i}"
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            calls.append(tool_call(call_id, "", body))
            continue
        if not isinstance(value, dict):
            calls.append(tool_call(call_id, "", body))
            continue
        arguments = value.get("arguments", value.get("parameters", {}))
        raw = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        calls.append(tool_call(call_id, str(value.get("name", "")), raw))
    if not calls:
        return text, ()
    return _BLOCK.sub("", text).strip(), tuple(calls)


__all__ = ["split_tool_calls"]
