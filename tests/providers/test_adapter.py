"""LLMBackendAdapter: the reference document's code block, the registry, "auto", offline mode
and fallback chains."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from devsynth.adapters.llm.llm_adapter import (
    LLMBackendAdapter,
    LLMProviderConfig,
    ProviderRegistry,
    register_provider,
    registry,
)
from devsynth.application.llm import fallback as fallback_module
from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.base import BaseProvider
from devsynth.application.llm.config import ConfigurationWarning
from devsynth.application.llm.fallback import FallbackProvider
from devsynth.application.llm.lmstudio_provider import LMStudioProvider
from devsynth.application.llm.offline_provider import OfflineProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.domain.llm import Completion, LLMProvider
from devsynth.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ProviderConnectionError,
)
from tests.support.llm_server import FakeServer, Recorded, Reply, sse, stream_reply

# The "Usage" block of the reference document (docs: LLM Integration in DevSynth), verbatim.
REFERENCE_BLOCK = """\
from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig

# Create the LLM adapter

adapter = LLMBackendAdapter()

# Create an LM Studio provider

config = LLMProviderConfig(
    provider_type="lmstudio",
    parameters={
        "api_base": "http://localhost:1234/v1",
        "model": "local_model",
        "max_tokens": 1024,
    },
)
provider = adapter.create_provider(config)

# Generate text

response = provider.generate("Hello, world!")

# Generate text with context

context = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help you today?"}
]
response = provider.generate_with_context("Tell me a joke", context)
"""

REFERENCE_DOC_CANDIDATES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "llm-integration.md",
    Path("/work/shared/reference/llm-integration.md"),
)


def chat_reply(request: Recorded) -> Reply:
    body = request.json()
    last = body["messages"][-1]["content"]
    return Reply(
        body={
            "id": "c1",
            "model": body["model"],
            "choices": [{"message": {"content": f"re: {last}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        }
    )


def lmstudio_routes(server: FakeServer) -> None:
    model = {
        "type": "llm",
        "key": "qwen3-4b",
        "max_context_length": 32768,
        "loaded_instances": [{"id": "qwen3-4b", "config": {"context_length": 4096}}],
    }
    server.route("GET", "/api/v1/models", Reply(body={"models": [model]}))
    server.route("POST", "/v1/chat/completions", chat_reply)


@pytest.fixture
def lmstudio_on_1234() -> Iterator[tuple[FakeServer, str]]:
    """An LM Studio-compatible server where the document expects it, else on a free port
    (the block's URL is then pointed there: nothing else changes)."""
    try:
        server = FakeServer(port=1234)
        block = REFERENCE_BLOCK
    except OSError:
        server = FakeServer()
        block = REFERENCE_BLOCK.replace("http://localhost:1234/v1", server.url + "/v1")
    lmstudio_routes(server)
    yield server, block
    server.close()


def test_reference_block_is_the_documents(lmstudio_on_1234: Any) -> None:
    doc = next((p for p in REFERENCE_DOC_CANDIDATES if p.is_file()), None)
    if doc is None:
        pytest.skip("the reference document is not beside this checkout")
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert REFERENCE_BLOCK in blocks


def test_reference_block_runs_as_written(lmstudio_on_1234: tuple[FakeServer, str]) -> None:
    server, block = lmstudio_on_1234
    namespace: dict[str, Any] = {}
    exec(compile(block, "llm-integration.md", "exec"), namespace)
    assert namespace["response"] == "re: Tell me a joke"
    chats = server.requests_to("/v1/chat/completions")
    assert [r.json()["messages"][-1]["content"] for r in chats] == [
        "Hello, world!",
        "Tell me a joke",
    ]
    assert chats[1].json()["messages"][0] == {
        "role": "system",
        "content": "You are a helpful assistant.",
    }
    assert all(r.json()["model"] == "qwen3-4b" and r.json()["max_tokens"] == 1024 for r in chats)


def test_every_type_of_the_document(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = LLMBackendAdapter()
    lmstudio_routes(server)
    claude = {
        "content": [{"type": "text", "text": "claude"}],
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    server.route("POST", "/v1/messages", Reply(body=claude))
    made = {
        kind: adapter.create_provider(LLMProviderConfig(provider_type=kind, parameters=params))
        for kind, params in {
            "openai": {"api_base": server.url + "/v1", "api_key": "sk-1234567"},
            "anthropic": {"api_base": server.url, "api_key": "sk-ant-1234567"},
            "lmstudio": {"api_base": server.url + "/v1"},
            "offline": {},
        }.items()
    }
    assert isinstance(made["openai"], OpenAIProvider)
    assert isinstance(made["anthropic"], AnthropicProvider)
    assert isinstance(made["lmstudio"], LMStudioProvider)
    assert isinstance(made["offline"], OfflineProvider)
    for provider in made.values():
        assert isinstance(provider, LLMProvider)
        assert isinstance(provider.generate("Hi"), str)
        assert isinstance(
            provider.generate_with_context("Hi", [{"role": "user", "content": "a"}]), str
        )
    assert made["anthropic"].generate("Hi") == "claude"
    assert len(made["offline"].get_embedding("text")) > 0


def test_mapping_config_is_accepted(server: FakeServer) -> None:
    lmstudio_routes(server)
    provider = LLMBackendAdapter().create_provider(
        {"provider_type": "lmstudio", "parameters": {"api_base": server.url + "/v1"}}
    )
    assert provider.generate("x") == "re: x"


# -- registry -----------------------------------------------------------------------------


class EchoProvider(BaseProvider):
    name = "echo"

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        return Completion(text=f"echo {messages[-1]['content']}", provider=self.name)


def test_new_provider_types_register_by_name() -> None:
    adapter = LLMBackendAdapter(registry=registry.copy())
    adapter.register_provider("echo", EchoProvider)
    provider = adapter.create_provider(LLMProviderConfig("echo", {}))
    assert provider.generate("hi") == "echo hi"
    assert "echo" not in registry  # the copy, not the shared registry


def test_register_by_import_path_loads_lazily() -> None:
    try:
        register_provider("echo-lazy", f"{__name__}:EchoProvider")
        assert LLMBackendAdapter().create_provider({"provider_type": "echo-lazy"}).generate(
            "x"
        ) == ("echo x")
        with pytest.raises(ConfigurationError, match="already registered"):
            register_provider("echo-lazy", EchoProvider)
    finally:
        registry._targets.pop("echo-lazy", None)


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="lmstudio"):
        LLMBackendAdapter().create_provider(LLMProviderConfig("nope", {}))


def test_auto_cannot_be_registered() -> None:
    with pytest.raises(ConfigurationError):
        ProviderRegistry().register("auto", EchoProvider)


# -- auto -----------------------------------------------------------------------------------


@pytest.fixture
def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def auto(parameters: Mapping[str, Any]) -> LLMProvider:
    return LLMBackendAdapter().create_provider(LLMProviderConfig("auto", dict(parameters)))


def test_auto_prefers_the_configured_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devsynth.toml").write_text('[llm]\nprovider = "anthropic"\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-1234")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1234")
    assert isinstance(auto({}), AnthropicProvider)


def test_auto_takes_openai_when_its_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-1234")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1234")
    assert isinstance(auto({}), OpenAIProvider)


def test_auto_takes_anthropic_when_only_its_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-1234")
    assert isinstance(auto({}), AnthropicProvider)


def test_auto_takes_a_reachable_lm_studio(server: FakeServer) -> None:
    server.route("GET", "/v1/models", Reply(body={"data": []}))
    provider = auto({"api_base": server.url + "/v1"})
    assert isinstance(provider, LMStudioProvider)


def test_auto_falls_back_to_offline(dead_url: str) -> None:
    assert isinstance(auto({"api_base": dead_url}), OfflineProvider)


