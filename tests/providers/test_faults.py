"""Hostile servers on 127.0.0.1: nothing hangs, nothing grows without bound (issue 15).

Each test names the item of the issue it guards and runs in bounded time whether or not the
fix is there (a server that would hold a broken client forever stops on its own first).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.http import HttpClient, RetryPolicy, Timeouts, client_for
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.errors import (
    ConfigurationError,
    ProviderError,
    ProviderTimeoutError,
    ResponseFormatError,
    ResponseTooLargeError,
    ServerError,
)
from tests.support.llm_server import FakeServer, Reply, endless, gzip_bomb, sse, stream_reply

OK = Reply(body={"ok": True})
KEY = "sk-test-0123456789abcdef"


def client(server: FakeServer, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {
        "provider": "test",
        "base_url": server.url,
        "retry": RetryPolicy(max_retries=0),
        "timeouts": Timeouts(connect=2, read=2, total=5, idle=2),
    }
    options.update(kwargs)
    return HttpClient(**options)


def run(coroutine_function: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine_function())


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()


# -- item 4: headers trickled two bytes at a time are cut off at the total timeout ------------

# About 120 bytes of head at 2 bytes per 0.1 s: 6 s to arrive, each read well inside its
# per-read timeout. The total timeout of 1 s must end the call.
SLOW_HEAD = Reply(body={"ok": True}, trickle=(2, 0.1))


def test_slow_headers_are_bounded_by_the_total_timeout(server: FakeServer, clock: Clock) -> None:
    server.route("GET", "/x", SLOW_HEAD)
    with pytest.raises(ProviderTimeoutError, match=r"total timeout of 1(\.0)? s"):
        client(server, timeouts=Timeouts(connect=1, read=5, total=1, idle=5)).get_json("/x")
    assert clock.elapsed < 4


def test_slow_headers_are_bounded_by_the_total_timeout_async(
    server: FakeServer, clock: Clock
) -> None:
    server.route("GET", "/x", SLOW_HEAD)
    http = client(server, timeouts=Timeouts(connect=1, read=5, total=1, idle=5))

    async def call() -> Any:
        try:
            return await http.aget_json("/x")
        finally:
            await http.aclose()

    with pytest.raises(ProviderTimeoutError, match=r"total timeout of 1(\.0)? s"):
        run(call)
    assert clock.elapsed < 4


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_generate_and_agenerate_end_at_timeout_however_slow_the_headers(
    mode: str, server: FakeServer, clock: Clock
) -> None:
    server.route("POST", "/v1/chat/completions", SLOW_HEAD)
    provider = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "timeout": 1, "max_retries": 0}
    )
    with pytest.raises(ProviderTimeoutError):
        if mode == "sync":
            provider.generate("x")
        elif mode == "async":
            asyncio.run(provider.agenerate("x"))
        else:
            list(provider.stream("x"))  # the headers of a stream count against the total too
    assert clock.elapsed < 4


def test_every_pool_is_capped_proxies_included(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devsynth.application.llm.http import _cap_pools

    monkeypatch.setenv("HTTPS_PROXY", server.url)
    http = client(server)
    assert _cap_pools(http.client()) == 2  # the direct pool and the proxy's

    async def pools() -> int:
        try:
            return _cap_pools(http.async_client())
        finally:
            await http.aclose()

    assert run(pools) == 2


def test_a_fast_server_is_not_affected_by_the_cap(server: FakeServer) -> None:
    server.route("GET", "/x", OK)
    http = client(server, timeouts=Timeouts(connect=1, read=1, total=1, idle=1))
    for _ in range(20):  # pooled connections made under one request serve the next
        assert http.get_json("/x").data == {"ok": True}
    assert server.connections == 1


# -- item 5: keep-alives alone do not keep a stream open ---------------------------------------

PINGS = stream_reply(*[b": ping\n\n", 0.2] * 30)  # 6 s of comments, no data, no [DONE]
ANTHROPIC_PINGS = stream_reply(*[b'event: ping\ndata: {"type": "ping"}\n\n', 0.2] * 30)


def test_keepalive_comments_do_not_reset_the_idle_timeout(server: FakeServer, clock: Clock) -> None:
    server.route("POST", "/v1/chat/completions", PINGS)
    provider = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "timeout": 1, "max_retries": 0}
    )
    with pytest.raises(ProviderTimeoutError, match=r"only keep-alives for 1\.0 s"):
        list(provider.stream("x"))
    assert clock.elapsed < 4.5


def test_ping_events_do_not_reset_the_idle_timeout_async(server: FakeServer, clock: Clock) -> None:
    server.route("POST", "/v1/messages", ANTHROPIC_PINGS)
    provider = AnthropicProvider(
        {"api_base": server.url, "api_key": KEY, "timeout": 1, "max_retries": 0}
    )

    async def call() -> list[str]:
        return [chunk async for chunk in provider.astream("x")]

    with pytest.raises(ProviderTimeoutError, match="keep-alive timeout"):
        run(call)
    assert clock.elapsed < 4.5


def test_keepalives_get_their_own_bound(server: FakeServer, clock: Clock) -> None:
    # Silence is cut at idle (1 s); pings every 0.2 s may hold the stream for keepalive (2 s).
    body = [b": ping\n\n", 0.2] * 6 + [sse({"choices": [{"delta": {"content": "hi"}}]})]
    server.route("POST", "/v1/chat/completions", stream_reply(*body, sse("[DONE]"), *[0.2] * 2))
    provider = OpenAIProvider(
        {
            "api_base": server.url + "/v1",
            "api_key": KEY,
            "timeout": {"idle": 1, "keepalive": 2},
            "max_retries": 0,
        }
    )
    assert "".join(provider.stream("x")) == "hi"  # 1.2 s of pings: over idle, under keepalive
    server.route("POST", "/v1/chat/completions", PINGS)
    clock.start = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match=r"only keep-alives for 2\.0 s"):
        list(provider.stream("x"))
    assert clock.elapsed < 5


def test_data_events_keep_a_long_stream_going(server: FakeServer) -> None:
    # 2 s of data every 0.2 s with idle 1 s: never stale, whatever the pings between.
    data = sse({"choices": [{"delta": {"content": "a"}}]})
    steps = [data, 0.1, b": ping\n\n", 0.1] * 10
    server.route("POST", "/v1/chat/completions", stream_reply(*steps, sse("[DONE]")))
    provider = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "timeout": 1, "max_retries": 0}
    )
    assert "".join(provider.stream("x")) == "a" * 10


# -- item 6: one long SSE line is cut at the maximum event size ------------------------------


def test_a_stream_event_over_the_limit_is_refused(server: FakeServer, clock: Clock) -> None:
    line = [b"data: "] + [b"a" * 16384, 0.001] * 200  # 3.2 MB without a line end
    server.route("POST", "/v1/chat/completions", stream_reply(*line))
    provider = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "max_event_size": 100_000}
    )
    with pytest.raises(ResponseTooLargeError, match="100000 characters") as info:
        list(provider.stream("x"))
    assert info.value.limit == 100_000
    assert clock.elapsed < 4


# -- item 10: bodies have a maximum size, checked as they inflate ------------------------------


def test_a_body_over_the_limit_is_refused(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(body=b"[" + b"1," * 600_000 + b"1]"))
    with pytest.raises(ResponseTooLargeError, match="larger than 1000000 bytes"):
        client(server, max_response_size=1_000_000).get_json("/x")
    assert client(server, max_response_size=2_000_000).get_json("/x").data[:2] == [1, 1]


def test_an_endless_body_stops_at_the_limit(server: FakeServer, clock: Clock) -> None:
    server.route("GET", "/x", Reply(chunks=endless(b"1," * 8192, 0.002)))
    with pytest.raises(ResponseTooLargeError):
        client(server, max_response_size=1_000_000).get_json("/x")
    assert clock.elapsed < 4


def test_an_endless_body_stops_at_the_limit_async(server: FakeServer, clock: Clock) -> None:
    server.route("GET", "/x", Reply(chunks=endless(b"1," * 8192, 0.002)))
    http = client(server, max_response_size=1_000_000)

    async def call() -> Any:
        try:
            return await http.aget_json("/x")
        finally:
            await http.aclose()

    with pytest.raises(ResponseTooLargeError):
        run(call)
    assert clock.elapsed < 4


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(256 << 20)  # 256 MiB of zeros in about 250 KiB


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_gzip_bomb_is_stopped_while_it_inflates(
    mode: str, bomb: bytes, server: FakeServer
) -> None:
    server.route("GET", "/x", Reply(body=bomb, headers={"content-encoding": "gzip"}))
    http = client(server, max_response_size=4 << 20)

    async def acall() -> Any:
        try:
            return await http.aget_json("/x")
        finally:
            await http.aclose()

    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError, match="larger than 4194304 bytes"):
            http.get_json("/x") if mode == "sync" else run(acall)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak >> 20} MiB"


def test_a_gzipped_body_under_the_limit_is_decoded(server: FakeServer) -> None:
    import gzip
    import zlib

    body = b'{"text": "' + b"x" * 100_000 + b'"}'
    server.route(
        "GET", "/gzip", Reply(body=gzip.compress(body), headers={"content-encoding": "gzip"})
    )
    server.route(
        "GET", "/deflate", Reply(body=zlib.compress(body), headers={"content-encoding": "deflate"})
    )
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    server.route(
        "GET",
        "/raw",
        Reply(body=raw.compress(body) + raw.flush(), headers={"content-encoding": "deflate"}),
    )
    two = gzip.compress(body[:50]) + gzip.compress(body[50:])  # two gzip members
    server.route("GET", "/members", Reply(body=two, headers={"content-encoding": "gzip"}))
    http = client(server)
    for path in ("/gzip", "/deflate", "/raw", "/members"):
        assert len(http.get_json(path).data["text"]) == 100_000, path
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_gzipped_stream_is_decoded_in_bounded_pieces(bomb: bytes, server: FakeServer) -> None:
    import gzip

    events = sse({"choices": [{"delta": {"content": "hi"}}]}, "[DONE]")
    server.route(
        "POST",
        "/v1/chat/completions",
        stream_reply(gzip.compress(events), headers={"content-encoding": "gzip"}),
    )
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    assert "".join(provider.stream("x")) == "hi"
    # A bomb in a stream: zeros are one endless line, cut at the event size.
    server.route(
        "POST",
        "/v1/chat/completions",
        stream_reply(bomb, headers={"content-encoding": "gzip"}),
    )
    provider = OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": KEY, "max_event_size": 1 << 20}
    )
    with pytest.raises(ResponseTooLargeError):
        list(provider.stream("x"))


def test_a_body_that_does_not_decompress_is_a_format_error(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(body=b"not gzip at all", headers={"content-encoding": "gzip"}))
    server.route("GET", "/br", Reply(body=b"...", headers={"content-encoding": "br"}))
    with pytest.raises(ResponseFormatError, match="not valid gzip"):
        client(server).get_json("/x")
    with pytest.raises(ResponseFormatError, match="not asked for: 'br'"):
        client(server).get_json("/br")


def test_an_endless_error_body_is_read_for_its_start_only(server: FakeServer, clock: Clock) -> None:
    server.route("GET", "/x", Reply(500, chunks=[b"x" * 16384, 0.02] * 300))  # 5 MB in 6 s
    with pytest.raises(ServerError) as info:
        client(server).get_json("/x")
    assert clock.elapsed < 2.5
    assert len(str(info.value)) < 1200


def test_a_huge_error_message_is_kept_short(server: FakeServer) -> None:
    huge = {"error": {"message": "overloaded " * 5000, "type": "server_error"}}
    server.route("GET", "/x", Reply(503, body=huge))
    with pytest.raises(ServerError) as info:
        client(server).get_json("/x")
    assert len(info.value.message) <= 1010
    assert info.value.message.startswith("overloaded overloaded")


# -- item 16: redirects, Retry-After, bodies that cannot be sent ---------------------------


def test_a_redirect_names_its_target(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", Reply(302, headers={"location": "/v2/chat"}))
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, "max_retries": 2})
    with pytest.raises(
        ProviderError, match=r"redirects \(HTTP 302\) to http://127\.0\.0\.1:\d+/v2/chat"
    ) as info:
        provider.generate("x")
    assert info.value.status == 302
    assert "set api_base" in str(info.value)
    assert len(server.requests) == 1  # neither followed nor retried


@pytest.mark.parametrize("hint", ["-5", "-0.5", "0", "inf", "nan", "-1e9"])
def test_retry_after_that_is_negative_zero_or_not_finite_keeps_a_floor(
    hint: str, server: FakeServer
) -> None:
    server.route("GET", "/x", Reply(429, headers={"retry-after": hint}), OK)
    waits: list[float] = []
    http = client(
        server,
        retry=RetryPolicy(max_retries=1, initial_delay=0.2, max_delay=1.0),
        sleep=waits.append,
    )
    assert http.get_json("/x").data == {"ok": True}
    assert len(waits) == 1 and 0.15 <= waits[0] <= 0.2  # the backoff, not zero


def test_a_lone_surrogate_in_a_prompt_is_a_configuration_error(server: FakeServer) -> None:
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        provider.generate("bad \ud800 text")
    assert server.requests == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", -1),
        ("timeout", {"read": float("nan")}),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("retry_initial_delay", "soon"),
        ("retry_max_delay", float("nan")),
        ("max_response_size", 0),
        ("max_event_size", "big"),
        ("verify", 3),
    ],
)
def test_transport_parameters_are_checked_at_creation(name: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=name if name != "timeout" else "timeout"):
        client_for("test", {name: value}, base_url="http://127.0.0.1:1")


def test_a_missing_ca_bundle_is_a_configuration_error(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigurationError, match=r"verify names .*nope\.pem"):
        client_for("test", {"verify": missing}, base_url="https://127.0.0.1:1")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="not a readable CA bundle"):
        client_for("test", {"verify": str(garbage)}, base_url="https://127.0.0.1:1")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", "hot"),
        ("temperature", -5),
        ("temperature", float("nan")),
        ("temperature", True),
        ("top_p", 1.5),
        ("max_tokens", -5),
        ("max_tokens", 0),
        ("max_tokens", 10.5),
        ("max_completion_tokens", "many"),
        ("presence_penalty", float("inf")),
        ("top_k", -1),
        ("model", ""),
        ("model", 5),
    ],
)
@pytest.mark.parametrize("provider_class", [OpenAIProvider, AnthropicProvider])
def test_invalid_parameters_are_refused_at_creation_naming_them(
    provider_class: type[Any], name: str, value: Any, server: FakeServer
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name} must be"):
        provider_class({"api_base": server.url, "api_key": KEY, name: value})
    assert server.requests == []


def test_invalid_parameters_of_one_call_are_refused_before_sending(server: FakeServer) -> None:
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    with pytest.raises(ConfigurationError, match=r"^temperature must be"):
        provider.generate("x", {"temperature": "hot"})
    with pytest.raises(ConfigurationError, match=r"^max_tokens must be"):
        list(provider.stream("x", {"max_tokens": -5}))
    with pytest.raises(ConfigurationError, match=r"^top_p must be"):
        asyncio.run(provider.agenerate("x", {"top_p": float("nan")}))
    assert server.requests == []


@pytest.mark.parametrize(
    ("api_base", "message"),
    [
        ("localhost:1234/v1", r"did you mean 'http://localhost:1234/v1'"),
        (" http://localhost:1234/v1", "spaces or a line end around it"),
        ("http://localhost:1234/v1\n", "spaces or a line end around it"),
        ("http://local host:1234/v1", "a space or a control character"),
        ("ftp://localhost/v1", "must start with http:// or https://"),
        ("http://", "must start with http:// or https:// and name a host"),
        ("http://localhost:99999/v1", "invalid port"),
        ("http://user:hunter2@:1/v1", "names no host"),
        (5, "must be a URL"),
    ],
)
def test_an_invalid_api_base_is_refused_at_creation(api_base: Any, message: str) -> None:
    with pytest.raises(
        ConfigurationError, match=f"api_base .*{message}|api_base {message}"
    ) as info:
        OpenAIProvider({"api_base": api_base, "api_key": KEY})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("provider_type", [None, 5, "", "   "])
def test_provider_type_must_be_a_name(provider_type: Any) -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig

    with pytest.raises(ConfigurationError, match="provider_type must be the name"):
        LLMBackendAdapter().create_provider(LLMProviderConfig(provider_type, {}))
    with pytest.raises(ConfigurationError, match="provider_type must be the name"):
        LLMBackendAdapter().create_provider({"provider_type": provider_type})


# -- item 12: the "start the server" hint only where the server could not be reached ---------


def test_a_server_that_hangs_up_gets_no_start_hint() -> None:
    from devsynth.application.llm.lmstudio_provider import START_HINT, LMStudioProvider
    from devsynth.errors import ProviderConnectionError

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:  # accept, read the request, close without answering
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        provider = LMStudioProvider(
            {"api_base": f"http://127.0.0.1:{port}/v1", "auto_select_model": False,
             "max_retries": 0}
        )  # fmt: skip
        with pytest.raises(ProviderConnectionError) as info:
            provider.generate("x")
    finally:
        listener.close()
    assert START_HINT not in str(info.value)
    assert "failed" in str(info.value)


# -- item 16: a 200 reply of the wrong shape is a ResponseFormatError ----------------------


def reply(**message: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", **message}, "finish_reason": "stop"}]}


WRONG_OPENAI = {
    "message is text": {"choices": [{"message": "hello", "finish_reason": "stop"}]},
    "no message": {"choices": [{"finish_reason": "stop"}]},
    "choice is text": {"choices": ["hello"]},
    "content is an object": reply(content={"text": "hi"}),
    "content is a number": reply(content=5),
    "a part's text is a number": reply(content=[{"type": "text", "text": 5}]),
    "prompt_tokens is many": {**reply(content="hi"), "usage": {"prompt_tokens": "many"}},
    "completion_tokens is negative": {**reply(content="hi"), "usage": {"completion_tokens": -3}},
    "no choices": {"id": "x"},
    "a list": [1, 2, 3],
}


@pytest.mark.parametrize("body", WRONG_OPENAI.values(), ids=WRONG_OPENAI.keys())
@pytest.mark.parametrize("mode", ["sync", "async", "stream-answered-with-json"])
def test_a_wrong_shape_openai_reply_is_a_response_format_error(
    mode: str, body: Any, server: FakeServer
) -> None:
    server.route("POST", "/v1/chat/completions", Reply(body=body))
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    with pytest.raises(ResponseFormatError) as info:
        if mode == "sync":
            provider.generate("x")
        elif mode == "async":
            asyncio.run(provider.agenerate("x"))
        else:
            list(provider.stream("x"))
    assert info.value.provider == "openai" and info.value.status == 200


WRONG_CHUNKS = {
    "choice is text": {"choices": ["hello"]},
    "delta is text": {"choices": [{"delta": "hello"}]},
    "content is an object": {"choices": [{"delta": {"content": {"a": 1}}}]},
    "usage is many": {"choices": [], "usage": {"prompt_tokens": "many"}},
}


@pytest.mark.parametrize("chunk", WRONG_CHUNKS.values(), ids=WRONG_CHUNKS.keys())
def test_a_wrong_shape_stream_chunk_is_a_response_format_error(
    chunk: Any, server: FakeServer
) -> None:
    server.route("POST", "/v1/chat/completions", stream_reply(sse(chunk, "[DONE]")))
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    with pytest.raises(ResponseFormatError):
        list(provider.stream("x"))

    async def chunks() -> list[str]:
        return [c async for c in provider.astream("x")]

    with pytest.raises(ResponseFormatError):
        asyncio.run(chunks())


WRONG_ANTHROPIC = {
    "no content": {"type": "message", "role": "assistant", "stop_reason": "end_turn"},
    "content is text": {"type": "message", "content": "hello"},
    "input_tokens is many": {
        "type": "message",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": "many", "output_tokens": 1},
    },
}


@pytest.mark.parametrize("body", WRONG_ANTHROPIC.values(), ids=WRONG_ANTHROPIC.keys())
def test_a_wrong_shape_anthropic_reply_is_a_response_format_error(
    body: Any, server: FakeServer
) -> None:
    server.route("POST", "/v1/messages", Reply(body=body))
    provider = AnthropicProvider({"api_base": server.url, "api_key": KEY})
    with pytest.raises(ResponseFormatError, match=r"content|input_tokens"):
        provider.generate("x")
    with pytest.raises(ResponseFormatError):
        asyncio.run(provider.agenerate("x"))


def test_a_fallback_chain_moves_on_from_a_wrong_shape_reply(server: FakeServer) -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig

    server.route("POST", "/v1/chat/completions", Reply(body=WRONG_OPENAI["message is text"]))
    chain = LLMBackendAdapter().create_provider(
        LLMProviderConfig(
            "openai",
            {"api_base": server.url + "/v1", "api_key": KEY},
            fallback=[LLMProviderConfig("offline", {})],
        )
    )
    result = chain.complete([{"role": "user", "content": "Hi"}])
    assert result.metadata["answered_by"] == "offline"
    assert result.metadata["skipped"] == ["openai"]


def test_openai_list_content_is_joined_text(server: FakeServer) -> None:
    parts = [
        {"type": "text", "text": "Hel"},
        {"type": "image_url", "image_url": {"url": "data:..."}},
        {"type": "text", "text": "lo"},
    ]
    server.route("POST", "/v1/chat/completions", Reply(body=reply(content=parts)))
    provider = OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY})
    assert provider.generate("x") == "Hello"
    chunks = [{"choices": [{"delta": {"content": [{"type": "text", "text": t}]}}]} for t in "ab"]
    server.route("POST", "/v1/chat/completions", stream_reply(sse(*chunks, "[DONE]")))
    assert list(provider.stream("x")) == ["a", "b"]
