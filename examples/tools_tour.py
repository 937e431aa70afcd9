"""Tools, structured output and reasoning models, one shape on OpenAI, Anthropic and LM Studio.

Runs against three local servers that speak each provider's real wire format (the test
servers of ``tests/support``, whose replies are built from the official SDKs' types), so it
needs the test extra and no key or network. From the repository root::

    python examples/tools_tour.py

For each provider: a tool round trip (the model calls a tool, the result goes back, the model
answers), a reply checked against a JSON schema, and a reasoning model's usage.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, run from a checkout

from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
from tests.support.llm_server import FakeServer, Recorded, Reply
from tests.support.wire import Call, Turn, anthropic_handler, openai_handler

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FORECAST_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["city", "celsius"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "forecast", "schema": FORECAST_SCHEMA, "strict": True},
}
WEATHER = {"Paris": "sunny, 21 C"}


def get_weather(city: str) -> str:
    """The tool the model calls (a stand-in for a real weather service)."""
    return WEATHER.get(city, "unknown")


# -- the simulated model, one script for every wire format --------------------------------


def _last_tool_result(body: dict[str, Any]) -> str | None:
    last = body["messages"][-1]
    if last.get("role") == "tool":  # OpenAI's shape
        return str(last["content"])
    content = last.get("content")
    if isinstance(content, list):  # Anthropic's tool_result block
        results = [b["content"] for b in content if b.get("type") == "tool_result"]
        return str(results[0]) if results else None
    return None


def model(body: dict[str, Any]) -> Turn:
    """What the simulated model answers to a request body, in the provider's own terms."""
    name = body.get("model", "")
    reasoning = name.startswith(("o3", "gpt-5", "claude", "qwen3")) or "thinking" in body
    extras: dict[str, Any] = {"model": name}
    if reasoning:
        extras.update(reasoning_tokens=192, completion_tokens=230)
    if body.get("thinking") or name.startswith("qwen3"):  # Claude's thinking, Qwen's reasoning
        extras.update(thinking="Clouds over Paris, no rain front: no.", signature="sig-1")
    result = _last_tool_result(body)
    if result is not None:
        return Turn(text=f"It is {result} in Paris.", **extras)
    forced = (
        (body.get("tool_choice") or {}).get("name")
        if isinstance(body.get("tool_choice"), dict)
        else None
    )
    if body.get("response_format") or forced:
        answer = json.dumps({"city": "Paris", "celsius": 21})
        if forced:  # Anthropic: the answer is the forced tool's input
            return Turn(calls=[Call("toolu_json", forced, answer)], **extras)
        return Turn(text=answer, **extras)
    if body.get("tools"):
        return Turn(calls=[Call("call_1", "get_weather", '{"city": "Paris"}')], **extras)
    return Turn(text="Paris is 21 C and sunny.", **extras)


def lmstudio_listing(request: Recorded) -> Reply:
    """LM Studio's own model listing: one loaded model."""
    loaded = {"id": "qwen3-8b", "config": {"context_length": 32768}}
    model = {"key": "qwen3-8b", "type": "llm", "loaded_instances": [loaded]}
    return Reply(body={"models": [model]})


# -- the tour -------------------------------------------------------------------------------


def matches_schema(value: Any) -> bool:
    """The schema above, checked by hand (the tour has no schema library)."""
    return (
        isinstance(value, dict)
        and set(value) == {"city", "celsius"}
        and isinstance(value["city"], str)
        and isinstance(value["celsius"], (int, float))
    )


def tour(label: str, provider: Any, server: FakeServer, reasoning: dict[str, Any]) -> None:
    print(f"\n=== {label} ===")
    # 1. A tool round trip.
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = provider.complete(messages, tools=[WEATHER_TOOL])
    (call,) = first.tool_calls
    print(f"tool call: {call.name}({call.arguments}) id={call.id} parsed={call.parsed_arguments}")
    messages += [first.message, call.result(get_weather(**call.parsed_arguments))]
    stream = provider.stream_messages(messages, tools=[WEATHER_TOOL])
    print(f"answer (streamed): {''.join(stream)}")
    sent = server.requests[-1].json()["messages"]
    print(f"  sent back on the wire: {json.dumps(sent[1:], separators=(',', ':'))}")

    # 2. A reply checked against a JSON schema.
    reply = provider.complete(
        [{"role": "user", "content": "Forecast for Paris, as JSON."}],
        response_format=RESPONSE_FORMAT,
    )
    print(f"structured: {reply.parsed}  matches schema: {matches_schema(reply.parsed)}")
    body = server.requests[-1].json()
    how = "tools+tool_choice" if "tool_choice" in body else "response_format"
    print(f"  asked for with {how}")

    # 3. A reasoning model's usage.
    thought = provider.complete([{"role": "user", "content": "Will it rain?"}], reasoning)
    usage = thought.usage
    print(
        f"reasoning model {thought.model}: prompt={usage.prompt_tokens} "
        f"completion={usage.completion_tokens} reasoning={usage.reasoning_tokens}"
    )
    if thought.thinking:
        print(f"  thinking (apart from the answer): {thought.thinking!r}")
    body = server.requests[-1].json()
    shown = {k: body[k] for k in ("max_tokens", "max_completion_tokens", "reasoning_effort",
                                  "temperature", "thinking") if k in body}  # fmt: skip
    print(f"  request settings on the wire: {shown}")


def main() -> None:
    # The notes the package logs (a parameter a reasoning model does not take, and so on).
    logging.basicConfig(format="  log: %(message)s", level=logging.WARNING, stream=sys.stdout)
    logging.getLogger("devsynth.llm.reasoning").setLevel(logging.INFO)
    adapter = LLMBackendAdapter()
    openai_server, anthropic_server, lmstudio_server = FakeServer(), FakeServer(), FakeServer()
    try:
        openai_server.route("POST", "/v1/chat/completions", openai_handler(model))
        anthropic_server.route("POST", "/v1/messages", anthropic_handler(model))
        lmstudio_server.route("POST", "/v1/chat/completions", openai_handler(model))
        lmstudio_server.route("GET", "/api/v1/models", lmstudio_listing)

        def create(kind: str, **parameters: Any) -> Any:
            return adapter.create_provider(LLMProviderConfig(kind, parameters=parameters))

        openai = create("openai", api_base=openai_server.url + "/v1", api_key="sk-local")
        tour(
            "OpenAI",
            openai,
            openai_server,
            {"model": "o3", "reasoning_effort": "high", "max_tokens": 4000, "temperature": 0.2},
        )
        anthropic = create(
            "anthropic",
            api_base=anthropic_server.url,
            api_key="sk-ant-local",
            model="claude-sonnet-5-5",
            max_tokens=4000,
        )
        tour(
            "Anthropic",
            anthropic,
            anthropic_server,
            {"thinking": {"type": "enabled", "budget_tokens": 2048}, "temperature": 0.2},
        )
        lmstudio = create("lmstudio", api_base=lmstudio_server.url + "/v1")
        tour("LM Studio", lmstudio, lmstudio_server, {"max_tokens": 800})
    finally:
        for server in (openai_server, anthropic_server, lmstudio_server):
            server.close()


if __name__ == "__main__":
    main()
