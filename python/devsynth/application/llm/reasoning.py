"""Reasoning models: the request changes each API asks for.

OpenAI's reasoning models (the o-series, the gpt-5 family: ``reasoning`` in the model table)
take ``max_completion_tokens`` instead of ``max_tokens``, since their limit covers the hidden
reasoning too, and reject ``temperature`` and the other sampling parameters: those are
dropped with a logged note, so a configuration written for chat models keeps working.
``reasoning_effort`` passes through.

Anthropic's extended thinking (``thinking={"type": "enabled", "budget_tokens": N}``) needs
``max_tokens`` above the budget and takes no ``temperature`` or ``top_k``; it is checked here
before a request would fail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from devsynth.domain.errors import ConfigurationError

logger = logging.getLogger("devsynth.llm.reasoning")

# What OpenAI's reasoning models reject (their API reference, "reasoning models").
_OPENAI_SAMPLING = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
# Extended thinking is incompatible with these (Anthropic's extended-thinking guide).
_THINKING_REJECTS = ("temperature", "top_k")


def _spec(model: str | None) -> Any:
    from devsynth.application.utils.model_info import model_spec

    return model_spec(model) if model else None


def adapt_openai_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as an OpenAI reasoning model takes it (unchanged for other models)."""
    spec = _spec(body.get("model"))
    if spec is None or not spec.reasoning:
        return body
    if "max_tokens" in body:
        limit = body.pop("max_tokens")
        body.setdefault("max_completion_tokens", limit)
    if not spec.sampling_parameters:
        for name in _OPENAI_SAMPLING:
            if name in body:
                logger.info(
                    "%s dropped: the reasoning model %s does not accept it",
                    name,
                    body["model"],
                )
                del body[name]
    return body


def adapt_anthropic_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked and adapted for Anthropic's extended thinking, when it is enabled."""
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return body
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigurationError(f"thinking.budget_tokens must be a positive int, got {budget!r}")
    if body["max_tokens"] <= budget:
        raise ConfigurationError(
            f"max_tokens ({body['max_tokens']}) must be above thinking.budget_tokens ({budget}): "
            "the budget is part of the reply's tokens"
        )
    for name in _THINKING_REJECTS:
        if name in body:
            logger.info("%s dropped: extended thinking does not accept it", name)
            del body[name]
    return body


__all__ = ["adapt_anthropic_body", "adapt_openai_body"]