# -- offline mode -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "env"])
def test_offline_mode_wins_over_the_requested_type(
    how: str, server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "file":
        (tmp_path / "devsynth.toml").write_text("offline_mode = true\n")
    else:
        monkeypatch.setenv("DEVSYNTH_OFFLINE", "1")
    lmstudio_routes(server)
    server.route("POST", "/v1/embeddings", Reply(body={"data": [{"embedding": [1.0]}]}))
    adapter = LLMBackendAdapter()
    for kind, params in [
        ("openai", {"api_base": server.url + "/v1", "api_key": "sk-1234567"}),
        ("lmstudio", {"api_base": server.url + "/v1"}),
        ("auto", {"api_base": server.url + "/v1"}),
    ]:
        provider = adapter.create_provider(
            LLMProviderConfig(kind, params, fallback=[LLMProviderConfig("lmstudio", params)])
        )
        assert isinstance(provider, OfflineProvider)
        provider.generate("Hi")
        list(provider.stream("Hi"))
        provider.get_embedding("Hi")
        asyncio.run(provider.agenerate("Hi"))
    assert server.requests == []  # nothing left the machine


def test_env_can_switch_offline_mode_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "devsynth.toml").write_text("offline_mode = true\n")
    monkeypatch.setenv("DEVSYNTH_OFFLINE", "0")
    provider = LLMBackendAdapter().create_provider(
        LLMProviderConfig("openai", {"api_key": "sk-1234567"})
    )
    assert isinstance(provider, OpenAIProvider)


@pytest.mark.parametrize("value", ["", "maybe"])
def test_empty_or_unreadable_env_never_switches_offline_mode_off(
    value: str, server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devsynth.toml").write_text("offline_mode = true\n")
    monkeypatch.setenv("DEVSYNTH_OFFLINE", value)
    lmstudio_routes(server)
    with pytest.warns(ConfigurationWarning, match="DEVSYNTH_OFFLINE"):
        provider = LLMBackendAdapter().create_provider(
            LLMProviderConfig("lmstudio", {"api_base": server.url + "/v1"})
        )
    assert isinstance(provider, OfflineProvider)
    provider.generate("Hi")
    assert server.requests == []  # failed closed: nothing left the machine


def test_offline_mode_passes_the_offline_section(tmp_path: Path) -> None:
    (tmp_path / "devsynth.toml").write_text(
        'offline_mode = true\n[offline_provider]\nmodel_path = ""\n[llm.offline]\nseed = 3\n'
    )
    captured: dict[str, Any] = {}

    def factory(parameters: Mapping[str, Any]) -> LLMProvider:
        captured.update(parameters)
        return EchoProvider(parameters)

    reg = registry.copy()
    reg.register("offline", factory, replace=True)
    LLMBackendAdapter(registry=reg).create_provider(
        LLMProviderConfig("openai", {"api_key": "sk-secret-1234", "max_tokens": 50})
    )
    assert captured == {"model_path": "", "seed": 3, "max_tokens": 50}  # no key, no URL


# -- fallback chains ------------------------------------------------------------------------


def chain(primary: dict[str, Any], server: FakeServer, fast: dict[str, Any]) -> LLMProvider:
    return LLMBackendAdapter().create_provider(
        LLMProviderConfig(
            "openai",
            {**primary, "api_key": "sk-primary-1234", **fast},
            fallback=[
                LLMProviderConfig("lmstudio", {"api_base": server.url + "/v1", **fast}),
                LLMProviderConfig("offline", {}),
            ],
        )
    )


def test_fallback_on_connection_error_reports_who_answered(
    server: FakeServer, fast: Any, dead_url: str
) -> None:
    lmstudio_routes(server)
    provider = chain({"api_base": dead_url}, server, fast)
    assert isinstance(provider, FallbackProvider)
    assert isinstance(provider, LLMProvider)
    result = provider.complete([{"role": "user", "content": "Hi"}])
    assert result.text == "re: Hi"
    assert result.metadata["answered_by"] == "lmstudio"
    assert result.metadata["skipped"] == ["openai"]
    assert provider.last_provider == "lmstudio"


def test_fallback_on_server_error_and_on_to_offline(server: FakeServer, fast: Any) -> None:
    primary = FakeServer()
    try:
        primary.route("POST", "/v1/chat/completions", Reply(503))
        server.route("GET", "/api/v1/models", Reply(500))
        provider = chain({"api_base": primary.url + "/v1"}, server, fast)
        result = provider.complete([{"role": "user", "content": "Hi"}])
        assert result.metadata["answered_by"] == "offline"
        # lmstudio failed at model selection (a 500 from its listing)
        assert result.metadata["skipped"] == ["openai", "lmstudio"]
        assert len(primary.requests) == 3  # its own retries came first
    finally:
        primary.close()


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (400, BadRequestError)])
def test_no_fallback_on_authentication_or_bad_request(
    server: FakeServer, fast: Any, status: int, error: type[Exception]
) -> None:
    primary = FakeServer()
    try:
        primary.route(
            "POST", "/v1/chat/completions", Reply(status, body={"error": {"message": "no"}})
        )
        lmstudio_routes(server)
        with pytest.raises(error):
            chain({"api_base": primary.url + "/v1"}, server, fast).generate("Hi")
        assert server.requests == []
    finally:
        primary.close()


