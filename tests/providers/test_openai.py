"""OpenAI provider against a local server speaking OpenAI's wire format."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    StreamInterruptedError,
    TokenLimitExceededError,
)
from tests.support.llm_server import FakeServer, Reply, chunks_at, sse, stream_reply

KEY = "sk-test-0123456789abcdef"
PATH = "/v1/chat/completions"


def completion_body(text: str = "Hello!", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        **extra,
    }  # fmt: skip


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


def provider(server: FakeServer, fast: dict[str, Any], **params: Any) -> OpenAIProvider:
    return OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, **fast, **params})


def test_generate_sends_openai_request_and_returns_text(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=completion_body(), headers={"x-request-id": "req_1"}))
    p = provider(server, fast, model="gpt-4o", max_tokens=50, temperature=0)
    assert p.generate("Hi there") == "Hello!"
    sent = server.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi there"}],
        "max_tokens": 50,
        "temperature": 0,  # zero is a value, not "unset"
    }


def test_complete_returns_usage_finish_reason_model_and_request_id(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=completion_body(), headers={"x-request-id": "req_1"}))
    result = provider(server, fast).complete([{"role": "user", "content": "Hi"}])
    assert result.text == "Hello!"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 3)  # type: ignore[union-attr]
    assert result.usage.total_tokens == 12  # type: ignore[union-attr]
    assert result.finish_reason == "stop"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.provider == "openai"
    assert result.request_id == "req_1"


def test_per_call_parameters_override_configured_ones(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=completion_body()))
    p = provider(server, fast, model="gpt-4o", temperature=0.7)
    p.generate("x", {"temperature": 0, "model": "gpt-4.1", "max_tokens": None})
    body = server.requests[0].json()
    assert (body["temperature"], body["model"]) == (0, "gpt-4.1")
    assert "max_tokens" not in body


def test_key_comes_from_the_environment(
    server: FakeServer, fast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    server.route("POST", PATH, Reply(body=completion_body()))
    OpenAIProvider({"api_base": server.url + "/v1", **fast}).generate("x")
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env-123456"


def test_missing_key_for_openai_itself_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAIProvider({})


def test_default_api_base_is_openai() -> None:
    p = OpenAIProvider({"api_key": KEY})
    assert p.http.base_url == "https://api.openai.com/v1"


def test_stream_yields_chunks_and_keeps_usage(server: FakeServer, fast: Any) -> None:
    body = sse(chunk("Hel"), chunk("lo"), chunk(None, "stop"), USAGE_CHUNK, "[DONE]")
    server.route("POST", PATH, stream_reply(body, headers={"x-request-id": "req_s"}))
    stream = provider(server, fast).stream("Hi")
    assert list(stream) == ["Hel", "lo"]
    result = stream.completion
    assert result is not None
    assert result.text == "Hello"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 2)  # type: ignore[union-attr]
    assert result.finish_reason == "stop"
    assert result.request_id == "req_s"
    sent = server.requests[0].json()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_stream_tolerates_null_choices(server: FakeServer, fast: Any) -> None:
    usage_null = {**USAGE_CHUNK, "choices": None}
    server.route("POST", PATH, stream_reply(sse(chunk("ok"), usage_null, "[DONE]")))
    stream = provider(server, fast).stream("Hi")
    assert list(stream) == ["ok"]
    assert stream.completion.usage.completion_tokens == 2  # type: ignore[union-attr]


def test_stream_with_utf8_and_crlf_split_across_network_chunks(
    server: FakeServer, fast: Any
) -> None:
    body = sse(chunk("naïve café 😀"), chunk(" 日本"), "[DONE]").replace(b"\n", b"\r\n")
    emoji = body.index("😀".encode()) + 2  # inside the 4-byte emoji
    kanji = body.index("日".encode()) + 1
    crlf = body.index(b"\r\n") + 1  # between CR and LF
    server.route("POST", PATH, stream_reply(*chunks_at(body, [crlf, emoji, kanji])))
    stream = provider(server, fast).stream("Hi")
    assert "".join(stream) == "naïve café 😀 日本"


def test_stream_cut_before_done_is_interrupted(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(sse(chunk("partial"))))
    stream = provider(server, fast).stream("Hi")
    received = []
    with pytest.raises(StreamInterruptedError, match=r"\[DONE\]"):
        for piece in stream:
            received.append(piece)
    assert received == ["partial"]
    assert stream.completion is None


def test_connection_dropped_mid_stream_is_interrupted(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(sse(chunk("par")), 0.01, b"data: {", cut=True))
    with pytest.raises(StreamInterruptedError):
        list(provider(server, fast).stream("Hi"))


def test_error_event_mid_stream(server: FakeServer, fast: Any) -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    server.route("POST", PATH, stream_reply(sse(chunk("a"), error)))
    with pytest.raises(StreamInterruptedError, match="server had an error") as info:
        list(provider(server, fast).stream("Hi"))
    assert info.value.error_type == "server_error"


def test_closing_a_stream_early_stops_reading(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(sse(chunk("a")), 5.0, sse(chunk("b"), "[DONE]")))
    server.route("POST", "/v1/embeddings", Reply(body={"data": [{"embedding": [1.0]}]}))
    p = provider(server, fast)
    stream = p.stream("Hi")
    assert next(stream) == "a"
    stream.close()
    assert p.get_embedding("x") == [1.0]


def test_async_generate_and_stream(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=completion_body("async!")))
    p = provider(server, fast)

    async def run() -> tuple[str, list[str], Any]:
        text = await p.agenerate("Hi")
        server.route(
            "POST", PATH, stream_reply(sse(chunk("x"), chunk("y", "stop"), USAGE_CHUNK, "[DONE]"))
        )
        stream = p.astream("Hi")
        pieces = [piece async for piece in stream]
        await p.aclose()
        return text, pieces, stream.completion

    text, pieces, result = asyncio.run(run())
    assert text == "async!"
    assert pieces == ["x", "y"]
    assert result.usage.total_tokens == 11


def test_async_stream_cut_before_done(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(sse(chunk("x"))))

    async def run() -> None:
        async for _ in provider(server, fast).astream("Hi"):
            pass

    with pytest.raises(StreamInterruptedError):
        asyncio.run(run())


def test_embeddings(server: FakeServer, fast: Any) -> None:
    server.route("POST", "/v1/embeddings", Reply(body={"data": [{"embedding": [0.1, 0.2]}]}))
    p = provider(server, fast)
    assert p.get_embedding("text") == [0.1, 0.2]
    assert server.requests[0].json() == {"model": "text-embedding-3-small", "input": "text"}
    assert asyncio.run(p.aget_embedding("text")) == [0.1, 0.2]


def test_models(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/v1/models", Reply(body={"data": [{"id": "gpt-4o"}, {"id": "o3"}]}))
    assert provider(server, fast).list_models() == ["gpt-4o", "o3"]


def test_context_length_error_is_recognised(server: FakeServer, fast: Any) -> None:
    error = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    server.route("POST", PATH, Reply(400, body=error, headers={"x-request-id": "req_c"}))
    with pytest.raises(ContextLengthExceededError) as info:
        provider(server, fast).generate("long")
    assert isinstance(info.value, TokenLimitExceededError)
    assert isinstance(info.value, BadRequestError)
    assert (info.value.status, info.value.error_type, info.value.request_id) == (
        400,
        "invalid_request_error",
        "req_c",
    )


def test_invalid_key_error_never_echoes_the_key(server: FakeServer, fast: Any) -> None:
    error = {"error": {"message": f"Incorrect API key provided: {KEY}.", "code": "invalid_api_key"}}
    server.route("POST", PATH, Reply(401, body=error))
    with pytest.raises(AuthenticationError) as info:
        provider(server, fast).generate("x")
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert info.value.status == 401
    assert len(server.requests) == 1


def test_response_that_is_not_json(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=b"<html>gateway</html>"))
    with pytest.raises(ProviderError, match="not JSON"):
        provider(server, fast).generate("x")


def test_timeout_parameter_bounds_a_slow_server(server: FakeServer) -> None:
    server.route("POST", PATH, Reply(delay=3.0, body=completion_body()))
    p = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, "timeout": 0.3})
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        p.generate("x")
    assert time.monotonic() - started < 1.5


def test_stalled_stream_is_bounded_by_the_timeout_parameter(server: FakeServer) -> None:
    server.route("POST", PATH, stream_reply(sse(chunk("a")), 10.0, sse("[DONE]")))
    p = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, "timeout": 0.3})
    started = time.monotonic()
    stream = p.stream("x")
    assert next(stream) == "a"
    with pytest.raises(ProviderTimeoutError):
        next(stream)
    assert time.monotonic() - started < 1.5


def test_max_retries_parameter(server: FakeServer) -> None:
    server.route("POST", PATH, Reply(500))
    p = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, "max_retries": 0})
    with pytest.raises(ServerError):
        p.generate("x")
    assert len(server.requests) == 1
    server.requests.clear()
    p = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "max_retries": 3,
         "retry_initial_delay": 0.001}
    )  # fmt: skip
    with pytest.raises(ServerError):
        p.generate("x")
    assert len(server.requests) == 4
