"""Token accounting of tool use: definitions, calls and results counted with the tracker's
formula, and pruning (the tracker's and generate_with_context's) that never separates a tool
call from its results."""

from __future__ import annotations

from typing import Any

from devsynth.application.llm.openai_provider import OpenAIProvider
from devsynth.application.utils.token_tracker import TokenTracker
from tests.providers.conftest import FAST
from tests.support.llm_server import FakeServer, Reply
from tests.support.reference import tiktoken_encoding
from tests.support.wire import Turn, openai_completion

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city."}},
        },
    },
}


def call_message(*calls: tuple[str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": "get_weather", "arguments": f'{{"city": "{city}"}}'}}
            for cid, city in calls
        ],
    }  # fmt: skip


def result(call_id: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def test_a_whole_tool_exchange_counts_with_the_chat_formula() -> None:
    enc = tiktoken_encoding("o200k_base")

    def n(s: str) -> int:
        return len(enc.encode(s))

    conversation = [
        {"role": "user", "content": "Weather in Oslo?"},
        call_message(("call_1", "Oslo")),
        result("call_1", "-3 C and snowing"),
    ]
    tracker = TokenTracker(model="gpt-4o")
    # Per message: 3 + role + every text it sends (the call's name and argument text, the
    # result's content and tool_call_id); then 3 to prime the reply.
    expected_messages = [
        3 + n("user") + n("Weather in Oslo?"),
        3 + n("assistant") + n("get_weather") + n('{"city": "Oslo"}'),
        3 + n("tool") + n("-3 C and snowing") + n("call_1"),
    ]
    assert [tracker.count_message_tokens(m) for m in conversation] == expected_messages
    tools = tracker.count_tools_tokens([TOOL])
    assert tools > 0
    assert tracker.count_conversation_tokens(conversation, tools=[TOOL]) == (
        sum(expected_messages) + 3 + tools
    )


def test_pruning_never_keeps_a_result_without_its_call() -> None:
    tracker = TokenTracker(model="gpt-4o")
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo and Bergen? " * 20},
        call_message(("call_1", "Oslo"), ("call_2", "Bergen")),
        result("call_1", "-3 C " * 30),
        result("call_2", "4 C"),
        {"role": "user", "content": "Thanks. And tomorrow?"},
    ]
    counts = [tracker.count_message_tokens(m) for m in conversation]
    system = counts[0] + 3
    # A budget that fits the last user turn and the last result, but not the first result:
    # the plain newest-first walk would keep call_2's result without the call.
    budget = system + counts[5] + counts[4] + 1
    kept = tracker.prune_conversation(conversation, budget)
    assert kept == [conversation[0], conversation[5]]
    # With room for the whole exchange, all of it stays.
    budget = system + sum(counts[2:])
    assert tracker.prune_conversation(conversation, budget) == [conversation[0], *conversation[2:]]


def test_every_budget_keeps_calls_and_results_together() -> None:
    tracker = TokenTracker(model="gpt-4o")
    conversation = [
        {"role": "user", "content": "go"},
        call_message(("a", "Oslo"), ("b", "Rome")),
        result("a", "cold " * 10),
        result("b", "warm " * 10),
        {"role": "assistant", "content": "Oslo is cold, Rome is warm."},
        {"role": "user", "content": "and Paris?"},
        call_message(("c", "Paris")),
        result("c", "mild"),
    ]
    total = tracker.count_conversation_tokens(conversation)
    for budget in range(3, total + 1):  # 3: the reply priming, the least a budget holds
        kept = tracker.prune_conversation(conversation, budget)
        answered = {r["tool_call_id"] for r in kept if r["role"] == "tool"}
        called = {c["id"] for m in kept for c in m.get("tool_calls") or ()}
        assert answered <= called, (budget, kept)
        assert not kept or kept[0]["role"] != "tool"


def _provider(server: FakeServer, window: int) -> OpenAIProvider:
    return OpenAIProvider(
        {"api_base": server.url + "/v1", "api_key": "sk-test-1", "model": "gpt-4o",
         "context_window": window, "max_tokens": 10, **FAST}
    )  # fmt: skip


def test_generate_with_context_keeps_a_call_and_its_result_together() -> None:
    server = FakeServer()
    try:
        server.route("POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text="ok"))))
        tracker = TokenTracker(model="gpt-4o")
        context = [
            {"role": "user", "content": "Weather in Oslo? " * 40},
            call_message(("call_1", "Oslo " * 40)),
            result("call_1", "-3 C"),
            {"role": "assistant", "content": "It is cold."},
        ]
        prompt = {"role": "user", "content": "And tomorrow?"}
        # Room for the result, the answer and the prompt; not for the call.
        fits = tracker.count_conversation_tokens([context[2], context[3], prompt])
        _provider(server, fits + 10).generate_with_context(prompt["content"], context)
        assert server.requests[0].json()["messages"] == [context[3], prompt]
    finally:
        server.close()


def test_generate_with_context_leaves_room_for_the_tool_definitions() -> None:
    server = FakeServer()
    try:
        server.route("POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text="ok"))))
        tracker = TokenTracker(model="gpt-4o")
        context = [{"role": "assistant", "content": "Earlier answer. " * 20}]
        prompt = {"role": "user", "content": "And now?"}
        fits = tracker.count_conversation_tokens([*context, prompt])
        provider = _provider(server, fits + 10)
        provider.complete_with_context(prompt["content"], context)
        provider.complete_with_context(prompt["content"], context, tools=[TOOL])
        without, with_tools = (r.json()["messages"] for r in server.requests)
        assert without == [*context, prompt]
        assert with_tools == [prompt]  # the tools took the room the old answer had
    finally:
        server.close()


def test_unknown_windows_send_the_context_unpruned() -> None:
    server = FakeServer()
    try:
        server.route("POST", "/v1/chat/completions", Reply(body=openai_completion(Turn(text="ok"))))
        provider = OpenAIProvider({"api_base": server.url + "/v1", "model": "local-model", **FAST})
        context = [call_message(("call_1", "Oslo")), result("call_1", "cold")]
        provider.complete_with_context("next?", context, tools=[TOOL])
        assert len(server.requests[0].json()["messages"]) == 3
    finally:
        server.close()
