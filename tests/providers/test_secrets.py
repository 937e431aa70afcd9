"""API keys never appear in a repr, a log line or an error message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.errors import AuthenticationError, ProviderError
from tests.support.llm_server import FakeServer, Reply, sse, stream_reply

OPENAI_KEY = "sk-proj-SECRETSECRET0123456789"
ANTHROPIC_KEY = "sk-ant-api03-SECRETSECRET987654"


def assert_clean(text: str) -> None:
    assert OPENAI_KEY not in text
    assert ANTHROPIC_KEY not in text
    assert "SECRETSECRET" not in text


def test_config_and_provider_reprs(server: FakeServer) -> None:
    config = LLMProviderConfig(
        "openai",
        {"api_key": OPENAI_KEY, "api_base": server.url + "/v1"},
        fallback=[LLMProviderConfig("anthropic", {"api_key": ANTHROPIC_KEY})],
    )
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert_clean(text)
        assert "***" in text
    provider = LLMBackendAdapter().create_provider(config)
    assert_clean(repr(provider))
    for member in provider.providers:  # type: ignore[attr-defined]
        assert_clean(repr(member))
        assert_clean(repr(member.parameters))
        assert_clean(repr(member.http))
        assert_clean(str(vars(member.http)))
        assert_clean(str(vars(member)))


def test_error_messages_and_logs(
    server: FakeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at DEBUG too
    echo = {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY} / {ANTHROPIC_KEY}"}}
    server.route("POST", "/v1/chat/completions", Reply(500, body=echo), Reply(401, body=echo))
    server.route("POST", "/v1/messages", Reply(429, body=echo, headers={"retry-after-ms": "1"}))
    openai = OpenAIProvider({"api_key": OPENAI_KEY, "api_base": server.url + "/v1", **fast})
    anthropic = AnthropicProvider({"api_key": ANTHROPIC_KEY, "api_base": server.url, **fast})
    errors: list[BaseException] = []
    with pytest.raises(AuthenticationError) as info:
        openai.generate("x")
    errors.append(info.value)
    with pytest.raises(ProviderError) as info2:
        anthropic.generate("x")
    errors.append(info2.value)
    with pytest.raises(ProviderError) as info3:
        asyncio.run(anthropic.agenerate("x"))
    errors.append(info3.value)
    server.route("POST", "/v1/chat/completions", stream_reply(sse(echo)))
    with pytest.raises(ProviderError) as info4:
        list(openai.stream("x"))
    errors.append(info4.value)
    for error in errors:
        assert_clean(str(error))
        assert_clean(repr(error))
        assert_clean(repr(error.args))
    assert caplog.records  # the retries were logged
    for record in caplog.records:
        assert_clean(record.getMessage())
    assert_clean(caplog.text)
