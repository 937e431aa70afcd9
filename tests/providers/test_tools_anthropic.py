"""Tool calling and extended thinking on Anthropic's Messages API, in the package's one shape
(OpenAI's), against a local server whose replies are built from the anthropic SDK's types."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from devsynth.application.llm.anthropic_provider import AnthropicProvider, to_anthropic_messages
from devsynth.domain.llm import TextDelta, ThinkingDelta, ToolCallDelta
from devsynth.errors import ConfigurationError
from tests.support.llm_server import FakeServer, Reply, stream_reply
from tests.support.wire import (
    Call,
    Turn,
    anthropic_handler,
    anthropic_message,
    anthropic_stream,
)

KEY = "sk-ant-test-0123456789"
PATH = "/v1/messages"
MODEL = "claude-sonnet-4-5-20250929"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
TWO_CALLS = Turn(
    text="Let me check.",
    calls=[
        Call("toolu_w", "get_weather", '{"city": "Paris, France"}'),
        Call("toolu_t", "get_time", "{}"),
    ],
)
THOUGHTFUL = Turn(
    thinking="The user wants 2+2. That is 4.",
    signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
    text="4",
    reasoning_tokens=12,
    completion_tokens=20,
)


def provider(server: FakeServer, fast: dict[str, Any], **params: Any) -> AnthropicProvider:
    return AnthropicProvider(
        {"api_base": server.url, "api_key": KEY, "model": MODEL, **fast, **params}
    )


# -- tools ----------------------------------------------------------------------------------


def test_openai_format_tools_are_translated_to_anthropic_tools(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=anthropic_message(TWO_CALLS)))
    provider(server, fast).complete([{"role": "user", "content": "?"}], tools=[WEATHER, TIME])
    body = server.requests[0].json()
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "parallel", "sent"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            None,
            {"type": "tool", "name": "get_time"},
        ),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_is_translated(
    server: FakeServer, fast: Any, choice: Any, parallel: Any, sent: Any
) -> None:
    server.route("POST", PATH, Reply(body=anthropic_message(TWO_CALLS)))
    provider(server, fast).complete(
        [{"role": "user", "content": "?"}],
        {"parallel_tool_calls": parallel},
        tools=[WEATHER, TIME],
        tool_choice=choice,
    )
    assert server.requests[0].json()["tool_choice"] == sent


def test_tool_use_blocks_become_tool_calls(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=anthropic_message(TWO_CALLS)))
    result = provider(server, fast).complete([{"role": "user", "content": "?"}], tools=[WEATHER])
    assert result.text == "Let me check."
    assert result.finish_reason == "tool_use"
    weather, time = result.tool_calls
    assert (weather.id, weather.name) == ("toolu_w", "get_weather")
    assert weather.parsed_arguments == {"city": "Paris, France"}
    assert weather.arguments == '{"city":"Paris, France"}'  # the input, as JSON text
    assert (time.name, time.parsed_arguments, time.valid) == ("get_time", {}, True)


def test_tool_round_trip_sends_tool_use_and_tool_result_blocks(
    server: FakeServer, fast: Any
) -> None:
    def script(body: dict[str, Any]) -> Turn:
        last = body["messages"][-1]
        if last["role"] == "user" and isinstance(last["content"], list):
            results = [b["content"] for b in last["content"] if b["type"] == "tool_result"]
            return Turn(text=" / ".join(results))
        return TWO_CALLS

    server.route("POST", PATH, anthropic_handler(script))
    p = provider(server, fast)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather and time in Paris?"},
    ]
    first = p.complete(messages, tools=[WEATHER, TIME])
    weather, time = first.tool_calls
    messages += [
        first.message,
        weather.result("sunny"),
        time.result({"time": "12:00"}),  # non-text results go as JSON
    ]
    second = p.complete(messages, tools=[WEATHER, TIME])
    assert second.text == 'sunny / {"time":"12:00"}'
    sent = server.requests[1].json()
    assert sent["system"] == "Be brief."
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_w", "name": "get_weather",
             "input": {"city": "Paris, France"}},
            {"type": "tool_use", "id": "toolu_t", "name": "get_time", "input": {}},
        ],
    }  # fmt: skip
    # Both results of the parallel calls in one user turn, as the API requires.
    assert sent["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_w", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_t", "content": '{"time":"12:00"}'},
        ],
    }
    assert len(sent["messages"]) == 3


def test_a_user_turn_after_tool_results_joins_their_turn() -> None:
    _, converted = to_anthropic_messages(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "t1", "type": "function",
                 "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "done", "is_error": True},
            {"role": "user", "content": "and now?"},
        ]
    )  # fmt: skip
    assert [m["role"] for m in converted] == ["user", "assistant", "user"]
    assert converted[1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
    ]
    assert converted[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "done", "is_error": True},
        {"type": "text", "text": "and now?"},
    ]


def test_a_tool_message_without_tool_call_id_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="tool_call_id"):
        to_anthropic_messages([{"role": "tool", "content": "x"}])


def test_stream_assembles_input_json_deltas_of_parallel_calls(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, stream_reply(anthropic_stream(TWO_CALLS, size=3)))
    stream = provider(server, fast).stream_messages([{"role": "user", "content": "?"}])
    events = list(stream.events())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert (fragments[0].index, fragments[0].id, fragments[0].name) == (0, "toolu_w", "get_weather")
    assert "".join(f.arguments for f in fragments if f.index == 0) == '{"city": "Paris, France"}'
    completion = stream.completion
    assert completion is not None
    weather, time = completion.tool_calls
    assert weather.arguments == '{"city": "Paris, France"}'  # the streamed text, unchanged
    assert weather.parsed_arguments == {"city": "Paris, France"}
    assert (time.id, time.parsed_arguments) == ("toolu_t", {})
    assert completion.finish_reason == "tool_use"


def test_streamed_broken_input_is_reported_not_dropped(
    server: FakeServer, fast: Any, caplog: pytest.LogCaptureFixture
) -> None:
    turn = Turn(calls=[Call("toolu_1", "get_weather", '{"city": "Par')], finish_reason="max_tokens")
    server.route("POST", PATH, stream_reply(anthropic_stream(turn)))
    with caplog.at_level(logging.WARNING, logger="devsynth.llm.tools"):
        stream = provider(server, fast).stream_messages([{"role": "user", "content": "?"}])
        list(stream)
    assert stream.completion is not None
    (call,) = stream.completion.tool_calls
    assert (call.arguments, call.parsed_arguments) == ('{"city": "Par', None)
    assert call.arguments_error and "toolu_1" in caplog.text


def test_async_stream_and_complete_agree(server: FakeServer, fast: Any) -> None:
    server.route(
        "POST",
        PATH,
        Reply(body=anthropic_message(TWO_CALLS)),
        stream_reply(anthropic_stream(TWO_CALLS)),
    )
    p = provider(server, fast)

    async def run() -> tuple[Any, Any]:
        whole = await p.acomplete([{"role": "user", "content": "?"}], tools=[WEATHER, TIME])
        stream = p.astream_messages([{"role": "user", "content": "?"}], tools=[WEATHER, TIME])
        assert "".join([chunk async for chunk in stream]) == "Let me check."
        return whole, stream.completion

    whole, streamed = asyncio.run(run())
    assert [c.parsed_arguments for c in whole.tool_calls] == [
        c.parsed_arguments for c in streamed.tool_calls
    ]


# -- extended thinking ----------------------------------------------------------------------


def test_thinking_is_sent_and_comes_back_apart_from_the_text(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=anthropic_message(THOUGHTFUL)))
    result = provider(server, fast, max_tokens=4000).complete(
        [{"role": "user", "content": "2+2?"}],
        {"thinking": {"type": "enabled", "budget_tokens": 2000}},
    )
    assert server.requests[0].json()["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert result.text == "4"
    assert result.thinking == "The user wants 2+2. That is 4."
    assert result.thinking_blocks == (
        {"type": "thinking", "thinking": THOUGHTFUL.thinking, "signature": THOUGHTFUL.signature},
    )
    assert result.usage is not None and result.usage.reasoning_tokens == 12


def test_thinking_streams_apart_with_its_signature(server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, stream_reply(anthropic_stream(THOUGHTFUL, size=5)))
    stream = provider(server, fast, max_tokens=4000).stream_messages(
        [{"role": "user", "content": "2+2?"}],
        {"thinking": {"type": "enabled", "budget_tokens": 2000}},
    )
    events = list(stream.events())
    thinking = [e.text for e in events if isinstance(e, ThinkingDelta)]
    assert len(thinking) > 1 and "".join(thinking) == THOUGHTFUL.thinking
    assert stream.thinking == THOUGHTFUL.thinking
    assert stream.text == "4"
    completion = stream.completion
    assert completion is not None
    assert completion.thinking_blocks == (
        {"type": "thinking", "thinking": THOUGHTFUL.thinking, "signature": THOUGHTFUL.signature},
    )
    assert completion.usage is not None and completion.usage.reasoning_tokens == 12


def test_thinking_blocks_go_back_intact_before_the_tool_use(server: FakeServer, fast: Any) -> None:
    turn = Turn(
        thinking="I need the weather.",
        signature="sig-123",
        calls=[Call("toolu_w", "get_weather", '{"city": "Oslo"}')],
    )

    def script(body: dict[str, Any]) -> Turn:
        return turn if len(body["messages"]) == 1 else Turn(text="Cold.")

    server.route("POST", PATH, anthropic_handler(script))
    p = provider(server, fast, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 1024})
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = p.complete(messages, tools=[WEATHER])
    assert first.message["thinking_blocks"] == [
        {"type": "thinking", "thinking": "I need the weather.", "signature": "sig-123"}
    ]
    messages += [first.message, first.tool_calls[0].result("-3 C")]
    p.complete(messages, tools=[WEATHER])
    assistant = server.requests[1].json()["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "I need the weather.",
        "signature": "sig-123",
    }
    assert assistant["content"][1]["type"] == "tool_use"


def test_redacted_thinking_is_kept_and_sent_back() -> None:
    block = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    _, converted = to_anthropic_messages(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", "thinking_blocks": [block]},
        ]
    )
    assert converted[1]["content"] == [block, {"type": "text", "text": "hello"}]


def test_thinking_drops_temperature_with_a_note(
    server: FakeServer, fast: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("POST", PATH, Reply(body=anthropic_message(THOUGHTFUL)))
    with caplog.at_level(logging.INFO, logger="devsynth.llm.reasoning"):
        provider(server, fast, temperature=0.2, max_tokens=4000).complete(
            [{"role": "user", "content": "?"}],
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        )
    assert "temperature" not in server.requests[0].json()
    assert "temperature dropped" in caplog.text


def test_a_thinking_budget_not_below_max_tokens_is_refused_before_sending(
    server: FakeServer, fast: Any
) -> None:
    with pytest.raises(ConfigurationError, match="budget_tokens"):
        provider(server, fast, max_tokens=1024).complete(
            [{"role": "user", "content": "?"}],
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
        )
    assert server.requests == []


def test_count_tokens_sends_the_translated_tools_and_thinking(
    server: FakeServer, fast: Any
) -> None:
    server.route("POST", "/v1/messages/count_tokens", Reply(body={"input_tokens": 321}))
    p = provider(server, fast, max_tokens=4000)
    messages = [{"role": "user", "content": "Weather?"}]
    parameters = {
        "tools": [WEATHER],
        "tool_choice": "required",
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert p.count_tokens(messages, parameters) == 321
    sent = server.requests[0].json()
    assert sent["tools"][0]["input_schema"] == WEATHER["function"]["parameters"]  # type: ignore[index]
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "max_tokens" not in sent  # count_tokens takes none
