"""Structured output: one ``response_format`` and one parsed object on OpenAI, LM Studio and
Anthropic (its forced-tool technique), and a clear error carrying the raw text otherwise."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.lmstudio_provider import LMStudioProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.errors import ConfigurationError, StructuredOutputError
from tests.support.llm_server import FakeServer, Reply, stream_reply
from tests.support.wire import (
    Call,
    Turn,
    anthropic_message,
    anthropic_stream,
    openai_completion,
    openai_stream,
)

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}
FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
}
ANSWER = {"city": "Paris", "celsius": 21.5}


def openai_like(kind: str, server: FakeServer, fast: dict[str, Any]) -> Any:
    if kind == "openai":
        return OpenAIProvider({"api_base": server.url + "/v1", "api_key": "sk-test-1", **fast})
    return LMStudioProvider(
        {"api_base": server.url + "/v1", "auto_select_model": False, "model": "qwen", **fast}
    )


def anthropic(server: FakeServer, fast: dict[str, Any], **params: Any) -> AnthropicProvider:
    return AnthropicProvider(
        {
            "api_base": server.url,
            "api_key": "sk-ant-1",
            "model": "claude-haiku-4-5",
            **fast,
            **params,
        }
    )


@pytest.fixture(params=["openai", "lmstudio"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- OpenAI and LM Studio: response_format as it is -----------------------------------------


def test_response_format_is_sent_and_the_reply_parsed(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route(
        "POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text=json.dumps(ANSWER))))
    )
    result = openai_like(kind, server, fast).complete(
        [{"role": "user", "content": "Weather in Paris?"}], response_format=FORMAT
    )
    assert server.requests[0].json()["response_format"] == FORMAT
    assert result.parsed == ANSWER
    assert json.loads(result.text) == ANSWER


def test_a_streamed_structured_reply_is_parsed_at_the_end(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route(
        "POST",
        "/v1/chat/completions",
        stream_reply(openai_stream(Turn(text=json.dumps(ANSWER)), size=3)),
    )
    stream = openai_like(kind, server, fast).stream_messages(
        [{"role": "user", "content": "?"}], response_format=FORMAT
    )
    assert json.loads("".join(stream)) == ANSWER
    assert stream.completion is not None and stream.completion.parsed == ANSWER


def test_an_unparseable_reply_is_an_error_carrying_the_raw_text(
    kind: str, server: FakeServer, fast: Any
) -> None:
    raw = '{"city": "Paris", "cel'
    server.route(
        "POST",
        "/v1/chat/completions",
        Reply(body=openai_completion(Turn(text=raw, finish_reason="length"))),
    )
    with pytest.raises(StructuredOutputError, match="max_tokens") as caught:
        openai_like(kind, server, fast).complete(
            [{"role": "user", "content": "?"}], response_format=FORMAT
        )
    assert caught.value.text == raw
    assert caught.value.finish_reason == "length"


def test_a_refusal_is_an_error_carrying_the_refusal(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route(
        "POST",
        "/v1/chat/completions",
        Reply(body=openai_completion(Turn(refusal="I can't help with that."))),
    )
    with pytest.raises(StructuredOutputError, match="refused") as caught:
        openai_like(kind, server, fast).complete(
            [{"role": "user", "content": "?"}], response_format=FORMAT
        )
    assert caught.value.text == "I can't help with that."


def test_json_object_mode_parses_too(kind: str, server: FakeServer, fast: Any) -> None:
    server.route("POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text="[1, 2]"))))
    result = openai_like(kind, server, fast).complete(
        [{"role": "user", "content": "?"}], response_format={"type": "json_object"}
    )
    assert result.parsed == [1, 2]


def test_plain_text_replies_are_not_parsed(kind: str, server: FakeServer, fast: Any) -> None:
    server.route(
        "POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text="not json")))
    )
    result = openai_like(kind, server, fast).complete([{"role": "user", "content": "?"}])
    assert (result.text, result.parsed) == ("not json", None)


# -- Anthropic: the forced-tool technique ---------------------------------------------------


def test_anthropic_gets_a_forced_tool_and_returns_the_same_parsed_object(
    server: FakeServer, fast: Any
) -> None:
    turn = Turn(calls=[Call("toolu_1", "weather", json.dumps(ANSWER))])
    server.route("POST", "/v1/messages", Reply(body=anthropic_message(turn)))
    result = anthropic(server, fast).complete(
        [{"role": "user", "content": "Weather in Paris?"}], response_format=FORMAT
    )
    body = server.requests[0].json()
    assert body["tools"] == [
        {
            "name": "weather",
            "description": (
                "Respond with the answer as this tool's input, matching its schema exactly."
            ),
            "input_schema": SCHEMA,
            "strict": True,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}
    assert result.parsed == ANSWER
    assert json.loads(result.text) == ANSWER
    assert result.tool_calls == ()  # the answer, not a call for the caller to run


def test_anthropic_streams_the_structured_reply_as_text(server: FakeServer, fast: Any) -> None:
    turn = Turn(calls=[Call("toolu_1", "weather", json.dumps(ANSWER))])
    server.route("POST", "/v1/messages", stream_reply(anthropic_stream(turn, size=4)))
    stream = anthropic(server, fast).stream_messages(
        [{"role": "user", "content": "?"}], response_format=FORMAT
    )
    chunks = list(stream)
    assert len(chunks) > 1 and json.loads("".join(chunks)) == ANSWER
    assert stream.completion is not None and stream.completion.parsed == ANSWER

    async def run() -> Any:
        s = anthropic(server, fast).astream_messages(
            [{"role": "user", "content": "?"}], response_format=FORMAT
        )
        return "".join([c async for c in s]), s.completion

    text, completion = asyncio.run(run())
    assert json.loads(text) == ANSWER and completion.parsed == ANSWER


def test_anthropic_cut_off_structured_reply_is_an_error_with_the_raw_text(
    server: FakeServer, fast: Any
) -> None:
    turn = Turn(calls=[Call("toolu_1", "weather", '{"city": "Pa')], finish_reason="max_tokens")
    server.route("POST", "/v1/messages", stream_reply(anthropic_stream(turn)))
    stream = anthropic(server, fast).stream_messages(
        [{"role": "user", "content": "?"}], response_format=FORMAT
    )
    with pytest.raises(StructuredOutputError, match="max_tokens") as caught:
        list(stream)
    assert caught.value.text == '{"city": "Pa'


def test_anthropic_json_object_mode_uses_an_open_schema(server: FakeServer, fast: Any) -> None:
    turn = Turn(calls=[Call("toolu_1", "json_response", '{"ok": true}')])
    server.route("POST", "/v1/messages", Reply(body=anthropic_message(turn)))
    result = anthropic(server, fast).complete(
        [{"role": "user", "content": "?"}], response_format={"type": "json_object"}
    )
    assert server.requests[0].json()["tools"][0]["input_schema"] == {"type": "object"}
    assert result.parsed == {"ok": True}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "with tools"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 4000}, "thinking"),
    ],
)
def test_anthropic_refuses_combinations_the_technique_cannot_serve(
    server: FakeServer, fast: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        anthropic(server, fast).complete(
            [{"role": "user", "content": "?"}], params, response_format=FORMAT
        )
    assert server.requests == []


@pytest.mark.parametrize(
    "bad",
    [
        "json",
        {"type": "xml"},
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
    ],
)
def test_malformed_response_formats_fail_before_any_request(
    server: FakeServer, fast: Any, bad: Any
) -> None:
    with pytest.raises(ConfigurationError, match="response_format"):
        openai_like("openai", server, fast).complete(
            [{"role": "user", "content": "?"}], response_format=bad
        )
    assert server.requests == []
