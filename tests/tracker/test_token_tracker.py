"""TokenTracker: the reference document's block, OpenAI's chat formula against tiktoken,
pruning properties, model awareness and bad input."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth.application.utils import token_tracker as tt
from devsynth.application.utils.token_tracker import TokenLimitExceededError, TokenTracker
from devsynth.errors import ConfigurationError
from devsynth.errors import TokenLimitExceededError as PublicTokenLimitExceededError
from tests.support.reference import tiktoken_encoding

REFERENCE_BLOCK = textwrap.dedent(
    """
    from devsynth.application.utils.token_tracker import TokenTracker

    # Create a token tracker

    tracker = TokenTracker()

    # Count tokens in text

    text = "Hello, world!"
    token_count = tracker.count_tokens(text)

    # Count tokens in a message

    message = {"role": "user", "content": "Hello, world!"}
    token_count = tracker.count_message_tokens(message)

    # Count tokens in a conversation

    conversation = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help you today?"}
    ]
    token_count = tracker.count_conversation_tokens(conversation)

    # Prune a conversation to fit within a token limit

    max_tokens = 100
    pruned_conversation = tracker.prune_conversation(conversation, max_tokens)

    # Ensure a text is within a token limit

    try:
        tracker.ensure_token_limit(text, max_tokens=50)
    except TokenLimitExceededError:
        print("Text exceeds token limit")
    """
)


def test_reference_block_runs_verbatim() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(REFERENCE_BLOCK, "llm-integration.md", "exec"), namespace)
    assert namespace["token_count"] == 31  # the conversation, on o200k_base
    assert namespace["pruned_conversation"] == namespace["conversation"]


def test_error_is_importable_from_both_homes() -> None:
    assert TokenLimitExceededError is PublicTokenLimitExceededError


def formula(enc: Any, messages: list[dict[str, str]], per_message: int, per_name: int) -> int:
    """OpenAI's cookbook formula, computed with tiktoken."""
    total = 3
    for m in messages:
        total += per_message
        for key, value in m.items():
            total += len(enc.encode(value, disallowed_special=()))
            if key == "name":
                total += per_name
    return total


texts = st.text(max_size=40) | st.sampled_from(["", "<|endoftext|>", "hello world", "日本語"])
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": texts},
        optional={"name": st.sampled_from(["alice", "example_user", "b0b"])},
    ),
    max_size=12,
)


@pytest.mark.parametrize(
    ("model", "encoding", "per_message", "per_name"),
    [
        ("gpt-4o", "o200k_base", 3, 1),
        ("gpt-4", "cl100k_base", 3, 1),
        ("gpt-3.5-turbo-0613", "cl100k_base", 3, 1),
        ("gpt-3.5-turbo-0301", "cl100k_base", 4, -1),
    ],
)
@given(conversation=messages)
def test_counts_equal_the_formula_computed_with_tiktoken(
    model: str, encoding: str, per_message: int, per_name: int, conversation: list[dict[str, str]]
) -> None:
    tracker = TokenTracker(model=model)
    assert tracker.encoding_name == encoding and tracker.is_exact
    expected = formula(tiktoken_encoding(encoding), conversation, per_message, per_name)
    assert tracker.count_conversation_tokens(conversation) == expected
    for m in conversation:
        assert (
            tracker.count_message_tokens(m)
            == formula(tiktoken_encoding(encoding), [m], per_message, per_name) - 3
        )


