"""A scriptable HTTP server on 127.0.0.1 for provider tests.

Each route answers with a queue of :class:`Reply` objects (the last one repeats) or a function
of the request. A reply can wait before its headers (a slow server), send its status line and
headers a few bytes at a time (a slow-loris server), stream its body as HTTP chunks with pauses
between them (network splits, a stalled stream, keep-alive pings, an endless body) and hang up
before the final chunk (a stream cut off). :func:`gzip_bomb` and :func:`endless` build hostile
bodies. Every request is recorded, so tests assert on what was sent.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# A step of a streamed body: bytes to send as one HTTP chunk, or seconds to pause.
Step = bytes | float


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes/str sent as is, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunks: Iterable[Step] | None = None  # a chunked body, step by step (may be endless)
    cut: bool = False  # hang up before the final chunk
    content_type: str | None = None
    trickle: tuple[int, float] | None = None  # the head sent (bytes, seconds) at a time


def sse(*events: str | dict[str, Any], event: str | None = None) -> bytes:
    """``data:`` events (dicts as JSON), each followed by a blank line."""
    out = []
    for item in events:
        data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        prefix = f"event: {event}\n" if event else ""
        out.append(f"{prefix}data: {data}\n\n")
    return "".join(out).encode()


def named_events(*events: tuple[str, dict[str, Any]]) -> bytes:
    """Anthropic-style events: ``event: name`` then ``data: {...}``."""
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
        for name, data in events
    )


def stream_reply(*steps: Step, cut: bool = False, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        chunks=list(steps),
        cut=cut,
        content_type="text/event-stream",
        headers=headers or {},
    )


Handler = Callable[[Recorded], Reply]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # hang-ups are what fault-injection tests do on purpose


class FakeServer:
    def __init__(self, port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self.connections = 0  # TCP connections accepted, to see pooling at work

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self._routes[(method, path)] = replies[0]
        else:
            self._routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def _reply_for(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            target = self._routes.get((request.method, request.path))
            if target is None:
                return Reply(status=404, body={"error": {"message": f"no route {request.path}"}})
            if callable(target):
                return target(request)
            return target.pop(0) if len(target) > 1 else target[0]

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            server.connections += 1

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            reply = server._reply_for(request)
            if reply.delay and server.stopping.wait(reply.delay):
                return
            try:
                self._send(reply)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            content_type = reply.content_type or "application/json"
            self.send_header("content-type", content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunks is None:
                payload = _encode(reply.body)
                self.send_header("content-length", str(len(payload)))
                self._end_head(reply)
                self.wfile.write(payload)
                self.wfile.flush()
                return
            self.send_header("transfer-encoding", "chunked")
            self._end_head(reply)
            for step in reply.chunks:
                if isinstance(step, float):
                    if server.stopping.wait(step):
                        return
                    continue
                if step:
                    self.wfile.write(f"{len(step):x}\r\n".encode() + step + b"\r\n")
                    self.wfile.flush()
            if reply.cut:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _end_head(self, reply: Reply) -> None:
            if reply.trickle is None:
                self.end_headers()
                self.wfile.flush()
                return
            self._headers_buffer.append(b"\r\n")  # what end_headers would send, slowly
            head = b"".join(self._headers_buffer)
            self._headers_buffer = []
            size, pause = reply.trickle
            for start in range(0, len(head), size):
                self.wfile.write(head[start : start + size])
                self.wfile.flush()
                if server.stopping.wait(pause):
                    raise ConnectionResetError("server stopping")

        do_GET = _handle
        do_POST = _handle

    return Handler


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def gzip_bomb(inflated: int, piece: bytes = b"\0" * (1 << 20)) -> bytes:
    """``inflated`` bytes of zeros, gzipped (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(piece) for _ in range(inflated // len(piece))]
    return b"".join(out) + packer.flush()


def endless(piece: bytes, pause: float = 0.0) -> Iterable[Step]:
    """A body that never ends: ``piece`` again and again (with ``pause`` between)."""
    if pause:
        return itertools.chain.from_iterable(itertools.repeat([piece, pause]))
    return itertools.repeat(piece)


def split_every(data: bytes, size: int) -> list[Step]:
    """``data`` as chunks of ``size`` bytes with a short pause between them, so the client
    reads them separately."""
    steps: list[Step] = []
    for i in range(0, len(data), size):
        steps.append(data[i : i + size])
        steps.append(0.005)
    return steps


def chunks_at(data: bytes, cuts: Iterable[int]) -> list[Step]:
    """``data`` split at the given byte offsets, pausing between pieces."""
    steps: list[Step] = []
    last = 0
    for cut in sorted(cuts):
        steps += [data[last:cut], 0.01]
        last = cut
    steps.append(data[last:])
    return steps


# -- OpenAI-compatible servers and their dialects ---------------------------------------------


@dataclass(frozen=True)
class Dialect:
    """How an OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenRouter, ...) may depart
    from OpenAI's own replies. The defaults are OpenAI's."""

    name: str = "openai"
    usage: bool = True  # usage in replies, and in a last stream chunk when include_usage asks
    usage_in_stream: bool = True  # honours stream_options.include_usage
    finish_in_last_text: bool = (
        False  # finish_reason on the last text chunk, not a chunk of its own
    )
    space_after_colon: bool = True  # "data: {...}" rather than "data:{...}"
    done_marker: bool = True  # "data: [DONE]" at the end
    errors_in_200: bool = False  # errors as {"error": {...}} with status 200
    streams: bool = True  # False: answers a stream request with one JSON completion


OPENAI_DIALECT = Dialect()
# The dialects the compatible servers speak, one departure each (several servers share each).
DIALECTS = (
    OPENAI_DIALECT,
    Dialect("no-usage", usage=False, usage_in_stream=False),
    Dialect("usage-only-when-not-streaming", usage_in_stream=False),
    Dialect("finish-on-last-text", finish_in_last_text=True),
    Dialect("data-without-space", space_after_colon=False),
    Dialect("no-done-marker", done_marker=False),
    Dialect("errors-in-200", errors_in_200=True),
    Dialect("does-not-stream", streams=False),
)


def openai_compatible(
    dialect: Dialect,
    pieces: Sequence[str] = ("Hel", "lo", " there"),
    *,
    error: dict[str, Any] | None = None,
    status: int = 400,
    headers: dict[str, str] | None = None,
) -> Handler:
    """A ``/chat/completions`` handler answering in ``dialect``: ``pieces`` as the text (one
    stream chunk each), or ``error`` (OpenAI's error object) with ``status``, or with 200
    when the dialect puts errors inside a 200."""
    headers = dict(headers or {})

    def handle(request: Recorded) -> Reply:
        body = request.json()
        model = body.get("model", "served-model")
        usage = {
            "prompt_tokens": 7,
            "completion_tokens": len(pieces),
            "total_tokens": 7 + len(pieces),
        }
        if error is not None:
            code = 200 if dialect.errors_in_200 else status
            return Reply(code, body={"error": error}, headers=headers)
        whole: dict[str, Any] = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "".join(pieces)}}],
        }  # fmt: skip
        if dialect.usage:
            whole["usage"] = usage
        if not body.get("stream") or not dialect.streams:
            return Reply(body=whole, headers=headers)
        chunks: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        chunks += [{"content": piece} for piece in pieces]
        events: list[dict[str, Any]] = []
        for index, delta in enumerate(chunks):
            last = index == len(chunks) - 1
            finish = "stop" if last and dialect.finish_in_last_text else None
            events.append(_chunk(model, delta, finish))
        if not dialect.finish_in_last_text:
            events.append(_chunk(model, {}, "stop"))
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if dialect.usage_in_stream and wants_usage:
            events.append({"id": "cmpl-1", "model": model, "choices": [], "usage": usage})
        lines = [json.dumps(e) for e in events] + (["[DONE]"] if dialect.done_marker else [])
        prefix = "data: " if dialect.space_after_colon else "data:"
        payload = "".join(f"{prefix}{line}\n\n" for line in lines).encode()
        return stream_reply(*split_every(payload, 40), headers=headers)

    return handle


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "cmpl-1", "object": "chat.completion.chunk", "model": model, "choices": [choice]}
