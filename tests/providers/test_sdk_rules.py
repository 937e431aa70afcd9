"""The official SDKs' retry and error rules, on both wire protocols: ``x-should-retry``, no
retry when the quota is used up, 409 as its own class, request ids on broken streams, and
the whole-call versus per-attempt timeout."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
from devsynth.application.llm.http import Timeouts
from devsynth.domain.llm import LLMProvider
from devsynth.errors import (
    BadRequestError,
    ConflictError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from tests.support.llm_server import FakeServer, Reply, named_events, sse, stream_reply


@dataclass(frozen=True)
class Wire:
    """One provider type's path, success body and stream, for parametrized tests."""

    kind: str
    path: str
    base_suffix: str
    ok: dict[str, Any]
    stream_start: bytes
    stream_end: bytes


OPENAI = Wire(
    kind="openai",
    path="/v1/chat/completions",
    base_suffix="/v1",
    ok={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]},
    stream_start=sse({"choices": [{"delta": {"content": "par"}, "finish_reason": None}]}),
    stream_end=sse({"choices": [{"delta": {}, "finish_reason": "stop"}]}, "[DONE]"),
)
ANTHROPIC = Wire(
    kind="anthropic",
    path="/v1/messages",
    base_suffix="",
    ok={"type": "message", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"},
    stream_start=named_events(
        ("message_start", {"type": "message_start", "message": {"id": "msg_1"}}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "par"}},
        ),
    ),
    stream_end=named_events(("message_stop", {"type": "message_stop"})),
)
WIRES = [pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic")]


def provider(wire: Wire, server: FakeServer, fast: dict[str, Any], **params: Any) -> LLMProvider:
    parameters = {"api_base": server.url + wire.base_suffix, "api_key": "sk-test-123456789"}
    return LLMBackendAdapter().create_provider(
        LLMProviderConfig(wire.kind, {**parameters, **fast, **params})
    )


# -- x-should-retry ---------------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_x_should_retry_true_retries_a_status_that_is_never_retried(
    wire: Wire, server: FakeServer, fast: Any
) -> None:
    refused = Reply(
        400, body={"error": {"message": "try again"}}, headers={"x-should-retry": "true"}
    )
    server.route("POST", wire.path, refused, Reply(body=wire.ok))
    assert provider(wire, server, fast).generate("Hi") == "ok"
    assert len(server.requests) == 2


@pytest.mark.parametrize("wire", WIRES)
def test_x_should_retry_false_stops_a_status_that_is_always_retried(
    wire: Wire, server: FakeServer, fast: Any
) -> None:
    server.route("POST", wire.path, Reply(503, headers={"x-should-retry": "false"}))
    with pytest.raises(ServerError):
        provider(wire, server, fast).generate("Hi")
    assert len(server.requests) == 1
    server.requests.clear()
    with pytest.raises(ServerError):
        asyncio.run(provider(wire, server, fast).agenerate("Hi"))
    assert len(server.requests) == 1


def test_without_x_should_retry_the_status_rules_hold(server: FakeServer, fast: Any) -> None:
    server.route("POST", OPENAI.path, Reply(400, body={"error": {"message": "bad"}}))
    with pytest.raises(BadRequestError):
        provider(OPENAI, server, fast).generate("Hi")
    assert len(server.requests) == 1


# -- quota, 402 and 409 -----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["type", "code"])
def test_429_insufficient_quota_fails_at_once(server: FakeServer, fast: Any, field: str) -> None:
    error = {"message": "You exceeded your current quota", field: "insufficient_quota"}
    server.route("POST", OPENAI.path, Reply(429, body={"error": error}))
    with pytest.raises(QuotaExceededError) as info:
        provider(OPENAI, server, fast).generate("Hi")
    assert isinstance(info.value, RateLimitError)  # still a 429 to those who catch that
    assert info.value.error_type == "insufficient_quota"
    assert len(server.requests) == 1
    server.requests.clear()
    with pytest.raises(QuotaExceededError):
        asyncio.run(provider(OPENAI, server, fast).agenerate("Hi"))
    assert len(server.requests) == 1


def test_an_ordinary_429_is_still_retried(server: FakeServer, fast: Any) -> None:
    limited = Reply(
        429, body={"error": {"type": "rate_limit_exceeded"}}, headers={"retry-after-ms": "1"}
    )
    server.route("POST", OPENAI.path, limited, Reply(body=OPENAI.ok))
    assert provider(OPENAI, server, fast).generate("Hi") == "ok"
    assert len(server.requests) == 2


