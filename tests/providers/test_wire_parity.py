"""The official SDKs and this package read the same streams the same way.

The openai and anthropic clients (test-only dependencies) are pointed at the local servers the
other tests use: what the SDK assembles from a stream of parallel tool calls and thinking must
be what this package assembles. That checks the fixtures speak the real wire format and that
the package reads it as the vendors do. No request leaves 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

from devsynth.application.llm.anthropic_provider import AnthropicProvider
from devsynth.application.llm.openai_provider import OpenAIProvider
from tests.support.llm_server import FakeServer, stream_reply
from tests.support.wire import Call, Turn, anthropic_stream, openai_stream

TURN = Turn(
    text="Checking both.",
    calls=[
        Call("call_a", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
        Call("call_b", "get_time", '{"tz": "Europe/Paris"}'),
    ],
    reasoning_tokens=64,
    completion_tokens=90,
)
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def test_openai_sdk_and_package_assemble_the_same_stream(
    server: FakeServer, fast: dict[str, Any]
) -> None:
    body = openai_stream(TURN, size=3)
    server.route("POST", "/v1/chat/completions", stream_reply(body), stream_reply(body))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test-1", max_retries=0)
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "?"}],
        tools=[TOOL],  # type: ignore[list-item]
    ) as sdk_stream:
        sdk = sdk_stream.get_final_completion()
    client.close()

    ours = OpenAIProvider({"api_base": server.url + "/v1", "api_key": "sk-test-1", **fast})
    stream = ours.stream_messages([{"role": "user", "content": "?"}], tools=[TOOL])
    assert "".join(stream) == sdk.choices[0].message.content
    completion = stream.completion
    assert completion is not None
    sdk_calls = sdk.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in sdk_calls] == [  # type: ignore[union-attr]
        (c.id, c.name, c.arguments) for c in completion.tool_calls
    ]
    assert completion.finish_reason == sdk.choices[0].finish_reason
    usage = sdk.usage
    assert usage is not None and completion.usage is not None
    assert usage.completion_tokens_details is not None
    assert completion.usage.reasoning_tokens == usage.completion_tokens_details.reasoning_tokens


def test_anthropic_sdk_and_package_assemble_the_same_stream(
    server: FakeServer, fast: dict[str, Any]
) -> None:
    turn = Turn(
        thinking="Two tools, in parallel.",
        signature="sig-abc",
        text=TURN.text,
        calls=TURN.calls,
        reasoning_tokens=TURN.reasoning_tokens,
    )
    body = anthropic_stream(turn, size=3)
    server.route("POST", "/v1/messages", stream_reply(body), stream_reply(body))
    client = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-1", max_retries=0)
    with client.messages.stream(
        model="claude-sonnet-5-5", max_tokens=2000, messages=[{"role": "user", "content": "?"}]
    ) as sdk_stream:
        sdk = sdk_stream.get_final_message()
    client.close()

    ours = AnthropicProvider({"api_base": server.url, "api_key": "sk-ant-1", **fast})
    stream = ours.stream_messages([{"role": "user", "content": "?"}])
    text = "".join(stream)
    completion = stream.completion
    assert completion is not None
    blocks = [b.model_dump(mode="json", exclude_none=True) for b in sdk.content]
    assert text == "".join(b["text"] for b in blocks if b["type"] == "text")
    assert list(completion.thinking_blocks) == [b for b in blocks if b["type"] == "thinking"]
    assert [(c.id, c.name, c.parsed_arguments) for c in completion.tool_calls] == [
        (b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"
    ]
    assert completion.finish_reason == sdk.stop_reason
    details = sdk.usage.output_tokens_details
    assert details is not None and completion.usage is not None
    assert completion.usage.reasoning_tokens == details.thinking_tokens
    # What goes back next turn is what the SDK would send back: the blocks, intact.
    assert json.loads(json.dumps(completion.message["thinking_blocks"])) == [
        b for b in blocks if b["type"] == "thinking"
    ]
