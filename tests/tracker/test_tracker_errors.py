"""TokenTracker on hostile input (issue 15, item 18): every misuse is a clear error naming what
is wrong, never an internal AttributeError or OverflowError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.errors import ConfigurationError

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there"},
]


def test_a_broken_tokenizer_json_is_a_configuration_error_naming_its_path(
    tmp_path: Path,
) -> None:
    pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    path.write_text('{"version": "1.0", "model": "not a model"}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot load the tokenizer at") as e:
        TokenTracker(tokenizer_path=path)
    assert str(path) in str(e.value)
    # A directory holding the broken file names the file.
    with pytest.raises(ConfigurationError, match=str(tmp_path)):
        TokenTracker(tokenizer_path=tmp_path)


@pytest.mark.parametrize("model", [5, 3.5, b"gpt-4o", ["gpt-4o"]])
def test_a_model_that_is_not_a_str_is_a_type_error(model: Any) -> None:
    with pytest.raises(TypeError, match="model must be a str or None"):
        TokenTracker(model=model)


def test_a_context_window_that_is_not_an_int_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="context_window must be an int"):
        TokenTracker(context_window="big")  # type: ignore[arg-type]


@pytest.mark.parametrize("budget", [2**63 - 1, 2**63, 2**64, 10**30])
def test_budgets_beyond_64_bits_keep_the_whole_conversation(budget: int) -> None:
    tracker = TokenTracker(model="gpt-4o")
    assert tracker.prune_conversation(CONVERSATION, budget) == CONVERSATION


def tool(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", **function}}


@pytest.mark.parametrize(
    ("tools", "error", "match"),
    [
        ("get_weather", TypeError, "tools must be a list of tool definitions, got str"),
        ({"name": "f"}, TypeError, "tools must be a list of tool definitions, got dict"),
        (5, TypeError, "tools must be a list of tool definitions, got int"),
        ([5], TypeError, "tool 0 must be a dict, got int"),
        ([tool(), {"function": "f"}], TypeError, "tool 1: 'function' must be a dict, got str"),
        ([{"type": "function", "function": {}}], ValueError, "tool 0 has no function name"),
        ([{"function": {"name": 5}}], TypeError, "tool 0: the function name must be str"),
        ([tool(description=7)], TypeError, "tool 0: 'description' must be str, got int"),
        ([tool(parameters=[1])], TypeError, "tool 0: 'parameters' must be a dict, got list"),
        (
            [tool(parameters={"properties": ["city"]})],
            TypeError,
            "tool 0: 'properties' must be a dict, got list",
        ),
        (
            [tool(parameters={"properties": {"city": "string"}})],
            TypeError,
            "tool 0: property 'city' must be a dict, got str",
        ),
        (
            [tool(parameters={"properties": {"unit": {"type": "string", "enum": "cf"}}})],
            TypeError,
            "tool 0: property 'unit': 'enum' must be a list, got str",
        ),
    ],
)
def test_malformed_tools_are_clear_errors(tools: Any, error: type[Exception], match: str) -> None:
    tracker = TokenTracker(model="gpt-4o")
    with pytest.raises(error, match=match):
        tracker.count_tools_tokens(tools)
    with pytest.raises(error, match=match):
        tracker.count_conversation_tokens(CONVERSATION, tools=tools)


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (
            {"role": "assistant", "tool_calls": "bad"},
            "message 0: 'tool_calls' must be a list of tool calls, got str",
        ),
        ({"role": "assistant", "tool_calls": [5]}, "message 0: tool call 0 must be a dict"),
        (
            {"role": "assistant", "tool_calls": [{"function": "f"}]},
            "message 0: tool call 0: the function must be a dict, got str",
        ),
        (
            {"role": "assistant", "function_call": "f"},
            "message 0: 'function_call': the function must be a dict, got str",
        ),
        (
            {"role": "user", "content": [{"text": "no type"}]},
            "message 0: content part 0 has no str 'type'",
        ),
    ],
)
def test_malformed_calls_and_parts_are_clear_errors(message: dict[str, Any], match: str) -> None:
    tracker = TokenTracker(model="gpt-4o")
    error = ValueError if "has no" in match else TypeError
    with pytest.raises(error, match=match):
        tracker.count_message_tokens(message)
    with pytest.raises(error, match=match):
        tracker.prune_conversation([message], 10_000)


def test_image_parts_add_no_tokens_and_text_parts_count() -> None:
    tracker = TokenTracker(model="gpt-4o")
    text_only = {"role": "user", "content": [{"type": "text", "text": "What is this?"}]}
    with_image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        ],
    }
    assert tracker.count_message_tokens(with_image) == tracker.count_message_tokens(text_only)


def test_roles_that_are_str_subclasses_or_hold_lone_surrogates_are_read_as_text() -> None:
    class Role(str):
        pass

    tracker = TokenTracker(model="gpt-4o")
    conversation = [
        {"role": Role("system"), "content": "Be brief."},
        {"role": "user\ud800", "content": "x " * 50},
        {"role": "user", "content": "Hello there"},
    ]
    # The system message (a str subclass) stays; the long one does not fit.
    budget = tracker.count_conversation_tokens([conversation[0], conversation[2]])
    assert tracker.prune_conversation(conversation, budget) == [conversation[0], conversation[2]]
    assert tracker.count_message_tokens(conversation[1]) > 50
