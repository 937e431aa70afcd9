"""Tool calling on OpenAI's wire format (OpenAI and LM Studio), against local servers whose
replies are built from the openai SDK's own types."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from devsynth.application.llm.lmstudio_provider import LMStudioProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.domain.llm import TextDelta, ToolCallDelta
from devsynth.errors import ConfigurationError
from tests.support.llm_server import FakeServer, Reply, stream_reply
from tests.support.wire import Call, Turn, openai_completion, openai_handler, openai_stream

KEY = "sk-test-0123456789abcdef"
PATH = "/v1/chat/completions"

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
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}
TWO_CALLS = Turn(
    text="Let me check.",
    calls=[
        Call("call_w", "get_weather", '{"city": "Paris, France"}'),
        Call("call_t", "get_time", '{"tz": "Europe/Paris"}'),
    ],
)


def make(kind: str, server: FakeServer, fast: dict[str, Any], **params: Any) -> Any:
    if kind == "openai":
        return OpenAIProvider({"api_base": server.url + "/v1", "api_key": KEY, **fast, **params})
    return LMStudioProvider(
        {"api_base": server.url + "/v1", "auto_select_model": False, **fast, **params}
    )


@pytest.fixture(params=["openai", "lmstudio"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_tools_and_tool_choice_are_sent_in_openai_format(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(TWO_CALLS)))
    make(kind, server, fast, model="gpt-4o").complete(
        [{"role": "user", "content": "Weather and time in Paris?"}],
        tools=[WEATHER, TIME],
        tool_choice="required",
    )
    body = server.requests[0].json()
    assert body["tools"] == [WEATHER, TIME]
    assert body["tool_choice"] == "required"


def test_tool_calls_come_back_with_id_name_raw_and_parsed_arguments(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(TWO_CALLS)))
    result = make(kind, server, fast).complete([{"role": "user", "content": "?"}], tools=[WEATHER])
    assert result.finish_reason == "tool_calls"
    assert result.text == "Let me check."
    weather, time = result.tool_calls
    assert (weather.id, weather.name) == ("call_w", "get_weather")
    assert weather.arguments == '{"city": "Paris, France"}'  # exactly as the model wrote it
    assert weather.parsed_arguments == {"city": "Paris, France"}
    assert weather.valid and weather.arguments_error is None
    assert (time.id, time.name, time.parsed_arguments) == (
        "call_t",
        "get_time",
        {"tz": "Europe/Paris"},
    )


def test_a_call_with_invalid_json_arguments_is_reported_not_dropped(
    kind: str, server: FakeServer, fast: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Turn(
        calls=[Call("call_1", "get_weather", '{"city": "Par'), Call("call_2", "get_time", "[1, 2]")]
    )
    server.route("POST", PATH, Reply(body=openai_completion(broken)))
    with caplog.at_level(logging.WARNING, logger="devsynth.llm.tools"):
        result = make(kind, server, fast).complete(
            [{"role": "user", "content": "?"}], tools=[WEATHER]
        )
    first, second = result.tool_calls
    assert first.arguments == '{"city": "Par'
    assert first.parsed_arguments is None and not first.valid
    assert "not valid JSON" in (first.arguments_error or "")
    assert second.parsed_arguments is None
    assert "not an object" in (second.arguments_error or "")
    assert "call_1" in caplog.text and "call_2" in caplog.text


def test_tool_round_trip_sends_the_call_and_its_result_back(
    kind: str, server: FakeServer, fast: Any
) -> None:
    def script(body: dict[str, Any]) -> Turn:
        last = body["messages"][-1]
        if last["role"] == "tool":
            return Turn(text=f"It is {last['content']}.")
        return Turn(calls=[Call("call_w", "get_weather", '{"city": "Paris"}')])

    server.route("POST", PATH, openai_handler(script))
    p = make(kind, server, fast)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = p.complete(messages, tools=[WEATHER])
    (call,) = first.tool_calls
    messages += [first.message, call.result("sunny, 21 C")]
    second = p.complete(messages, tools=[WEATHER])
    assert second.text == "It is sunny, 21 C."
    sent = server.requests[1].json()["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_w", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    }  # fmt: skip
    assert sent[2] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny, 21 C"}


def test_stream_assembles_parallel_call_fragments_between_text(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, stream_reply(openai_stream(TWO_CALLS, size=3)))
    stream = make(kind, server, fast).stream_messages(
        [{"role": "user", "content": "?"}], tools=[WEATHER, TIME]
    )
    events = list(stream.events())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Let me check."
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {f.index for f in fragments} == {0, 1}
    assert [f.index for f in fragments[2:6]] == [0, 1, 0, 1]  # interleaved, as sent
    assert "".join(f.arguments for f in fragments if f.index == 0) == '{"city": "Paris, France"}'
    completion = stream.completion
    assert completion is not None
    assert [c.name for c in completion.tool_calls] == ["get_weather", "get_time"]
    assert [c.parsed_arguments for c in completion.tool_calls] == [
        {"city": "Paris, France"},
        {"tz": "Europe/Paris"},
    ]
    assert completion.finish_reason == "tool_calls"
    assert completion.text == "Let me check."


def test_stream_iteration_gives_text_only_and_keeps_the_calls(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, stream_reply(openai_stream(TWO_CALLS, size=2)))
    stream = make(kind, server, fast).stream_messages([{"role": "user", "content": "?"}])
    assert "".join(stream) == "Let me check."
    assert stream.completion is not None
    assert len(stream.completion.tool_calls) == 2


def test_streamed_invalid_arguments_are_reported(kind: str, server: FakeServer, fast: Any) -> None:
    turn = Turn(calls=[Call("call_1", "get_weather", '{"city": "Pa')], finish_reason="length")
    server.route("POST", PATH, stream_reply(openai_stream(turn)))
    stream = make(kind, server, fast).stream_messages([{"role": "user", "content": "?"}])
    list(stream)
    assert stream.completion is not None
    (call,) = stream.completion.tool_calls
    assert call.arguments == '{"city": "Pa'
    assert call.parsed_arguments is None and call.arguments_error


def test_async_twins_carry_tools(kind: str, server: FakeServer, fast: Any) -> None:
    server.route(
        "POST",
        PATH,
        Reply(body=openai_completion(TWO_CALLS)),
        stream_reply(openai_stream(TWO_CALLS)),
    )
    p = make(kind, server, fast)

    async def run() -> tuple[Any, Any]:
        whole = await p.acomplete([{"role": "user", "content": "?"}], tools=[WEATHER, TIME])
        stream = p.astream_messages([{"role": "user", "content": "?"}], tools=[WEATHER, TIME])
        kinds = [type(e).__name__ async for e in stream.events()]
        assert "ToolCallDelta" in kinds and "TextDelta" in kinds
        return whole, stream.completion

    whole, streamed = asyncio.run(run())
    assert whole.tool_calls == streamed.tool_calls
    assert [c.id for c in whole.tool_calls] == ["call_w", "call_t"]
    assert all(r.json()["tools"] == [WEATHER, TIME] for r in server.requests)


def test_tools_in_parameters_are_the_same_as_the_keyword(
    kind: str, server: FakeServer, fast: Any
) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(TWO_CALLS)))
    make(kind, server, fast).complete(
        [{"role": "user", "content": "?"}], {"tools": [WEATHER], "tool_choice": "auto"}
    )
    body = server.requests[0].json()
    assert (body["tools"], body["tool_choice"]) == ([WEATHER], "auto")


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({"type": "function"}, "must be a list"),
        ([{"type": "function", "name": "x"}], 'must have a "function"'),
        ([{"type": "function", "function": {"description": "no name"}}], "no function name"),
        ([{"type": "function", "function": {"name": "x", "parameters": "{}"}}], "JSON schema"),
    ],
)
def test_malformed_tools_fail_before_any_request(
    server: FakeServer, fast: Any, tools: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make("openai", server, fast).complete([{"role": "user", "content": "?"}], tools=tools)
    assert server.requests == []


def test_a_fallback_chain_streams_tool_call_fragments_from_the_provider_that_answers(
    server: FakeServer, fast: Any
) -> None:
    from devsynth.application.llm.fallback import FallbackProvider

    server.route("POST", PATH, stream_reply(openai_stream(TWO_CALLS)))
    down = OpenAIProvider(
        {"api_base": "http://127.0.0.1:9/v1", "api_key": KEY, **fast, "max_retries": 0}
    )
    chain = FallbackProvider([down, make("openai", server, fast)])
    stream = chain.stream_with_context("?", [], {"tools": [WEATHER, TIME]})
    kinds = {type(e).__name__ for e in stream.events()}
    assert kinds == {"TextDelta", "ToolCallDelta"}
    assert stream.completion is not None
    assert [c.name for c in stream.completion.tool_calls] == ["get_weather", "get_time"]
    assert stream.completion.metadata["answered_by"] == "openai"
    assert stream.completion.metadata["skipped"] == ["openai"]


def test_non_text_tool_results_go_as_json_text(kind: str, server: FakeServer, fast: Any) -> None:
    server.route("POST", PATH, Reply(body=openai_completion(Turn(text="ok"))))
    (call,) = openai_like_call()
    make(kind, server, fast).complete(
        [{"role": "user", "content": "?"}, {"role": "assistant", "content": None,
          "tool_calls": [call.to_message()]}, call.result({"temp": 21, "unit": "°C"})]
    )  # fmt: skip
    sent = server.requests[0].json()["messages"][2]
    assert sent == {"role": "tool", "tool_call_id": "call_w", "content": '{"temp":21,"unit":"°C"}'}


def openai_like_call() -> tuple[Any, ...]:
    from devsynth.application.llm.tools import tool_call

    return (tool_call("call_w", "get_weather", '{"city": "Paris"}'),)


def test_text_between_call_fragments_stays_text(kind: str, server: FakeServer, fast: Any) -> None:
    from openai.types.chat import ChatCompletionChunk
    from openai.types.chat.chat_completion_chunk import (
        Choice,
        ChoiceDelta,
        ChoiceDeltaToolCall,
        ChoiceDeltaToolCallFunction,
    )

    from tests.support.llm_server import sse

    def chunk(delta: ChoiceDelta, finish: Any = None) -> bytes:
        body = ChatCompletionChunk(
            id="c", object="chat.completion.chunk", created=1, model="m",
            choices=[Choice(index=0, delta=delta, finish_reason=finish)],
        )  # fmt: skip
        return sse(body.model_dump(mode="json", exclude_unset=True))

    def fragment(i: int, args: str, cid: str | None = None, name: str | None = None) -> bytes:
        function = ChoiceDeltaToolCallFunction(arguments=args, name=name)
        return chunk(
            ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(index=i, id=cid, function=function)])
        )

    body = b"".join([
        fragment(0, "", "call_a", "get_weather"), chunk(ChoiceDelta(content="one ")),
        fragment(0, '{"city": '), fragment(1, "", "call_b", "get_time"),
        chunk(ChoiceDelta(content="two")), fragment(1, "{}"), fragment(0, '"Oslo"}'),
        chunk(ChoiceDelta(), "tool_calls"), sse("[DONE]"),
    ])  # fmt: skip
    server.route("POST", PATH, stream_reply(body))
    stream = make(kind, server, fast).stream_messages([{"role": "user", "content": "?"}])
    assert "".join(stream) == "one two"
    assert stream.completion is not None
    assert [(c.id, c.parsed_arguments) for c in stream.completion.tool_calls] == [
        ("call_a", {"city": "Oslo"}),
        ("call_b", {}),
    ]
