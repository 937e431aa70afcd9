"""OpenRouter: hundreds of models behind OpenAI's wire format, at ``openrouter.ai/api/v1``.

The key comes from ``api_key`` or ``OPENROUTER_API_KEY``. OpenRouter's optional attribution
headers are sent when configured: ``site_url`` as ``HTTP-Referer`` and ``app_name`` as
``X-Title`` (how the app appears in OpenRouter's rankings). Models are named by their
OpenRouter ids, such as ``anthropic/claude-sonnet-4`` or ``meta-llama/llama-3.3-70b-instruct``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.domain.errors import ConfigurationError

OPENROUTER_API_BASE = "https://openrouter.ai/api/v1"
# parameter -> the header OpenRouter reads it from
ATTRIBUTION_HEADERS = {"site_url": "HTTP-Referer", "app_name": "X-Title"}


class OpenRouterProvider(OpenAIProvider):
    """OpenRouter's OpenAI-compatible API, sync and async, streamed or not."""

    name: ClassVar[str] = "openrouter"
    defaults: ClassVar[Mapping[str, Any]] = {
        "api_base": OPENROUTER_API_BASE,
        "model": "openai/gpt-4o-mini",
        "embedding_model": "openai/text-embedding-3-small",
    }
    api_key_env: ClassVar[str | None] = "OPENROUTER_API_KEY"

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        for parameter, header in ATTRIBUTION_HEADERS.items():
            value = self._parameters.get(parameter)
            if value is None or value == "":
                continue
            text = str(value)
            if not text.isascii() or any(c in text for c in "\r\n\0"):
                raise ConfigurationError(
                    f"{parameter} goes out as the {header} header and must be plain ASCII on "
                    "one line"
                )
            headers[header.lower()] = text
        return headers


__all__ = ["ATTRIBUTION_HEADERS", "OPENROUTER_API_BASE", "OpenRouterProvider"]