def test_stream_falls_back_before_the_first_chunk(
    server: FakeServer, fast: Any, dead_url: str
) -> None:
    lmstudio_routes(server)
    done = sse({"choices": [{"delta": {"content": "streamed"}, "finish_reason": "stop"}]}, "[DONE]")
    server.route("POST", "/v1/chat/completions", stream_reply(done))
    provider = chain({"api_base": dead_url}, server, fast)
    stream = provider.stream("Hi")
    assert list(stream) == ["streamed"]
    assert stream.completion is not None
    assert stream.completion.metadata["answered_by"] == "lmstudio"

    async def run() -> tuple[list[str], Any]:
        s = provider.astream("Hi")
        return [c async for c in s], s.completion

    pieces, result = asyncio.run(run())
    assert pieces == ["streamed"] and result.metadata["answered_by"] == "lmstudio"


def test_async_fallback(server: FakeServer, fast: Any, dead_url: str) -> None:
    lmstudio_routes(server)
    provider = chain({"api_base": dead_url}, server, fast)
    assert asyncio.run(provider.agenerate("Hi")) == "re: Hi"
    assert provider.last_provider == "lmstudio"  # type: ignore[attr-defined]


def test_fallback_with_a_single_unreachable_provider_raises(dead_url: str, fast: Any) -> None:
    with pytest.raises(ProviderConnectionError):
        LLMBackendAdapter().create_provider(
            LLMProviderConfig("lmstudio", {"api_base": dead_url, **fast})
        ).generate("x")


def test_fallback_fits_the_context_through_each_providers_own_window(
    server: FakeServer, fast: Any, dead_url: str
) -> None:
    # LM Studio reports a 4096-token window; with its max_tokens of 1024 the old turn must go.
    lmstudio_routes(server)
    provider = chain({"api_base": dead_url}, server, fast)
    context = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "old " * 5000},
        {"role": "assistant", "content": "noted"},
    ]
    assert provider.generate_with_context("Hi", context) == "re: Hi"
    assert asyncio.run(provider.agenerate_with_context("Hi", context)) == "re: Hi"
    for request in server.requests_to("/v1/chat/completions"):
        sent = [m["content"] for m in request.json()["messages"]]
        assert sent == ["Be brief.", "noted", "Hi"]


def test_the_protocol_declares_what_the_fallback_chain_calls() -> None:
    for method in ("complete_with_context", "acomplete_with_context"):
        assert method in LLMProvider.__dict__
        stripped = type(
            "Stripped",
            (),
            {name: getattr(OfflineProvider, name) for name in dir(OfflineProvider)
             if not name.startswith("__") and name != method} | {"name": "stripped"},
        )  # fmt: skip
        assert not isinstance(stripped(), LLMProvider)
    assert "getattr(" not in Path(fallback_module.__file__).read_text(encoding="utf-8")