def test_402_payment_required_is_a_quota_error(server: FakeServer, fast: Any) -> None:
    server.route("POST", OPENAI.path, Reply(402, body={"error": {"message": "no credits"}}))
    with pytest.raises(QuotaExceededError, match="no credits"):
        provider(OPENAI, server, fast).generate("Hi")
    assert len(server.requests) == 1


@pytest.mark.parametrize("wire", WIRES)
def test_409_is_a_conflict_error_and_retried(wire: Wire, server: FakeServer, fast: Any) -> None:
    conflict = Reply(409, body={"error": {"message": "lock held", "type": "conflict"}})
    server.route("POST", wire.path, conflict)
    with pytest.raises(ConflictError, match="lock held") as info:
        provider(wire, server, fast).generate("Hi")
    assert isinstance(info.value, ServerError)  # fallback chains still move on
    assert info.value.status == 409
    assert len(server.requests) == 3  # the first try and two retries
    server.requests.clear()
    server.route("POST", wire.path, conflict, Reply(body=wire.ok))
    assert provider(wire, server, fast).generate("Hi") == "ok"


# -- request ids on broken streams ------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("header", ["x-request-id", "request-id"])
def test_a_cut_stream_carries_the_request_id(
    wire: Wire, header: str, server: FakeServer, fast: Any
) -> None:
    cut = stream_reply(wire.stream_start, 0.01, b"data: {", cut=True, headers={header: "req_cut"})
    server.route("POST", wire.path, cut)
    with pytest.raises(StreamInterruptedError) as info:
        list(provider(wire, server, fast).stream("Hi"))
    assert info.value.request_id == "req_cut"

    async def run() -> None:
        async for _ in provider(wire, server, fast).astream("Hi"):
            pass

    with pytest.raises(StreamInterruptedError) as ainfo:
        asyncio.run(run())
    assert ainfo.value.request_id == "req_cut"


@pytest.mark.parametrize("wire", WIRES)
def test_a_stalled_stream_carries_the_request_id(wire: Wire, server: FakeServer) -> None:
    stalled = stream_reply(
        wire.stream_start, 5.0, wire.stream_end, headers={"x-request-id": "req_idle"}
    )
    server.route("POST", wire.path, stalled)
    p = provider(wire, server, {"timeout": {"idle": 0.3}})
    with pytest.raises(ProviderTimeoutError, match="idle") as info:
        list(p.stream("Hi"))
    assert info.value.request_id == "req_idle"

    async def run() -> None:
        async for _ in p.astream("Hi"):
            pass

    with pytest.raises(ProviderTimeoutError) as ainfo:
        asyncio.run(run())
    assert ainfo.value.request_id == "req_idle"


@pytest.mark.parametrize("wire", WIRES)
def test_a_stream_ending_early_carries_the_request_id(
    wire: Wire, server: FakeServer, fast: Any
) -> None:
    server.route("POST", wire.path, stream_reply(wire.stream_start, headers={"x-request-id": "r"}))
    with pytest.raises(StreamInterruptedError) as info:
        list(provider(wire, server, fast).stream("Hi"))
    assert info.value.request_id == "r"


# -- timeouts ---------------------------------------------------------------------------------


def test_one_timeout_is_the_budget_of_the_whole_call_retries_included(server: FakeServer) -> None:
    # Each try answers 503 after 0.3 s; five retries would take 1.5 s, the budget is 0.8 s.
    server.route("POST", OPENAI.path, Reply(503, delay=0.3))
    p = provider(OPENAI, server, {"timeout": 0.8, "max_retries": 5, "retry_initial_delay": 0.01})
    started = time.monotonic()
    with pytest.raises((ServerError, ProviderTimeoutError)):
        p.generate("Hi")
    assert time.monotonic() - started < 1.2
    assert len(server.requests) < 6


def test_attempt_timeout_bounds_each_try_and_retries_it(server: FakeServer) -> None:
    # The first try's server is slower than one attempt's time; the retry answers at once.
    server.route("POST", OPENAI.path, Reply(delay=2.0, body=OPENAI.ok), Reply(body=OPENAI.ok))
    p = provider(OPENAI, server, {"timeout": {"attempt": 0.3}, "retry_initial_delay": 0.01})
    started = time.monotonic()
    assert p.generate("Hi") == "ok"
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 2


def test_attempt_timeout_also_bounds_a_slow_body_and_retries(server: FakeServer) -> None:
    drip = [
        b'{"choices": [',
        0.2,
        b" ",
        0.2,
        b" ",
        0.2,
        b" ",
        0.2,
        b' {"message": {"content": "x"}}]}',
    ]
    server.route("POST", OPENAI.path, Reply(chunks=drip), Reply(body=OPENAI.ok))
    p = provider(OPENAI, server, {"timeout": {"attempt": 0.5}, "retry_initial_delay": 0.01})
    assert p.generate("Hi") == "ok"
    assert len(server.requests) == 2


