"""BaseProvider: the public API a backend gets from its hooks, and context fitting."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from typing import Any, ClassVar

import pytest

from devsynth.application.llm.base import BaseProvider, StreamPart
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.domain.llm import (
    AsyncCompletionStream,
    Completion,
    CompletionStream,
    LLMProvider,
    Usage,
)
from devsynth.errors import TokenLimitExceededError, UnsupportedOperationError
from tests.support.llm_server import FakeServer, Reply


class Recorder(BaseProvider):
    """Answers with the last message; remembers what it was sent."""

    name = "recorder"
    defaults: ClassVar[Mapping[str, Any]] = {"model": "gpt-4o", "max_tokens": 100}

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(parameters)
        self.sent: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def _complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        self.sent.append((messages, params))
        return Completion(
            text=f"re: {messages[-1]['content']}",
            provider=self.name,
            model=params["model"],
            usage=Usage(3, 2),
            finish_reason="stop",
        )


class Streamer(Recorder):
    closed = False

    def _stream(
        self, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Generator[StreamPart, None, None]:
        try:
            yield "one "
            yield "two"
            yield Completion(text="", provider=self.name, usage=Usage(1, 2), finish_reason="stop")
        finally:
            Streamer.closed = True


def test_sync_and_async_api_from_complete_alone() -> None:
    p = Recorder()
    assert isinstance(p, LLMProvider)
    assert p.generate("hi") == "re: hi"
    assert p.generate_with_context("q", [{"role": "system", "content": "s"}]) == "re: q"
    stream = p.stream("hi")
    assert isinstance(stream, CompletionStream)
    assert list(stream) == ["re: hi"]
    assert stream.completion is not None and stream.completion.usage == Usage(3, 2)

    async def run() -> list[Any]:
        astream = p.astream_with_context("q", [])
        assert isinstance(astream, AsyncCompletionStream)
        return [
            await p.agenerate("a"),
            await p.agenerate_with_context("b", [{"role": "user", "content": "x"}]),
            [c async for c in astream],
            astream.completion.finish_reason,  # type: ignore[union-attr]
            (await p.acomplete([{"role": "user", "content": "c"}])).usage,
        ]

    assert asyncio.run(run()) == ["re: a", "re: b", ["re: q"], "stop", Usage(3, 2)]


def test_caller_messages_are_not_mutated_and_overrides_skip_none() -> None:
    p = Recorder({"temperature": 0.5})
    context = [{"role": "user", "content": "x"}]
    p.generate_with_context("q", context, {"temperature": None, "model": "other"})
    messages, params = p.sent[0]
    assert context == [{"role": "user", "content": "x"}]
    assert params["temperature"] == 0.5 and params["model"] == "other"
    messages[0]["content"] = "changed"
    assert context[0]["content"] == "x"


def test_stream_completion_and_early_close() -> None:
    p = Streamer()
    stream = p.stream("hi")
    assert list(stream) == ["one ", "two"]
    assert stream.completion is not None
    assert stream.completion.text == "one two"
    assert stream.completion.usage == Usage(1, 2)
    Streamer.closed = False
    stream = p.stream("hi")
    assert next(stream) == "one "
    stream.close()
    assert Streamer.closed  # the backend's finally ran: its connection would be freed
    assert stream.completion is None


def test_embeddings_default_to_unsupported() -> None:
    with pytest.raises(UnsupportedOperationError, match="recorder"):
        Recorder().get_embedding("x")


def test_secret_parameters_are_masked() -> None:
    p = Recorder({"api_key": "sk-abcdef123456789", "auth_token": "t0ken-123"})
    assert "sk-abcdef" not in repr(p)
    assert p.parameters["api_key"] == "***" and p.parameters["auth_token"] == "***"


# -- context fitting (TokenTracker) -----------------------------------------------------------


def long_context(n: int) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are terse."}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "lorem " * 30}
        for i in range(n)
    ]


def test_context_is_pruned_to_window_minus_max_tokens() -> None:
    p = Recorder({"context_window": 500, "max_tokens": 200})
    context = long_context(40)
    p.generate_with_context("final question", context)
    sent = p.sent[0][0]
    tracker = TokenTracker("gpt-4o")
    assert tracker.count_conversation_tokens(sent) <= 300
    assert sent[0] == context[0]  # the system message stays
    assert sent[-1] == {"role": "user", "content": "final question"}
    assert sent[1:-1] == context[len(context) - (len(sent) - 2) :]  # the newest turns
    # with a bigger budget, more is kept: the budget really is window - max_tokens
    q = Recorder({"context_window": 500, "max_tokens": 50})
    q.generate_with_context("final question", context)
    assert len(q.sent[0][0]) > len(sent)


def test_the_model_window_comes_from_the_tracker_when_known() -> None:
    p = Recorder({"model": "gpt-4"})  # 8192 tokens
    context = long_context(400)
    p.generate_with_context("q", context)
    assert 2 < len(p.sent[0][0]) < len(context)
    big = Recorder({"model": "gpt-4o"})  # 128k: nothing to drop
    big.generate_with_context("q", context)
    assert len(big.sent[0][0]) == len(context) + 1


def test_prompt_that_cannot_fit_raises_before_sending(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", Reply(body={}))
    p = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": "sk-123456789012", "context_window": 300,
         "max_tokens": 100}
    )  # fmt: skip
    with pytest.raises(TokenLimitExceededError) as info:
        p.generate_with_context("word " * 400, [{"role": "user", "content": "old"}])
    assert info.value.max_tokens == 200
    assert info.value.current_tokens is not None and info.value.current_tokens > 200
    with pytest.raises(TokenLimitExceededError):
        list(p.stream_with_context("word " * 400, []))
    with pytest.raises(TokenLimitExceededError):
        asyncio.run(p.agenerate_with_context("word " * 400, []))
    assert server.requests == []


def test_system_messages_alone_too_big() -> None:
    p = Recorder({"context_window": 200, "max_tokens": 50})
    with pytest.raises(TokenLimitExceededError):
        p.generate_with_context("q", [{"role": "system", "content": "rule " * 300}])


def test_max_tokens_larger_than_the_window() -> None:
    with pytest.raises(TokenLimitExceededError):
        Recorder({"context_window": 100, "max_tokens": 100}).generate_with_context("q", [])
