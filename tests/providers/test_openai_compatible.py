"""Any OpenAI-compatible server: local ones without a key, OpenRouter, and the dialects the
compatible servers speak, each tested against the local server speaking it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter
from devsynth.application.llm.http_provider import is_local_url
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.application.llm.openrouter_provider import OPENROUTER_API_BASE, OpenRouterProvider
from devsynth.domain.llm import Completion, LLMProvider
from devsynth.errors import (
    AuthenticationError,
    ConfigurationError,
    ContextLengthExceededError,
    NotFoundError,
    QuotaExceededError,
    StreamInterruptedError,
)
from tests.support.llm_server import (
    DIALECTS,
    OPENAI_DIALECT,
    Dialect,
    FakeServer,
    Reply,
    openai_compatible,
    sse,
    stream_reply,
)

PATH = "/v1/chat/completions"


def local(server: FakeServer, fast: dict[str, Any], **params: Any) -> LLMProvider:
    """``provider_type="openai"`` pointed at a local server, without a key, as a user of vLLM,
    Ollama or llama.cpp writes it."""
    return LLMBackendAdapter().create_provider(
        "openai", {"api_base": server.url + "/v1", "model": "served-model", **fast, **params}
    )


# -- local servers need no key ----------------------------------------------------------------


def test_openai_type_on_localhost_needs_no_key(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, openai_compatible(OPENAI_DIALECT))
    assert local(server, fast).generate("Hi") == "Hello there"
    assert "authorization" not in server.requests[0].headers
    localhost = server.url.replace("127.0.0.1", "localhost")
    provider = LLMBackendAdapter().create_provider("openai", {"api_base": localhost + "/v1"})
    assert provider.generate("Hi") == "Hello there"


@pytest.mark.parametrize(
    "api_base",
    [
        "http://localhost:11434/v1",  # Ollama
        "http://127.0.0.1:8000/v1",  # vLLM
        "http://[::1]:8080/v1",  # llama.cpp over IPv6 loopback
        "http://10.0.0.5:8000/v1",
        "http://192.168.1.20:11434/v1",
        "http://172.16.3.4:8080/v1",
        "http://169.254.10.10/v1",
        "http://100.101.102.103:8000/v1",  # a Tailscale address
        "http://vllm:8000/v1",  # a container's service name
        "http://gpu-box.local:8000/v1",
        "http://llm.internal/v1",
    ],
)
def test_local_and_private_addresses_need_no_key(api_base: str) -> None:
    assert is_local_url(api_base)
    provider = LLMBackendAdapter().create_provider("openai", {"api_base": api_base})
    assert isinstance(provider, OpenAIProvider)


@pytest.mark.parametrize(
    "api_base",
    ["https://api.openai.com/v1", "https://api.together.xyz/v1", "http://8.8.8.8/v1"],
)
def test_public_servers_still_need_a_key(api_base: str) -> None:
    assert not is_local_url(api_base)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY") as info:
        LLMBackendAdapter().create_provider("openai", {"api_base": api_base})
    assert "private address needs none" in str(info.value)


def test_a_key_given_for_a_local_server_is_sent(
    server: FakeServer, fast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vLLM started with --api-key checks it: the usual OPENAI_API_KEY reaches it.
    server.route("POST", PATH, openai_compatible(OPENAI_DIALECT))
    monkeypatch.setenv("OPENAI_API_KEY", "token-abc123456")
    local(server, fast).generate("Hi")
    assert server.requests[0].headers["authorization"] == "Bearer token-abc123456"


# -- OpenRouter -------------------------------------------------------------------------------


def openrouter(server: FakeServer, fast: dict[str, Any], **params: Any) -> LLMProvider:
    return LLMBackendAdapter().create_provider(
        "openrouter", {"api_base": server.url + "/api/v1", **fast, **params}
    )


def test_openrouter_reads_its_key_from_the_environment(
    server: FakeServer, fast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-be-sent")
    server.route("POST", "/api/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    provider = openrouter(server, fast, model="anthropic/claude-sonnet-4")
    assert provider.generate("Hi") == "Hello there"
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-or-v1-0123456789abcdef"
    assert sent.json()["model"] == "anthropic/claude-sonnet-4"
    assert "http-referer" not in sent.headers and "x-title" not in sent.headers


def test_openrouter_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef")
    provider = LLMBackendAdapter().create_provider("openrouter")
    assert isinstance(provider, OpenRouterProvider)
    assert provider.http.base_url == OPENROUTER_API_BASE == "https://openrouter.ai/api/v1"
    assert provider.model == "openai/gpt-4o-mini"


def test_openrouter_without_a_key_says_which_variable() -> None:
    with pytest.raises(AuthenticationError, match="OPENROUTER_API_KEY"):
        LLMBackendAdapter().create_provider("openrouter")


def test_openrouter_sends_attribution_headers_when_configured(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", "/api/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    provider = openrouter(
        server,
        fast,
        api_key="sk-or-v1-0123456789abcdef",
        site_url="https://devsynth.example",
        app_name="DevSynth",
    )
    list(provider.stream("Hi"))
    asyncio.run(provider.agenerate("Hi"))
    for sent in server.requests:
        assert sent.headers["http-referer"] == "https://devsynth.example"
        assert sent.headers["x-title"] == "DevSynth"


def test_openrouter_attribution_from_the_project_file(
    server: FakeServer, fast: Any, tmp_path: Any
) -> None:
    (tmp_path / "devsynth.toml").write_text('[llm.openrouter]\napp_name = "My Tool"\n')
    server.route("POST", "/api/v1/chat/completions", openai_compatible(OPENAI_DIALECT))
    openrouter(server, fast, api_key="sk-or-v1-0123456789abcdef").generate("Hi")
    assert server.requests[0].headers["x-title"] == "My Tool"


def test_openrouter_attribution_must_be_one_ascii_line() -> None:
    with pytest.raises(ConfigurationError, match="app_name"):
        OpenRouterProvider({"api_key": "sk-or-v1-0123456789", "app_name": "Dév\r\nX-Evil: 1"})


def test_openrouter_out_of_credit_is_a_quota_error(server: FakeServer, fast: Any) -> None:
    error = {"code": 402, "message": "Insufficient credits"}
    server.route("POST", "/api/v1/chat/completions", Reply(402, body={"error": error}))
    with pytest.raises(QuotaExceededError, match="Insufficient credits"):
        openrouter(server, fast, api_key="sk-or-v1-0123456789abcdef").generate("Hi")
    assert len(server.requests) == 1


def test_auto_picks_openrouter_when_only_its_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef")
    assert LLMBackendAdapter().select_provider_type() == "openrouter"
    assert isinstance(LLMBackendAdapter().create_provider("auto"), OpenRouterProvider)


# -- the dialects -----------------------------------------------------------------------------

DIALECT_PARAMS = [pytest.param(d, id=d.name) for d in DIALECTS if not d.errors_in_200]


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
def test_each_dialect_generates_and_streams(
    dialect: Dialect, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, openai_compatible(dialect))
    provider = local(server, fast)
    completion = provider.complete([{"role": "user", "content": "Hi"}])
    assert (completion.text, completion.finish_reason) == ("Hello there", "stop")
    stream = provider.stream("Hi")
    pieces = list(stream)
    assert "".join(pieces) == "Hello there"
    assert len(pieces) == (3 if dialect.streams else 1)
    streamed = stream.completion
    assert streamed is not None and streamed.finish_reason == "stop"
    assert streamed.model == "served-model"

    async def run() -> tuple[list[str], Completion | None]:
        s = provider.astream("Hi")
        return [piece async for piece in s], s.completion

    apieces, acompletion = asyncio.run(run())
    assert apieces == pieces
    assert acompletion is not None and acompletion.finish_reason == "stop"

    if dialect.usage:
        assert completion.usage is not None and completion.usage.completion_tokens == 3
    else:
        assert completion.usage is None  # not reported, so not invented
    if dialect.usage and dialect.usage_in_stream:
        assert streamed.usage is not None and streamed.usage.prompt_tokens == 7
    elif not dialect.usage or dialect.streams:
        assert streamed.usage is None


def test_errors_inside_a_200_reply(server: FakeServer, fast: Any) -> None:
    dialect = next(d for d in DIALECTS if d.errors_in_200)
    error = {
        "message": "model 'x' not found",
        "type": "invalid_request_error",
        "code": "model_not_found",
    }
    server.route(
        "POST", PATH, openai_compatible(dialect, error=error, headers={"x-request-id": "r9"})
    )
    provider = local(server, fast)
    for call in (
        lambda: provider.generate("Hi"),
        lambda: list(provider.stream("Hi")),
        lambda: asyncio.run(provider.agenerate("Hi")),
    ):
        with pytest.raises(NotFoundError, match="not found") as info:
            call()
        assert (info.value.status, info.value.request_id) == (200, "r9")
    overflow = {"message": "This model's maximum context length is 4096 tokens"}
    server.route("POST", PATH, openai_compatible(dialect, error=overflow))
    with pytest.raises(ContextLengthExceededError):
        list(provider.stream("Hi"))


def test_an_error_event_inside_a_200_stream(server: FakeServer, fast: Any) -> None:
    # OpenRouter reports a provider failing midway as an event with an error object.
    failing = {"error": {"code": 502, "message": "upstream failed"},
               "choices": [{"delta": {"content": ""}, "finish_reason": "error"}]}  # fmt: skip
    ok = {"choices": [{"delta": {"content": "par"}, "finish_reason": None}]}
    server.route("POST", PATH, stream_reply(sse(ok, failing), headers={"x-request-id": "r1"}))
    stream = local(server, fast).stream("Hi")
    with pytest.raises(StreamInterruptedError, match="upstream failed") as info:
        list(stream)
    assert info.value.request_id == "r1"
    assert stream.text == "par"


def test_data_lines_without_a_space_split_anywhere(server: FakeServer, fast: Any) -> None:
    body = b'data:{"choices":[{"delta":{"content":"a"},"finish_reason":null}]}\n\n'
    body += (
        b'data:{"choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}\n\ndata:[DONE]\n\n'
    )
    server.route("POST", PATH, stream_reply(*[body[i : i + 1] for i in range(len(body))]))
    assert list(local(server, fast).stream("Hi")) == ["a", "b"]


def test_without_done_marker_an_unfinished_stream_is_still_interrupted(
    server: FakeServer, fast: Any
) -> None:
    # A clean end after a finish reason is a whole answer; before one, it is not.
    partial = sse({"choices": [{"delta": {"content": "par"}, "finish_reason": None}]})
    server.route("POST", PATH, stream_reply(partial))
    with pytest.raises(StreamInterruptedError, match=r"\[DONE\]"):
        list(local(server, fast).stream("Hi"))


def test_the_stream_asks_for_usage_the_openai_way(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, openai_compatible(OPENAI_DIALECT))
    list(local(server, fast).stream("Hi"))
    body = server.requests[0].json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
