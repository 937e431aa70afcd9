"""What the package knows about a model: its tokenizer, whether counts are exact, its context
window and maximum output, whether it is a reasoning model, and its chat-format constants.

The per-model figures are data, in ``models.json`` beside this module: one row per model id
(or id prefix), each with the public page its figures come from."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import orjson

from devsynth.domain.errors import UnknownModelError
from devsynth.tokens.chat import GPT4O_TOOLS, ChatFormat, ToolFormat
from devsynth.tokens.model import encoding_name_for_model

# The chat format of models without one of their own (rust/chat.rs holds the constants).
CURRENT_FORMAT = ChatFormat.for_model(None)


@dataclass(frozen=True)
class ModelInfo:
    """How to count a model's tokens."""

    model: str | None
    encoding: str
    exact: bool
    context_window: int | None
    chat_format: ChatFormat = CURRENT_FORMAT
    tool_format: ToolFormat = GPT4O_TOOLS


# Anthropic publishes no tokenizer for its current models: counts are estimates on this one.
CLAUDE_ESTIMATE_ENCODING = "cl100k_base"
DEFAULT_ENCODING = "o200k_base"


@dataclass(frozen=True)
class ModelSpec:
    """One row of the model table (``models.json``): a model id or id prefix, its context
    window and maximum output in tokens, whether it is a reasoning model (and whether it
    takes sampling parameters), and where the figures were published."""

    prefix: str
    provider: str
    context_window: int | None
    max_output: int | None
    reasoning: bool
    source: str
    # False when the API rejects temperature, top_p and the penalties (OpenAI's o-series/gpt-5).
    sampling_parameters: bool = True


_TABLE = Path(__file__).with_name("models.json")


@functools.cache
def _model_table() -> dict[str, ModelSpec]:
    # Read on first use only: `import devsynth` must stay cheap.
    rows = orjson.loads(_TABLE.read_bytes())["models"]
    return {
        row["model"]: ModelSpec(
            prefix=row["model"],
            provider=row["provider"],
            context_window=row.get("context_window"),
            max_output=row.get("max_output"),
            reasoning=bool(row.get("reasoning", False)),
            source=row["source"],
            sampling_parameters=bool(row.get("sampling_parameters", True)),
        )
        for row in rows
    }


def model_spec(model: str) -> ModelSpec | None:
    """The table's row for ``model``: its exact id, else the longest prefix (so dated ids such
    as ``gpt-4o-2024-08-06`` find ``gpt-4o``); ``None`` for a model the table does not know."""
    table = _model_table()
    best = ""
    for prefix in table:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return table[best] if best else None


def model_specs() -> list[ModelSpec]:
    """Every row of the model table."""
    return list(_model_table().values())


def context_window_for(model: str) -> int | None:
    """The context window of a model, by longest known prefix; None when unknown."""
    spec = model_spec(model)
    return spec.context_window if spec else None


def max_output_for(model: str) -> int | None:
    """The most tokens a model may write in one reply (thinking included); None when unknown."""
    spec = model_spec(model)
    return spec.max_output if spec else None


def is_reasoning_model(model: str | None) -> bool:
    """True for models the table marks as reasoning models (OpenAI's o-series and gpt-5
    family, Claude models with extended thinking)."""
    spec = model_spec(model) if model else None
    return bool(spec and spec.reasoning)


def model_info(model: str | None) -> ModelInfo:
    """What is known of a model; unknown models get an estimate on o200k_base."""
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be a str or None, got {type(model).__name__}")
    if model is None:
        return ModelInfo(None, DEFAULT_ENCODING, True, None)
    window = context_window_for(model)
    if model.startswith("claude"):
        return ModelInfo(model, CLAUDE_ESTIMATE_ENCODING, False, window)
    try:
        encoding = encoding_name_for_model(model)
    except UnknownModelError:
        return ModelInfo(model, DEFAULT_ENCODING, False, window)
    return ModelInfo(
        model, encoding, True, window, ChatFormat.for_model(model), ToolFormat.for_model(model)
    )
