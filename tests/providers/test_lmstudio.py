"""LM Studio provider: model selection from LM Studio's listings, the context budget,
re-selection, errors delivered with HTTP 200, and the unreachable server."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from devsynth.application.llm.lmstudio_provider import LMStudioProvider
from devsynth.errors import (
    ContextLengthExceededError,
    NotFoundError,
    ProviderConnectionError,
    TokenLimitExceededError,
)
from tests.support.llm_server import FakeServer, Recorded, Reply, sse, stream_reply

CHAT = "/v1/chat/completions"


def v1_listing(*models: tuple[str, str, int | None]) -> dict[str, Any]:
    """(key, type, loaded context length or None for not loaded)."""
    return {
        "models": [
            {
                "type": kind,
                "key": key,
                "max_context_length": 32768,
                "loaded_instances": []
                if ctx is None
                else [{"id": key, "config": {"context_length": ctx}}],
            }
            for key, kind, ctx in models
        ]
    }


def echo_model(request: Recorded) -> Reply:
    body = request.json()
    return Reply(
        body={
            "id": "c1",
            "model": body["model"],
            "choices": [{"message": {"content": f"from {body['model']}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
    )


def provider(server: FakeServer, fast: dict[str, Any], **params: Any) -> LMStudioProvider:
    return LMStudioProvider({"api_base": server.url + "/v1", **fast, **params})


def test_defaults_follow_the_reference_document() -> None:
    p = LMStudioProvider()
    assert p.http.base_url == "http://localhost:1234/v1"
    assert p.model == "local_model"
    assert p.parameters["max_tokens"] == 1024


def test_placeholder_model_is_replaced_by_the_loaded_llm(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(
        ("nomic-embed", "embedding", 2048), ("big-model", "llm", None), ("qwen3-4b", "llm", 8192)
    )))  # fmt: skip
    server.route("POST", CHAT, echo_model)
    p = provider(server, fast)
    assert p.generate("Hi") == "from qwen3-4b"
    assert p.select_model().context_length == 8192
    assert p.generate("again") == "from qwen3-4b"
    assert server.paths().count("GET /api/v1/models") == 1  # cached
    assert server.requests[-1].json()["max_tokens"] == 1024


def test_configured_model_that_is_loaded_is_kept(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(
        ("first", "llm", 4096), ("mine", "llm", 16384)
    )))  # fmt: skip
    server.route("POST", CHAT, echo_model)
    p = provider(server, fast, model="mine")
    assert p.generate("Hi") == "from mine"
    assert p.select_model().context_length == 16384


def test_configured_model_not_loaded_falls_to_a_loaded_one(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(
        ("mine", "llm", None), ("loaded", "llm", 4096)
    )))  # fmt: skip
    server.route("POST", CHAT, echo_model)
    assert provider(server, fast, model="mine").generate("Hi") == "from loaded"


def test_without_auto_select_the_model_is_sent_as_configured(server: FakeServer, fast: Any) -> None:
    server.route("POST", CHAT, echo_model)
    assert provider(server, fast, auto_select_model=False).generate("Hi") == "from local_model"
    assert server.paths() == ["POST /v1/chat/completions"]


def test_v0_listing_and_its_state_when_v1_is_missing(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v0/models", Reply(body={"object": "list", "data": [
        {"id": "unloaded", "type": "llm", "state": "not-loaded", "max_context_length": 32768},
        {"id": "emb", "type": "embeddings", "state": "loaded", "max_context_length": 2048},
        {"id": "llama-3.1-8b", "type": "llm", "state": "loaded", "max_context_length": 131072},
    ]}))  # fmt: skip
    server.route("POST", CHAT, echo_model)
    p = provider(server, fast)
    assert p.generate("Hi") == "from llama-3.1-8b"
    assert p.select_model().context_length == 131072
    assert server.paths()[:2] == ["GET /api/v1/models", "GET /api/v0/models"]


def test_openai_listing_is_the_last_resort(server: FakeServer, fast: Any) -> None:
    server.route(
        "GET", "/v1/models", Reply(body={"data": [{"id": "text-embedding-x"}, {"id": "phi-4"}]})
    )
    server.route("POST", CHAT, echo_model)
    p = provider(server, fast)
    assert p.generate("Hi") == "from phi-4"
    assert p.select_model().context_length is None
    assert server.paths()[:3] == ["GET /api/v1/models", "GET /api/v0/models", "GET /v1/models"]


def test_no_loaded_model_is_a_clear_error(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(("idle", "llm", None))))
    server.route("GET", "/v1/models", Reply(body={"data": []}))
    with pytest.raises(NotFoundError, match="lms load"):
        provider(server, fast).generate("Hi")


def test_reselects_when_the_server_says_the_model_is_not_loaded(
    server: FakeServer, fast: Any
) -> None:
    server.route(
        "GET", "/api/v1/models",
        Reply(body=v1_listing(("old", "llm", 4096))),
        Reply(body=v1_listing(("old", "llm", None), ("new", "llm", 8192))),
    )  # fmt: skip
    not_loaded = {
        "error": {"message": 'Model "old" is not loaded. Load it first.', "code": "model_not_found"}
    }
    server.route("POST", CHAT, Reply(404, body=not_loaded), Reply(body=echo_model_body("new")))
    p = provider(server, fast)
    assert p.generate("Hi") == "from new"
    assert [r.json()["model"] for r in server.requests_to(CHAT)] == ["old", "new"]
    assert p.select_model().context_length == 8192


def test_stream_reselects_before_any_text(server: FakeServer, fast: Any) -> None:
    server.route(
        "GET", "/api/v1/models",
        Reply(body=v1_listing(("old", "llm", 4096))),
        Reply(body=v1_listing(("new", "llm", 4096))),
    )  # fmt: skip
    not_loaded = {"error": "No models loaded. Please load a model in the developer page."}
    done = sse({"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]}, "[DONE]")
    server.route("POST", CHAT, Reply(400, body=not_loaded), stream_reply(done))
    assert list(provider(server, fast).stream("Hi")) == ["ok"]

    server.route("GET", "/api/v1/models", Reply(body=v1_listing(("new", "llm", 4096))))
    server.route("POST", CHAT, Reply(400, body=not_loaded), stream_reply(done))

    async def run() -> list[str]:
        return [piece async for piece in provider(server, fast).astream("Hi")]

    assert asyncio.run(run()) == ["ok"]


def echo_model_body(model: str) -> dict[str, Any]:
    return {"model": model, "choices": [{"message": {"content": f"from {model}"}}]}


def test_context_overflow_reported_with_http_200(server: FakeServer, fast: Any) -> None:
    message = (
        "Trying to keep the first 5120 tokens when context the overflows. However, the model "
        "is loaded with context length of only 4096 tokens, which is not enough."
    )
    server.route("POST", CHAT, Reply(200, body={"error": message}))
    with pytest.raises(ContextLengthExceededError) as info:
        provider(server, fast, auto_select_model=False).generate("Hi")
    assert isinstance(info.value, TokenLimitExceededError)
    assert info.value.status == 200


def test_loaded_context_length_is_the_budget_for_context(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(("tiny", "llm", 300))))
    server.route("POST", CHAT, echo_model)
    context = [{"role": "system", "content": "Be kind."}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " + "word " * 20}
        for i in range(20)
    ]
    p = provider(server, fast, max_tokens=100)
    p.generate_with_context("Newest question", context)
    sent = server.requests_to(CHAT)[0].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Be kind."}
    assert sent[-1] == {"role": "user", "content": "Newest question"}
    assert 2 < len(sent) < len(context) + 1  # oldest messages dropped, newest kept
    assert sent[-2] == context[-1]


def test_unreachable_server_names_the_url_and_how_to_start_it(fast: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = LMStudioProvider({"api_base": f"http://127.0.0.1:{port}/v1", **fast})
    with pytest.raises(ProviderConnectionError) as info:
        p.generate("Hi")
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "lms server start" in message and "LM Studio" in message


def test_openai_key_is_never_sent_to_lm_studio(
    server: FakeServer, fast: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-123")
    server.route("POST", CHAT, echo_model)
    provider(server, fast, auto_select_model=False).generate("Hi")
    assert "authorization" not in server.requests[0].headers


def test_embeddings_use_the_loaded_embedding_model(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(body=v1_listing(
        ("nomic-embed-text", "embedding", 2048), ("qwen", "llm", 4096)
    )))  # fmt: skip
    server.route("POST", "/v1/embeddings", Reply(body={"data": [{"embedding": [0.5, 0.25]}]}))
    assert provider(server, fast).get_embedding("hello") == [0.5, 0.25]
    assert server.requests_to("/v1/embeddings")[0].json() == {
        "model": "nomic-embed-text",
        "input": "hello",
    }


def test_async_selection(server: FakeServer, fast: Any) -> None:
    server.route("GET", "/api/v1/models", Reply(404))
    server.route("GET", "/api/v0/models", Reply(body={"data": [
        {"id": "m0", "type": "llm", "state": "loaded", "max_context_length": 4096}]}))  # fmt: skip
    server.route("POST", CHAT, echo_model)
    assert asyncio.run(provider(server, fast).agenerate("Hi")) == "from m0"


def test_context_overflow_as_a_stream_error_event(server: FakeServer, fast: Any) -> None:
    message = "The model is loaded with context length of only 4096 tokens, which is not enough."
    server.route("POST", CHAT, stream_reply(sse({"error": message})))
    with pytest.raises(ContextLengthExceededError):
        list(provider(server, fast, auto_select_model=False).stream("Hi"))
