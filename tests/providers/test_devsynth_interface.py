"""DevSynth's own interface, called as DevSynth's code calls it: the StreamingLLMProvider
async generators on every provider (Offline and fallback chains included), and the
LLMProviderFactory forms ``create_provider(provider_type, config)`` and
``register_provider_type(provider_type, provider_class)``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig, registry
from devsynth.application.llm.fallback import FallbackProvider
from devsynth.application.llm.offline_provider import OfflineProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.domain.llm import LLMProviderFactory, StreamingLLMProvider
from devsynth.errors import ConfigurationError
from tests.support.llm_server import (
    OPENAI_DIALECT,
    FakeServer,
    Recorded,
    Reply,
    named_events,
    openai_compatible,
    stream_reply,
)

CONTEXT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help you today?"},
]


def anthropic_stream(request: Recorded) -> Reply:
    assert request.json()["stream"] is True
    return stream_reply(
        named_events(
            ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}}),
            ("content_block_delta", {"type": "content_block_delta",
                                     "delta": {"type": "text_delta", "text": "Hello"}}),
            ("content_block_delta", {"type": "content_block_delta",
                                     "delta": {"type": "text_delta", "text": " there"}}),
            ("message_stop", {"type": "message_stop"}),
        )
    )  # fmt: skip


def lmstudio_models(request: Recorded) -> Reply:
    model = {"type": "llm", "key": "m", "loaded_instances": [{"id": "m", "config": {}}]}
    return Reply(body={"models": [model]})


# provider type -> (settings for create_provider, routes it needs)
def settings(kind: str, server: FakeServer, fast: dict[str, Any]) -> dict[str, Any]:
    server.route("POST", "/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    server.route("POST", "/api/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    server.route("POST", "/v1/messages", anthropic_stream)
    server.route("GET", "/api/v1/models", lmstudio_models)
    key = {"api_key": "sk-test-0123456789abcdef"}
    return {
        "openai": {"api_base": server.url + "/v1", **key, **fast},
        "anthropic": {"api_base": server.url, **key, **fast},
        "lmstudio": {"api_base": server.url + "/v1", **fast},
        "openrouter": {"api_base": server.url + "/api/v1", **key, **fast},
        "offline": {},
    }[kind]


KINDS = ["openai", "anthropic", "lmstudio", "openrouter", "offline"]


async def devsynth_consumer(provider: StreamingLLMProvider) -> tuple[str, str]:
    """What DevSynth's code does with a StreamingLLMProvider."""
    story = ""
    async for chunk in provider.generate_stream("Tell me a story"):
        story += chunk
    answer = ""
    async for chunk in provider.generate_with_context_stream("Tell me a joke", CONTEXT):
        answer += chunk
    return story, answer


@pytest.mark.parametrize("kind", KINDS)
def test_every_provider_offers_the_streaming_generators(
    kind: str, server: FakeServer, fast: Any
) -> None:
    factory: LLMProviderFactory = LLMBackendAdapter()
    provider = factory.create_provider(kind, settings(kind, server, fast))
    assert isinstance(provider, StreamingLLMProvider)
    assert inspect.isasyncgenfunction(type(provider).generate_stream)
    assert inspect.isasyncgenfunction(type(provider).generate_with_context_stream)
    story, answer = asyncio.run(devsynth_consumer(provider))
    if kind == "offline":  # the same text as the whole-answer calls give
        assert story == provider.generate("Tell me a story")
        assert answer == provider.generate_with_context("Tell me a joke", CONTEXT)
        return
    assert story == answer == "Hello there"
    chats = [r for r in server.requests if r.method == "POST"]
    assert [r.json()["stream"] for r in chats] == [True, True]
    first = chats[0].json()["messages"]
    assert first[-1] == {"role": "user", "content": "Tell me a story"}
    sent = chats[1].json()
    turns = sent["messages"]
    if kind == "anthropic":  # the system message travels apart in Anthropic's format
        assert sent["system"] == CONTEXT[0]["content"]
        assert [m["content"] for m in turns][-1] == "Tell me a joke"
    else:
        assert turns == [*CONTEXT, {"role": "user", "content": "Tell me a joke"}]


def test_a_fallback_chain_offers_them_too(server: FakeServer, fast: Any) -> None:
    server.route("POST", "/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    provider = LLMBackendAdapter().create_provider(
        LLMProviderConfig(
            "openai",
            {"api_base": "http://127.0.0.1:9/v1", "api_key": "sk-test-0123456789ab", **fast},
            fallback=[LLMProviderConfig("openai", {"api_base": server.url + "/v1", **fast})],
        )
    )
    assert isinstance(provider, FallbackProvider)
    assert asyncio.run(devsynth_consumer(provider)) == ("Hello there", "Hello there")


