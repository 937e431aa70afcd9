"""Reasoning models: OpenAI's request rules read from the model table, reasoning tokens in
Usage, and the model table itself (data, with a public source for every figure)."""

from __future__ import annotations

import logging
import typing
from typing import Any
from urllib.parse import urlparse

import pytest

from devsynth.application.llm.lmstudio_provider import LMStudioProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.application.utils.model_info import (
    context_window_for,
    is_reasoning_model,
    max_output_for,
    model_spec,
    model_specs,
)
from tests.support.llm_server import FakeServer, Reply, stream_reply
from tests.support.wire import Turn, openai_completion, openai_stream

PATH = "/v1/chat/completions"
REASONED = Turn(text="42", prompt_tokens=30, completion_tokens=400, reasoning_tokens=384)


def openai(server: FakeServer, fast: dict[str, Any], **params: Any) -> OpenAIProvider:
    return OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": "sk-test-1", **fast, **params}
    )


@pytest.mark.parametrize("model", ["o3", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "o1"])
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(
    server: FakeServer, fast: Any, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(REASONED)))
    with caplog.at_level(logging.INFO, logger="devsynth.llm.reasoning"):
        openai(server, fast, model=model, max_tokens=2000, temperature=0.7, top_p=0.9).complete(
            [{"role": "user", "content": "?"}], {"reasoning_effort": "high"}
        )
    body = server.requests[0].json()
    assert body["max_completion_tokens"] == 2000
    assert "max_tokens" not in body
    assert "temperature" not in body and "top_p" not in body
    assert body["reasoning_effort"] == "high"
    assert f"temperature dropped: the reasoning model {model}" in caplog.text


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest"])
def test_other_models_keep_max_tokens_and_temperature(
    server: FakeServer, fast: Any, model: str
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(Turn(text="hi"))))
    openai(server, fast, model=model, max_tokens=50, temperature=0.7).generate("x")
    body = server.requests[0].json()
    assert (body["max_tokens"], body["temperature"]) == (50, 0.7)
    assert "max_completion_tokens" not in body


def test_lmstudio_sends_what_it_is_given_whatever_the_model_name(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(Turn(text="hi"))))
    LMStudioProvider(
        {"api_base": server.url + "/v1", "auto_select_model": False, "model": "o3", **fast}
    ).generate("x", {"temperature": 0.2, "max_tokens": 10})
    body = server.requests[0].json()
    assert (body["max_tokens"], body["temperature"]) == (10, 0.2)


def test_reasoning_tokens_are_in_usage_whole_and_streamed(server: FakeServer, fast: Any) -> None:
    server.route(
        "POST",
        PATH,
        Reply(body=openai_completion(REASONED)),
        stream_reply(openai_stream(REASONED)),
    )
    p = openai(server, fast, model="o3")
    whole = p.complete([{"role": "user", "content": "?"}])
    stream = p.stream("?")
    assert "".join(stream) == "42"
    for usage in (whole.usage, stream.completion.usage if stream.completion else None):
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (30, 400)
        assert usage.reasoning_tokens == 384


def test_usage_without_details_says_nothing_of_reasoning(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(Turn(text="hi"))))
    usage = openai(server, fast).complete([{"role": "user", "content": "?"}]).usage
    assert usage is not None and usage.reasoning_tokens is None


def test_reasoning_text_of_compatible_servers_comes_back_apart(
    server: FakeServer, fast: Any
) -> None:
    body = openai_completion(Turn(text="4"))
    body["choices"][0]["message"]["reasoning_content"] = "2+2 is 4"
    server.route("POST", PATH, Reply(body=body))
    result = LMStudioProvider(
        {"api_base": server.url + "/v1", "auto_select_model": False, **fast}
    ).complete([{"role": "user", "content": "2+2?"}])
    assert (result.text, result.thinking) == ("4", "2+2 is 4")


# -- the model table --------------------------------------------------------------------------


def test_every_row_has_figures_and_a_public_source() -> None:
    for spec in model_specs():
        assert spec.provider in ("openai", "anthropic")
        assert urlparse(spec.source).scheme == "https", spec
        if spec.prefix != "claude-":
            assert spec.context_window and spec.context_window > 0, spec
            assert spec.max_output and 0 < spec.max_output <= spec.context_window, spec


# Ids the SDKs name that the table leaves out, and why.
NOT_IN_TABLE = {
    "gpt-5.1-mini": "the openai SDK marks it 'not a supported model ID'",
    "gpt-audio-mini": "an audio model: no text context figures to count against",
    "gpt-audio-mini-2025-12-15": "an audio model",
    "claude-mythos-preview": "an invitation-only preview whose figures no public page gives",
}


def test_the_table_knows_every_model_the_official_sdks_name() -> None:
    from anthropic.types import Model
    from openai.types.shared import ChatModel

    openai_ids = typing.get_args(ChatModel)
    anthropic_ids = typing.get_args(typing.get_args(Model)[0])
    unknown = [
        m
        for m in (*openai_ids, *anthropic_ids)
        if m not in NOT_IN_TABLE and ((s := model_spec(m)) is None or s.prefix == "claude-")
    ]
    assert unknown == []
    # Every current model is a reasoning model on both sides, chat-latest 5.0 aside.
    assert all(is_reasoning_model(m) for m in anthropic_ids if m not in NOT_IN_TABLE)
    assert is_reasoning_model("gpt-6.2-astra") and not is_reasoning_model("gpt-5-chat-latest")


@pytest.mark.parametrize(
    ("model", "window", "output", "reasoning"),
    [
        ("gpt-4o-2024-08-06", 128_000, 16_384, False),
        ("gpt-4o-2024-05-13", 128_000, 4_096, False),
        ("gpt-4.1-nano", 1_047_576, 32_768, False),
        ("o3-mini-2025-01-31", 200_000, 100_000, True),
        ("gpt-5-2025-08-07", 400_000, 128_000, True),
        ("gpt-5-chat-latest", 128_000, 16_384, False),
        ("claude-3-5-haiku-20241022", 200_000, 8_192, False),
        ("claude-sonnet-4-5-20250929", 200_000, 64_000, True),
        ("claude-opus-4-1-20250805", 200_000, 32_000, True),
        ("claude-opus-4-6", 1_000_000, 128_000, True),
        ("claude-haiku-4-5-20251001", 200_000, 64_000, True),
        ("gpt-5.4-mini-2026-03-17", 400_000, 128_000, True),
        ("gpt-6.1-sol", 1_050_000, 128_000, True),
    ],
)
def test_known_models_resolve_by_their_dated_ids(
    model: str, window: int, output: int, reasoning: bool
) -> None:
    assert context_window_for(model) == window
    assert max_output_for(model) == output
    assert is_reasoning_model(model) is reasoning


def test_unknown_models_are_not_guessed() -> None:
    assert model_spec("llama-3.1-8b") is None
    assert not is_reasoning_model("llama-3.1-8b") and not is_reasoning_model(None)