@given(conversation=messages, budget=st.integers(min_value=0, max_value=400))
def test_pruning_keeps_system_and_the_newest_run_that_fits(
    conversation: list[dict[str, str]], budget: int
) -> None:
    tracker = TokenTracker(model="gpt-4o")
    system = [m for m in conversation if m["role"] == "system"]
    system_cost = 3 + sum(tracker.count_message_tokens(m) for m in system)
    if system_cost > budget:
        with pytest.raises(TokenLimitExceededError) as e:
            tracker.prune_conversation(conversation, budget)
        assert e.value.current_tokens == system_cost and e.value.max_tokens == budget
        return
    pruned = tracker.prune_conversation(conversation, budget)
    # Never over budget, system messages all kept, order kept, the same objects.
    assert tracker.count_conversation_tokens(pruned) <= budget
    assert [m for m in pruned if m["role"] == "system"] == system
    ids = [id(m) for m in conversation]
    positions = [ids.index(id(m)) for m in pruned]
    assert positions == sorted(positions)
    # The others form the newest run, and one more older message would not fit.
    others = [i for i, m in enumerate(conversation) if m["role"] != "system"]
    kept = [ids.index(id(m)) for m in pruned if m["role"] != "system"]
    assert kept == others[len(others) - len(kept) :]
    if len(kept) < len(others):
        older = conversation[others[len(others) - len(kept) - 1]]
        with_older = [m for m in conversation if m is older or any(m is p for p in pruned)]
        assert tracker.count_conversation_tokens(with_older) > budget


def test_a_long_conversation_prunes_to_its_tail() -> None:
    tracker = TokenTracker(model="gpt-4o")
    conversation = [{"role": "system", "content": "Be brief."}] + [
        {"role": "user" if i % 2 else "assistant", "content": f"message {i}"}
        for i in range(100_000)
    ]
    pruned = tracker.prune_conversation(conversation, 1_000)
    assert pruned[0] is conversation[0]
    assert pruned[-1] is conversation[-1]
    assert 50 < len(pruned) < 200
    assert tracker.count_conversation_tokens(pruned) <= 1_000


def test_special_token_text_counts_as_ordinary_text() -> None:
    tracker = TokenTracker(model="gpt-4")
    assert tracker.count_tokens("<|endoftext|>") == 7
    assert tracker.count_message_tokens({"role": "user", "content": "<|endoftext|>"}) == 11


def test_multi_part_content_counts_its_text_parts() -> None:
    tracker = TokenTracker(model="gpt-4o")
    plain = {"role": "user", "content": "hello there"}
    parts = {
        "role": "user",
        "content": [
            {"type": "text", "text": "hello"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}},
            {"type": "text", "text": " there"},
        ],
    }
    split = tracker.count_tokens("hello") + tracker.count_tokens(" there")
    assert tracker.count_message_tokens(parts) == tracker.count_message_tokens(plain) - 2 + split


def test_tool_definitions_follow_the_cookbook_constants() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city."},
                    "unit": {"type": "string", "description": "Unit", "enum": ["c", "f"]},
                },
            },
        },
    }

    def expected(encoding: str, func_init: int) -> int:
        enc = tiktoken_encoding(encoding)

        def n(s: str) -> int:
            return len(enc.encode(s))

        properties = (
            3
            + (3 + n("city:string:The city"))
            + (3 + (-3 + (3 + n("c")) + (3 + n("f"))) + n("unit:string:Unit"))
        )
        return func_init + n("get_weather:Get the weather") + properties + 12

    assert TokenTracker(model="gpt-4o").count_tools_tokens([tool]) == expected("o200k_base", 7)
    assert TokenTracker(model="gpt-4").count_tools_tokens([tool]) == expected("cl100k_base", 10)
    assert TokenTracker(model="gpt-4o").count_tools_tokens([]) == 0
    conversation = [{"role": "user", "content": "weather?"}]
    tracker = TokenTracker(model="gpt-4o")
    assert tracker.count_conversation_tokens(
        conversation, tools=[tool]
    ) == tracker.count_conversation_tokens(conversation) + expected("o200k_base", 7)


def test_models_pick_encoding_window_and_exactness() -> None:
    assert TokenTracker(model="gpt-4o").context_window == 128_000
    assert TokenTracker(model="gpt-4").context_window == 8_192
    claude = TokenTracker(model="claude-3-5-sonnet-20241022")
    assert not claude.is_exact and "estimate" in claude.method
    assert claude.context_window == 200_000
    unknown = TokenTracker(model="my-local-model")
    assert not unknown.is_exact and unknown.context_window is None
    assert TokenTracker(encoding="cl100k_base").encoding_name == "cl100k_base"


