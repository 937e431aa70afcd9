"""What token counting needs to know about a model: its tokenizer, whether counts are exact,
its context window and its chat-format constants."""

from __future__ import annotations

from dataclasses import dataclass

from devsynth.domain.errors import UnknownModelError
from devsynth.tokens.model import encoding_name_for_model


@dataclass(frozen=True)
class ChatFormat:
    """OpenAI's chat overhead: per message, per name, and priming of the reply."""

    per_message: int = 3
    per_name: int = 1
    reply_priming: int = 3


CURRENT_FORMAT = ChatFormat()
# gpt-3.5-turbo-0301 puts the name in place of the role.
GPT35_0301_FORMAT = ChatFormat(per_message=4, per_name=-1)


@dataclass(frozen=True)
class ToolFormat:
    """Constants of OpenAI's cookbook for counting function/tool definitions."""

    func_init: int
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12


GPT4O_TOOLS = ToolFormat(func_init=7)
GPT4_TOOLS = ToolFormat(func_init=10)


@dataclass(frozen=True)
class ModelInfo:
    """How to count a model's tokens."""

    model: str | None
    encoding: str
    exact: bool
    context_window: int | None
    chat_format: ChatFormat = CURRENT_FORMAT
    tool_format: ToolFormat = GPT4O_TOOLS


# Context windows, matched by longest prefix. Figures are the providers' published ones.
_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128_000,
    "gpt-4o": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4-1106": 128_000,
    "gpt-4-0125": 128_000,
    "gpt-4-32k": 32_768,
    "gpt-4": 8_192,
    "gpt-3.5-turbo-0301": 4_096,
    "gpt-3.5-turbo-0613": 4_096,
    "gpt-3.5-turbo-instruct": 4_096,
    "gpt-3.5-turbo": 16_385,
    "gpt-35-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gpt-oss": 131_072,
    "claude-": 200_000,
}

# Anthropic publishes no tokenizer for its current models: counts are estimates on this one.
CLAUDE_ESTIMATE_ENCODING = "cl100k_base"
DEFAULT_ENCODING = "o200k_base"


def context_window_for(model: str) -> int | None:
    """The context window of a model, by longest known prefix; None when unknown."""
    best = ""
    for prefix in _CONTEXT_WINDOWS:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return _CONTEXT_WINDOWS[best] if best else None


def _tool_format_for(model: str) -> ToolFormat:
    legacy = model.startswith(("gpt-4-", "gpt-3.5", "gpt-35")) or model == "gpt-4"
    return GPT4_TOOLS if legacy else GPT4O_TOOLS


def model_info(model: str | None) -> ModelInfo:
    """What is known of a model; unknown models get an estimate on o200k_base."""
    if model is None:
        return ModelInfo(None, DEFAULT_ENCODING, True, None)
    window = context_window_for(model)
    if model.startswith("claude"):
        return ModelInfo(model, CLAUDE_ESTIMATE_ENCODING, False, window)
    try:
        encoding = encoding_name_for_model(model)
    except UnknownModelError:
        return ModelInfo(model, DEFAULT_ENCODING, False, window)
    chat_format = GPT35_0301_FORMAT if model == "gpt-3.5-turbo-0301" else CURRENT_FORMAT
    return ModelInfo(model, encoding, True, window, chat_format, _tool_format_for(model))
