"""Anthropic provider against a local server speaking the Messages API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devsynth.application.llm.anthropic_provider import AnthropicProvider, to_anthropic_messages
from devsynth.errors import (
    AuthenticationError,
    ContextLengthExceededError,
    ServerError,
    StreamInterruptedError,
    UnsupportedOperationError,
)
from tests.support.llm_server import FakeServer, Reply, named_events, stream_reply

KEY = "sk-ant-test-0123456789"
PATH = "/v1/messages"


def message_body(text: str = "Hi!") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 4},
    }


def events(*texts: str, stop: bool = True) -> bytes:
    out: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "model": "claude-sonnet-4-20250514",
            "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]  # fmt: skip
    for text in texts:
        out.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": text}})
        )  # fmt: skip
    out += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 15}}),
    ]  # fmt: skip
    if stop:
        out.append(("message_stop", {"type": "message_stop"}))
    return named_events(*out)


def provider(server: FakeServer, fast: dict[str, Any], **params: Any) -> AnthropicProvider:
    return AnthropicProvider({"api_base": server.url, "api_key": KEY, **fast, **params})


def test_request_headers_and_body(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=message_body(), headers={"request-id": "req_a"}))
    p = provider(server, fast, temperature=0)
    context = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "One"},
        {"role": "user", "content": "Two"},
        {"role": "assistant", "content": "Yes"},
    ]
    result = p.complete_with_context("Three", context)
    sent = server.requests[0]
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 4096,  # always sent: the API requires it
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "One\n\nTwo"},
            {"role": "assistant", "content": "Yes"},
            {"role": "user", "content": "Three"},
        ],
        "temperature": 0,
    }
    assert result.text == "Hi!"
    assert result.finish_reason == "end_turn"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (12, 4)  # type: ignore[union-attr]
    assert result.request_id == "req_a"


def test_message_conversion_merges_blocks_and_systems() -> None:
    system, messages = to_anthropic_messages(
        [
            {"role": "system", "content": "A"},
            {"role": "developer", "content": "B"},
            {"role": "user", "content": "text"},
            {"role": "user", "content": [{"type": "image", "source": {}}]},
        ]
    )
    assert system == "A\n\nB"
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "text"}, {"type": "image", "source": {}}],
        }
    ]


def test_api_base_with_v1_suffix_is_accepted(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=message_body()))
    AnthropicProvider({"api_base": server.url + "/v1", "api_key": KEY, **fast}).generate("x")
    assert server.paths() == ["POST /v1/messages"]


def test_key_from_environment(
    server: FakeServer, fast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-987654")
    server.route("POST", PATH, Reply(body=message_body()))
    AnthropicProvider({"api_base": server.url, **fast}).generate("x")
    assert server.requests[0].headers["x-api-key"] == "sk-ant-env-987654"


def test_missing_key_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider({})


def test_stream_events_become_text_and_cumulative_usage(server: FakeServer, fast: Any) -> None:
    server.route(
        "POST", PATH, stream_reply(events("Hel", "lo ", "wörld"), headers={"request-id": "r"})
    )
    stream = provider(server, fast).stream("Hi")
    assert list(stream) == ["Hel", "lo ", "wörld"]
    result = stream.completion
    assert result is not None and result.text == "Hello wörld"
    # message_delta's output_tokens is cumulative (15), not added to message_start's 1.
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (25, 15)  # type: ignore[union-attr]
    assert result.finish_reason == "end_turn"
    assert server.requests[0].json()["stream"] is True


def test_stream_with_crlf_line_ends(server: FakeServer, fast: Any) -> None:
    body = events("a", "b").replace(b"\n", b"\r\n")
    server.route("POST", PATH, stream_reply(*[body[i : i + 7] for i in range(0, len(body), 7)]))
    assert "".join(provider(server, fast).stream("Hi")) == "ab"


def test_error_event_after_http_200(server: FakeServer, fast: Any) -> None:
    body = events("partial", stop=False).split(b"event: content_block_stop")[0] + named_events(
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    server.route("POST", PATH, stream_reply(body))
    received = []
    with pytest.raises(StreamInterruptedError, match="Overloaded") as info:
        for piece in provider(server, fast).stream("Hi"):
            received.append(piece)
    assert received == ["partial"]
    assert info.value.error_type == "overloaded_error"


def test_stream_ending_without_message_stop(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(events("a", stop=False)))
    with pytest.raises(StreamInterruptedError, match="message_stop"):
        list(provider(server, fast).stream("Hi"))


def test_async_stream(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(events("x", "y")))
    p = provider(server, fast)

    async def run() -> tuple[list[str], Any]:
        stream = p.astream_with_context("Hi", [{"role": "system", "content": "S"}])
        pieces = [piece async for piece in stream]
        await p.aclose()
        return pieces, stream.completion

    pieces, result = asyncio.run(run())
    assert pieces == ["x", "y"] and result.usage.completion_tokens == 15
    assert server.requests[0].json()["system"] == "S"


def test_overloaded_529_is_retried(server: FakeServer, fast: Any) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.route("POST", PATH, Reply(529, body=overloaded), Reply(body=message_body("after")))
    assert provider(server, fast).generate("x") == "after"
    assert len(server.requests) == 2


def test_overloaded_after_retries_is_a_server_error(server: FakeServer, fast: Any) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.route("POST", PATH, Reply(529, body=overloaded, headers={"request-id": "req_o"}))
    with pytest.raises(ServerError) as info:
        provider(server, fast).generate("x")
    assert (info.value.status, info.value.error_type, info.value.request_id) == (
        529,
        "overloaded_error",
        "req_o",
    )


def test_prompt_too_long_is_a_context_length_error(server: FakeServer, fast: Any) -> None:
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    server.route("POST", PATH, Reply(400, body=error))
    with pytest.raises(ContextLengthExceededError):
        provider(server, fast).generate("x")


def test_count_tokens(server: FakeServer, fast: Any) -> None:
    server.route("POST", "/v1/messages/count_tokens", Reply(body={"input_tokens": 14}))
    p = provider(server, fast)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hello"}]
    assert p.count_tokens(messages) == 14
    assert server.requests[0].json() == {
        "model": "claude-sonnet-4-20250514",
        "messages": [{"role": "user", "content": "Hello"}],
        "system": "S",
    }
    assert asyncio.run(p.acount_tokens(messages)) == 14


def test_embeddings_are_unsupported(server: FakeServer, fast: Any) -> None:
    p = provider(server, fast)
    with pytest.raises(UnsupportedOperationError, match="embeddings"):
        p.get_embedding("x")
    with pytest.raises(UnsupportedOperationError):
        asyncio.run(p.aget_embedding("x"))
    assert server.requests == []
