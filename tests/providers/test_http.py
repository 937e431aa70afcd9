"""The HTTP module against a real local server: retries, waits, timeouts, pooling, proxies,
TLS, and the errors each failure becomes."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devsynth.application.llm.http import (
    HttpClient,
    RetryPolicy,
    Timeouts,
    client_for,
    retry_after_seconds,
)
from devsynth.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from tests.support.llm_server import FakeServer, Reply, sse, stream_reply

OK = Reply(body={"ok": True})


def make_client(server: FakeServer, **kwargs: Any) -> tuple[HttpClient, list[float]]:
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    options: dict[str, Any] = {
        "provider": "test",
        "base_url": server.url,
        "retry": RetryPolicy(max_retries=3, initial_delay=0.2, max_delay=1.0, max_retry_after=30),
        "timeouts": Timeouts(connect=2, read=2, total=5, idle=2),
        "sleep": waits.append,
        "asleep": asleep,
    }
    options.update(kwargs)
    return HttpClient(**options), waits


# -- retries ------------------------------------------------------------------------------


def test_429_with_retry_after_ms_waits_that_long(server: FakeServer) -> None:
    server.route("POST", "/x", Reply(429, headers={"retry-after-ms": "250"}), OK)
    client, waits = make_client(server)
    assert client.post_json("/x", {"a": 1}).data == {"ok": True}
    assert waits == [0.25]
    assert len(server.requests) == 2


def test_429_with_retry_after_seconds(server: FakeServer) -> None:
    server.route("POST", "/x", Reply(429, headers={"retry-after": "3"}), OK)
    client, waits = make_client(server)
    client.post_json("/x", {})
    assert waits == [3.0]


def test_429_with_retry_after_http_date(server: FakeServer) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    date = format_datetime(when, usegmt=True)
    server.route("POST", "/x", Reply(429, headers={"retry-after": date}), OK)
    client, waits = make_client(server, timeouts=Timeouts(total=60))
    client.post_json("/x", {})
    assert len(waits) == 1 and 8.0 <= waits[0] <= 10.0


def test_retry_after_is_capped(server: FakeServer) -> None:
    server.route("POST", "/x", Reply(429, headers={"retry-after": "3600"}), OK)
    client, waits = make_client(server, timeouts=Timeouts(total=60))
    client.post_json("/x", {})
    assert waits == [30.0]


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_unreadable_or_past_values() -> None:
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_5xx_then_success_uses_exponential_backoff_with_jitter(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(500), Reply(502), Reply(503), OK)
    client, waits = make_client(server)
    assert client.get_json("/x").data == {"ok": True}
    assert len(waits) == 3
    for wait, base in zip(waits, (0.2, 0.4, 0.8), strict=True):
        assert 0.75 * base <= wait <= base


def test_backoff_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=4)
    assert all(policy.backoff(n) <= 4 for n in range(20))
    assert len({policy.backoff(3) for _ in range(20)}) > 1  # jittered


@pytest.mark.parametrize("status", [408, 409, 529, 504])
def test_retryable_statuses(server: FakeServer, status: int) -> None:
    server.route("GET", "/x", Reply(status), OK)
    client, _ = make_client(server)
    assert client.get_json("/x").data == {"ok": True}
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, BadRequestError),
    ],
)
def test_client_errors_are_never_retried(
    server: FakeServer, status: int, error: type[Exception]
) -> None:
    server.route("GET", "/x", Reply(status, body={"error": {"message": "no", "type": "t"}}))
    client, waits = make_client(server)
    with pytest.raises(error) as info:
        client.get_json("/x")
    assert len(server.requests) == 1 and waits == []
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.error_type == "t"  # type: ignore[attr-defined]


def test_retries_exhausted_raise_the_mapped_error_with_request_id(server: FakeServer) -> None:
    server.route(
        "GET",
        "/x",
        Reply(
            429,
            headers={"retry-after-ms": "1", "x-request-id": "req_42"},
            body={"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
        ),
    )
    client, _ = make_client(server)
    with pytest.raises(RateLimitError) as info:
        client.get_json("/x")
    assert len(server.requests) == 4  # 1 + max_retries
    assert info.value.request_id == "req_42"
    assert info.value.retry_after == 0.001
    assert "slow down" in str(info.value)


def test_max_retries_zero_sends_once(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(503), OK)
    client, _ = make_client(server, retry=RetryPolicy(max_retries=0))
    with pytest.raises(ServerError):
        client.get_json("/x")
    assert len(server.requests) == 1


def test_max_retries_from_parameters(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(503))
    client = client_for(
        "test", {"max_retries": 1, "retry_initial_delay": 0.001}, base_url=server.url
    )
    with pytest.raises(ServerError):
        client.get_json("/x")
    assert len(server.requests) == 2


def test_retry_waits_stop_at_the_total_timeout(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(429, headers={"retry-after": "20"}), OK)
    client, waits = make_client(server, timeouts=Timeouts(total=5))
    with pytest.raises(RateLimitError):
        client.get_json("/x")
    assert waits == []  # waiting 20 s would overrun the 5 s budget: fail now instead


def test_connection_refused_is_retried_then_named(unused_port: int) -> None:
    client = HttpClient(
        provider="test",
        base_url=f"http://127.0.0.1:{unused_port}",
        retry=RetryPolicy(max_retries=2, initial_delay=0.01),
        connect_hint="Start the server first",
    )
    started = time.monotonic()
    with pytest.raises(ProviderConnectionError) as info:
        client.get_json("/models")
    assert time.monotonic() - started < 2
    assert f"127.0.0.1:{unused_port}/models" in str(info.value)
    assert "Start the server first" in str(info.value)


# -- time ---------------------------------------------------------------------------------


def test_slow_server_hits_the_read_timeout(server: FakeServer) -> None:
    server.route("GET", "/x", Reply(delay=3.0, body={}))
    client, _ = make_client(server, timeouts=Timeouts(connect=1, read=0.3, total=5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        client.get_json("/x")
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1  # a read timeout is not retried


def test_slow_drip_body_hits_the_total_timeout(server: FakeServer) -> None:
    drip = [b'{"a":', 0.2, b" 1", 0.2, b" ", 0.2, b" ", 0.2, b" ", 0.2, b" ", 0.2, b"}"]
    server.route("GET", "/x", Reply(chunks=drip))
    client, _ = make_client(server, timeouts=Timeouts(connect=1, read=1, total=0.5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match="total timeout"):
        client.get_json("/x")
    assert time.monotonic() - started < 1.2


def test_timeout_parameter_sets_connect_read_total_and_idle() -> None:
    assert Timeouts.from_parameter(30) == Timeouts(connect=10, read=30, total=30, idle=30)
    assert Timeouts.from_parameter(2.5) == Timeouts(connect=2.5, read=2.5, total=2.5, idle=2.5)
    t = Timeouts.from_parameter({"read": 7, "total": 60})
    assert (t.read, t.total, t.idle) == (7, 60, 7)
    with pytest.raises(ConfigurationError):
        Timeouts.from_parameter({"reed": 1})
    with pytest.raises(ConfigurationError):
        Timeouts.from_parameter(-1)


def test_stalled_stream_fails_after_the_idle_timeout(server: FakeServer) -> None:
    server.route("POST", "/s", stream_reply(sse({"n": 1}), 10.0, sse({"n": 2})))
    client, _ = make_client(server, timeouts=Timeouts(connect=1, read=5, total=30, idle=0.3))
    received = []
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match="idle"):
        for event in client.stream_events("POST", "/s", {}):
            received.append(event.data)
    assert received == ['{"n": 1}']
    assert time.monotonic() - started < 2


def test_long_stream_is_not_cut_by_the_total_timeout(server: FakeServer) -> None:
    steps: list[Any] = []
    for n in range(6):
        steps += [sse({"n": n}), 0.1]
    server.route("POST", "/s", stream_reply(*steps))
    client, _ = make_client(server, timeouts=Timeouts(connect=1, read=1, total=0.3, idle=1))
    assert len(list(client.stream_events("POST", "/s", {}))) == 6


def test_stream_cut_mid_body_is_interrupted(server: FakeServer) -> None:
    server.route("POST", "/s", stream_reply(sse({"n": 1}), 0.01, b'data: {"n"', cut=True))
    client, _ = make_client(server)
    with pytest.raises(StreamInterruptedError):
        list(client.stream_events("POST", "/s", {}))


def test_async_stalled_stream_fails_after_the_idle_timeout(server: FakeServer) -> None:
    server.route("POST", "/s", stream_reply(sse({"n": 1}), 10.0))
    client, _ = make_client(server, timeouts=Timeouts(connect=1, read=5, total=30, idle=0.3))

    async def consume() -> list[str]:
        out = []
        async for event in client.astream_events("POST", "/s", {}):
            out.append(event.data)
        return out

    with pytest.raises(ProviderTimeoutError):
        asyncio.run(consume())


def test_async_retries_with_retry_after(server: FakeServer) -> None:
    server.route("POST", "/x", Reply(529, headers={"retry-after-ms": "5"}), OK)
    client, waits = make_client(server)

    async def call() -> Any:
        try:
            return (await client.apost_json("/x", {})).data
        finally:
            await client.aclose()

    assert asyncio.run(call()) == {"ok": True}
    assert waits == [0.005]


# -- pooling ------------------------------------------------------------------------------


def test_requests_reuse_one_pooled_connection(server: FakeServer) -> None:
    server.route("GET", "/x", OK)
    client, _ = make_client(server)
    for _ in range(5):
        client.get_json("/x")
    assert server.connections == 1


def test_closed_stream_returns_its_connection_to_the_pool(server: FakeServer) -> None:
    # One connection allowed: if closing the stream leaked it, the next request would wait
    # for the pool and fail with a timeout.
    steps: list[Any] = [sse({"n": n}) for n in range(3)] + [5.0, sse({"n": 9})]
    server.route("POST", "/s", stream_reply(*steps))
    server.route("GET", "/x", OK)
    client, _ = make_client(server, max_connections=1, timeouts=Timeouts(connect=0.5, read=2))
    events = client.stream_events("POST", "/s", {})
    assert next(events).data == '{"n": 0}'
    events.close()  # type: ignore[attr-defined]
    assert client.get_json("/x").data == {"ok": True}


def test_failed_stream_returns_its_connection_to_the_pool(server: FakeServer) -> None:
    server.route("POST", "/s", stream_reply(sse({"n": 1}), 5.0))
    server.route("GET", "/x", OK)
    client, _ = make_client(
        server, max_connections=1, timeouts=Timeouts(connect=0.5, read=2, idle=0.2)
    )
    with pytest.raises(ProviderTimeoutError):
        list(client.stream_events("POST", "/s", {}))
    assert client.get_json("/x").data == {"ok": True}


def test_cancelled_async_stream_returns_its_connection(server: FakeServer) -> None:
    server.route("POST", "/s", stream_reply(sse({"n": 1}), 5.0, sse({"n": 2})))
    server.route("GET", "/x", OK)
    client, _ = make_client(server, max_connections=1, timeouts=Timeouts(connect=0.5, read=2))

    async def scenario() -> Any:
        async def consume() -> None:
            async for _ in client.astream_events("POST", "/s", {}):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        try:
            return (await client.aget_json("/x")).data
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == {"ok": True}


def test_async_client_works_across_event_loops(server: FakeServer) -> None:
    server.route("GET", "/x", OK)
    client, _ = make_client(server)
    for _ in range(2):  # a client bound to the first loop would fail in the second
        assert asyncio.run(client.aget_json("/x")).data == {"ok": True}


# -- environment: proxies and TLS -----------------------------------------------------------


def test_environment_proxy_is_honoured(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The "proxy" is our local server; the target host does not exist, so the request can
    # only succeed through the proxy.
    server.route("GET", "http://llm.invalid/v1/models", OK)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    client = HttpClient(provider="test", base_url="http://llm.invalid/v1")
    assert client.get_json("/models").data == {"ok": True}
    assert server.requests[0].path == "http://llm.invalid/v1/models"


@pytest.fixture
def tls_server(tmp_path: Path) -> Any:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    plain = FakeServer()
    plain.route("GET", "/x", OK)
    httpd: ThreadingHTTPServer = plain._httpd
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    yield plain.url.replace("http://", "https://"), str(cert)
    plain.close()


def test_tls_is_verified_by_default(tls_server: tuple[str, str]) -> None:
    url, _ = tls_server
    client = HttpClient(provider="test", base_url=url, retry=RetryPolicy(max_retries=0))
    with pytest.raises(ProviderConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        client.get_json("/x")


def test_tls_with_a_ca_bundle_path(tls_server: tuple[str, str]) -> None:
    url, cert = tls_server
    client = client_for("test", {"verify": cert, "max_retries": 0}, base_url=url)
    assert client.get_json("/x").data == {"ok": True}


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_repr_shows_no_headers() -> None:
    client = HttpClient(provider="t", base_url="http://x", headers={"authorization": "Bearer sk-1"})
    assert "sk-1" not in repr(client)