def test_leaving_the_loop_early_frees_the_connection(server: FakeServer) -> None:
    slow = stream_reply(
        b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 5.0, b"data: [DONE]\n\n"
    )
    server.route("POST", "/v1/chat/completions", slow)
    server.route("POST", "/v1/embeddings", Reply(body={"data": [{"embedding": [1.0]}]}))
    # One connection: if breaking out leaked it, the embedding call would wait for the pool.
    provider = OpenAIProvider({"api_base": server.url + "/v1", "timeout": {"connect": 0.5}})
    provider.http._limits.max_connections = 1  # type: ignore[attr-defined]

    async def run() -> list[float]:
        stream = provider.generate_stream("Hi")
        async for chunk in stream:
            assert chunk == "a"
            break
        await stream.aclose()  # type: ignore[attr-defined]
        vector = await provider.aget_embedding("x")
        await provider.aclose()
        return vector

    assert asyncio.run(run()) == [1.0]


def test_offline_streams_its_bare_prompt_and_its_chat() -> None:
    provider = LLMBackendAdapter().create_provider("offline")
    assert isinstance(provider, OfflineProvider)

    async def run() -> tuple[list[str], list[str]]:
        bare = [c async for c in provider.generate_stream("Hello", {"max_tokens": 8})]
        chat = [c async for c in provider.generate_with_context_stream("Hello", CONTEXT)]
        return bare, chat

    bare, chat = asyncio.run(run())
    assert "".join(bare) == provider.generate("Hello", {"max_tokens": 8})
    assert len(bare) > 1  # streamed, not one piece
    assert "".join(chat) == provider.generate_with_context("Hello", CONTEXT)


# -- LLMProviderFactory, DevSynth's forms -----------------------------------------------------


class DevSynthStyleProvider:
    """A provider written for DevSynth: built from a config dict, three plain methods."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    def generate(self, prompt: str, parameters: Mapping[str, Any] | None = None) -> str:
        return f"{self.config.get('model')}: {prompt}"

    def generate_with_context(
        self, prompt: str, context: list[dict[str, str]], parameters: Any = None
    ) -> str:
        return f"{len(context)} + {prompt}"

    def get_embedding(self, text: str) -> list[float]:
        return [float(len(text))]


@pytest.fixture
def factory() -> LLMBackendAdapter:
    return LLMBackendAdapter(registry=registry.copy())


def test_register_provider_type_and_create_by_type_and_config(factory: LLMBackendAdapter) -> None:
    assert isinstance(factory, LLMProviderFactory)
    factory.register_provider_type("custom", DevSynthStyleProvider)
    provider: Any = factory.create_provider("custom", {"model": "m1"})
    assert isinstance(provider, DevSynthStyleProvider)
    assert provider.generate("hi") == "m1: hi"
    assert provider.generate_with_context("hi", CONTEXT) == "3 + hi"
    assert factory.create_provider("custom").config == {}  # config=None: defaults
    assert factory.create_provider(provider_type="custom", config={"model": "k"}).config == {
        "model": "k"
    }
    factory.register_provider_type("custom", lambda config: DevSynthStyleProvider({"model": "v2"}))
    assert factory.create_provider("custom").generate("x") == "v2: x"  # replaced, as DevSynth does


def test_create_provider_by_type_makes_the_built_in_providers(
    factory: LLMBackendAdapter, server: FakeServer
) -> None:
    server.route("POST", "/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    provider = factory.create_provider("openai", {"api_base": server.url + "/v1", "model": "x"})
    assert isinstance(provider, OpenAIProvider)
    assert provider.generate("Hi") == "Hello there"
    assert server.requests[0].json()["model"] == "x"


def test_todays_forms_still_work(factory: LLMBackendAdapter) -> None:
    for call in (
        lambda: factory.create_provider(LLMProviderConfig("offline", {})),
        lambda: factory.create_provider(config=LLMProviderConfig("offline", {})),
        lambda: factory.create_provider({"provider_type": "offline", "parameters": {}}),
    ):
        assert isinstance(call(), OfflineProvider)


def test_by_type_respects_offline_mode(
    factory: LLMBackendAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSYNTH_OFFLINE", "1")
    provider = factory.create_provider("openai", {"api_key": "sk-0123456789abcdef"})
    assert isinstance(provider, OfflineProvider)


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.create_provider("openai", LLMProviderConfig("openai", {})),
        lambda f: f.create_provider(LLMProviderConfig("offline", {}), {"model": "x"}),
        lambda f: f.create_provider("no-such-type", {}),
    ],
)
def test_ambiguous_or_unknown_calls_are_configuration_errors(
    factory: LLMBackendAdapter, call: Callable[[LLMBackendAdapter], Any]
) -> None:
    with pytest.raises(ConfigurationError):
        call(factory)
