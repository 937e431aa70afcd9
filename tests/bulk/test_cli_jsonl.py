"""`devsynth tokens count --field NAME` and `--chat` on JSON Lines: per-record counts, invalid
lines reported with their number while the run goes on, and the exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.tokens import get_encoding
from tests.bulk.conftest import Result

Cli = Callable[..., Result]


def jsonl(*records: Any) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def rows(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.out.splitlines()]


def test_field_counts_each_record_with_its_line_number(
    cli: Cli, tmp_path: Path, real_texts: dict[str, str]
) -> None:
    texts = [real_texts["prose"][:3000], real_texts["code"][:5000], "<|endoftext|> as text", ""]
    path = tmp_path / "data.jsonl"
    path.write_bytes(jsonl(*({"id": i, "text": t} for i, t in enumerate(texts))))
    r = cli("tokens", "count", "--field", "text", "--jsonl", str(path))
    assert r.status == 0, r.err
    enc = get_encoding("o200k_base")
    assert rows(r) == [
        {"path": str(path), "line": i + 1, "tokens": enc.count_ordinary(t)}
        for i, t in enumerate(texts)
    ]
    doc = json.loads(cli("tokens", "count", "--field", "text", "--json", str(path)).out)
    assert doc["files"] == [
        {
            "path": str(path),
            "tokens": sum(enc.count_ordinary(t) for t in texts),
            "bytes": path.stat().st_size,
            "records": 4,
        }
    ]


def test_invalid_lines_are_reported_by_number_and_the_run_goes_on(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        jsonl(
            {"text": "first record"},
            b"{not json",
            {"title": "no text field"},
            b"   ",
            {"text": 42},
            b'["an", "array"]',
            {"text": "last record"},
        )
    )
    other = tmp_path / "ok.jsonl"
    other.write_bytes(jsonl({"text": "another file"}))
    r = cli("tokens", "count", "--field", "text", "--jsonl", str(path), str(other))
    assert r.status == 1
    assert [(row["line"], row["tokens"]) for row in rows(r)] == [(1, 2), (7, 2), (1, 2)]
    err = r.err.splitlines()
    assert err[0].startswith(f"devsynth: {path}:2: not JSON")
    assert err[1:] == [
        f"devsynth: {path}:3: no field 'text'",
        f"devsynth: {path}:5: field 'text' is not a string (got int)",
        f"devsynth: {path}:6: not a JSON object (got list)",
    ]
    skipped = cli("tokens", "count", "--field", "text", "--skip-invalid", str(path))
    assert skipped.status == 0
    assert skipped.err.count(str(path)) == 4  # still reported


def test_chat_counts_each_conversation_with_the_token_tracker_formula(
    cli: Cli, tmp_path: Path
) -> None:
    conversations = [
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello, world!", "name": "example_user"},
        ],
        [
            {"role": "user", "content": [{"type": "text", "text": "Describe this."}]},
            {"role": "assistant", "content": "A cat."},
        ],
    ]
    path = tmp_path / "chat.jsonl"
    path.write_bytes(
        jsonl(
            {"messages": conversations[0]},
            conversations[1],  # a bare array of messages is a conversation too
            {"messages": [{"content": "no role"}]},
            {"prompt": "no messages"},
        )
    )
    for args, tracker in [
        (["--model", "gpt-4o"], TokenTracker(model="gpt-4o")),
        (["--model", "gpt-3.5-turbo-0301"], TokenTracker(model="gpt-3.5-turbo-0301")),
        (["--encoding", "cl100k_base"], TokenTracker(encoding="cl100k_base")),
    ]:
        r = cli("tokens", "count", "--chat", "--jsonl", *args, str(path))
        assert r.status == 1
        assert rows(r) == [
            {"path": str(path), "line": i + 1, "tokens": tracker.count_conversation_tokens(c)}
            for i, c in enumerate(conversations)
        ]
        assert f"{path}:3: invalid messages: message 0 has no 'role'" in r.err
        assert f"{path}:4: no 'messages' array" in r.err


def test_jsonl_comes_from_stdin_too(cli: Cli) -> None:
    r = cli("tokens", "count", "--field", "t", "--jsonl", stdin=jsonl({"t": "hello world"}))
    assert rows(r) == [{"path": "-", "line": 1, "tokens": 2}]


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_undecodable_jsonl_is_replaced_or_skipped_by_flag(
    cli: Cli, tmp_path: Path, where: str
) -> None:
    data = jsonl({"t": "fine"}) + b'{"t": "caf\xe9"}\n'
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    target = str(path) if where == "file" else "-"
    replaced = cli("tokens", "count", "--field", "t", "--jsonl", target, stdin=data)
    assert [row["tokens"] for row in rows(replaced)] == [
        1,
        get_encoding("o200k_base").count_ordinary("caf\ufffd"),
    ]
    skipped = cli(
        "tokens", "count", "--field", "t", "--json", "--undecodable", "skip", target, stdin=data
    )
    assert skipped.status == 0
    assert "not UTF-8 (first bad byte at offset 24)" in skipped.err
    if where == "file":  # checked before counting: the file is skipped whole
        assert json.loads(skipped.out)["files"] == []


def test_binary_jsonl_is_skipped(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "blob.jsonl"
    path.write_bytes(b"\x00\x01\x02")
    r = cli("tokens", "count", "--field", "t", str(path))
    assert r.status == 0
    assert f"skipped {path}: binary file" in r.err


def test_chat_counts_the_tools_of_a_record_and_refuses_malformed_calls(
    cli: Cli, tmp_path: Path
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather.",
                "parameters": {"properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
            ],
        }
    ]
    path = tmp_path / "tools.jsonl"
    path.write_bytes(
        jsonl(
            {"messages": messages, "tools": tools},
            {"messages": image},
            {"messages": [{"role": "assistant", "tool_calls": "bad"}]},
            {"messages": messages, "tools": "get_weather"},
        )
    )
    tracker = TokenTracker(model="gpt-4o")
    r = cli("tokens", "count", "--chat", "--jsonl", "--model", "gpt-4o", str(path))
    assert r.status == 1
    with_tools = tracker.count_conversation_tokens(messages, tools)
    assert with_tools > tracker.count_conversation_tokens(messages)
    text_only = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]
    assert rows(r) == [
        {"path": str(path), "line": 1, "tokens": with_tools},
        # Image parts add no tokens (README: their cost is not text).
        {"path": str(path), "line": 2, "tokens": tracker.count_conversation_tokens(text_only)},
    ]
    assert (
        f"{path}:3: invalid messages: message 0: 'tool_calls' must be a list of tool calls, "
        "got str" in r.err
    )
    assert f"{path}:4: invalid messages: tools must be a list of tool definitions" in r.err