def test_prompt_budget_is_the_window_minus_the_reply() -> None:
    tracker = TokenTracker(model="gpt-4")
    assert tracker.prompt_budget(reserved_for_reply=1_000) == 7_192
    with pytest.raises(TokenLimitExceededError):
        tracker.prompt_budget(reserved_for_reply=10_000)
    with pytest.raises(ConfigurationError, match="context_window"):
        TokenTracker(model="my-local-model").prompt_budget(100)
    assert TokenTracker(model="x", context_window=4096).prompt_budget(96) == 4000


def test_ensure_token_limit_reports_both_numbers() -> None:
    tracker = TokenTracker()
    assert tracker.ensure_token_limit("hello world", 2) == 2
    with pytest.raises(TokenLimitExceededError) as e:
        tracker.ensure_token_limit("hello world", 1)
    assert (e.value.current_tokens, e.value.max_tokens) == (2, 1)


@pytest.mark.parametrize(
    ("conversation", "error", "match"),
    [
        ([{"content": "x"}], ValueError, "message 0 has no 'role'"),
        ([{"role": "user", "content": "x"}, {"role": "user"}], ValueError, "message 1 has no"),
        ([{"role": "user", "content": 3}], TypeError, "message 0: 'content'"),
        ([{"role": 3, "content": "x"}], TypeError, "message 0: 'role'"),
        ([{"role": "user", "content": "x", "name": 5}], TypeError, "'name'"),
        ([{"role": "user", "content": [{"type": "text", "text": 1}]}], TypeError, "part 0"),
        (["not a message"], TypeError, "message 0 must be a dict"),
    ],
)
def test_bad_messages_name_their_index(
    conversation: list[Any], error: type[Exception], match: str
) -> None:
    tracker = TokenTracker()
    with pytest.raises(error, match=match):
        tracker.count_conversation_tokens(conversation)
    with pytest.raises(error, match=match):
        tracker.prune_conversation(conversation, 10_000)


def test_tool_call_messages_without_content_are_accepted() -> None:
    tracker = TokenTracker()
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}],
    }
    assert tracker.count_message_tokens(call) > tracker.count_message_tokens(
        {"role": "assistant", "content": ""}
    )


@pytest.mark.parametrize("budget", [-1, 1.5, "10", True])
def test_bad_budgets_are_refused(budget: Any) -> None:
    tracker = TokenTracker()
    error = ValueError if budget == -1 else TypeError
    with pytest.raises(error):
        tracker.prune_conversation([], budget)


def test_local_tokenizer_json_counts_with_that_tokenizer(tmp_path: Any) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["hello world " * 50, "local models count"], trainers.BpeTrainer())
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    tracker = TokenTracker(tokenizer_path=path)
    assert tracker.count_tokens("hello world") == len(tok.encode("hello world").ids)
    assert "tokenizer.json" in tracker.method
    assert tracker.count_conversation_tokens([{"role": "user", "content": "hello"}]) > 0
    with pytest.raises(ConfigurationError, match=r"no tokenizer\.json"):
        TokenTracker(tokenizer_path=tmp_path / "missing")


def test_without_the_core_the_word_estimate_is_the_last_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tt, "_core", None)
    tracker = TokenTracker()
    assert not tracker.is_exact and "approximate" in tracker.method
    assert tracker.count_tokens("one two three") == 4
    conversation = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one two three four five six"},
    ]
    assert tracker.count_conversation_tokens(conversation) > 0
    # system: 3 + role 2 + content 3, plus 3 for the reply = 11; the user message 3 + 2 + 8.
    assert tracker.count_conversation_tokens(conversation) == 24
    assert tracker.prune_conversation(conversation, 23) == [conversation[0]]
    assert tracker.prune_conversation(conversation, 24) == conversation