def test_attempt_timeout_async(server: FakeServer) -> None:
    server.route("POST", OPENAI.path, Reply(delay=2.0, body=OPENAI.ok), Reply(body=OPENAI.ok))
    p = provider(OPENAI, server, {"timeout": {"attempt": 0.3}, "retry_initial_delay": 0.01})
    assert asyncio.run(p.agenerate("Hi")) == "ok"
    assert len(server.requests) == 2


def test_every_try_out_of_time_is_a_timeout_error(server: FakeServer) -> None:
    server.route("POST", OPENAI.path, Reply(delay=1.0, body=OPENAI.ok))
    p = provider(
        OPENAI, server, {"timeout": {"attempt": 0.2}, "max_retries": 1, "retry_initial_delay": 0.01}
    )
    with pytest.raises(ProviderTimeoutError):
        p.generate("Hi")
    assert len(server.requests) == 2


def test_a_plain_timeout_does_not_retry_a_slow_answer(server: FakeServer) -> None:
    # Without a per-attempt setting, a read timeout is final: the budget is spent.
    server.route("POST", OPENAI.path, Reply(delay=1.0, body=OPENAI.ok))
    with pytest.raises(ProviderTimeoutError):
        provider(OPENAI, server, {"timeout": 0.3}).generate("Hi")
    assert len(server.requests) == 1


def test_timeout_settings_for_sdk_ports() -> None:
    sdk_like = Timeouts.from_parameter({"attempt": 60})
    assert (sdk_like.attempt, sdk_like.read, sdk_like.idle, sdk_like.total) == (60, 60, 60, None)
    assert sdk_like.connect == 10
    both = Timeouts.from_parameter({"attempt": 20, "total": 90})
    assert (both.attempt, both.total, both.read) == (20, 90, 120)
    whole = Timeouts.from_parameter(30)
    assert (whole.total, whole.read, whole.attempt) == (30, 30, None)


# -- prompt caching in usage ------------------------------------------------------------------

CACHED_USAGE = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188,
    "cache_read_input_tokens": 1500,
    "output_tokens": 9,
}


def test_anthropic_usage_counts_cached_tokens_on_openais_basis(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", ANTHROPIC.path, Reply(body={**ANTHROPIC.ok, "usage": CACHED_USAGE}))
    usage = provider(ANTHROPIC, server, fast).complete([{"role": "user", "content": "Hi"}]).usage
    assert usage is not None
    assert usage.prompt_tokens == 21 + 188 + 1500  # every input token, cached ones too
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (1500, 188)
    assert (usage.completion_tokens, usage.total_tokens) == (9, 1709 + 9)


def test_anthropic_stream_usage_keeps_the_cache_counts(server: FakeServer, fast: Any) -> None:
    start = {"id": "msg_1", "usage": {**CACHED_USAGE, "output_tokens": 1}}
    events = named_events(
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_delta", {"type": "content_block_delta",
                                 "delta": {"type": "text_delta", "text": "ok"}}),
        # message_delta's counts are cumulative and may leave the input ones out
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    )  # fmt: skip
    server.route("POST", ANTHROPIC.path, stream_reply(events))
    stream = provider(ANTHROPIC, server, fast).stream("Hi")
    assert list(stream) == ["ok"]
    usage = stream.completion.usage if stream.completion else None
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (1709, 9)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (1500, 188)


def test_anthropic_usage_without_caching_is_unchanged(server: FakeServer, fast: Any) -> None:
    plain = {"input_tokens": 12, "output_tokens": 4}
    server.route("POST", ANTHROPIC.path, Reply(body={**ANTHROPIC.ok, "usage": plain}))
    usage = provider(ANTHROPIC, server, fast).complete([{"role": "user", "content": "Hi"}]).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cache_read_input_tokens) == (
        12,
        4,
        0,
    )


def test_openai_cached_tokens_are_reported_the_same_way(server: FakeServer, fast: Any) -> None:
    usage_body = {"prompt_tokens": 1709, "completion_tokens": 9,
                  "prompt_tokens_details": {"cached_tokens": 1500}}  # fmt: skip
    server.route("POST", OPENAI.path, Reply(body={**OPENAI.ok, "usage": usage_body}))
    usage = provider(OPENAI, server, fast).complete([{"role": "user", "content": "Hi"}]).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.cache_read_input_tokens) == (1709, 1500)
    assert usage.cache_creation_input_tokens == 0
