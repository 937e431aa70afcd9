"""`devsynth tokens compare`: tokens per input under several encodings and models, the ratio
to the first column, estimates marked as TokenTracker marks them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.tokens import get_encoding
from tests.support.cli import Cli

CODE = "def greet(name):\n    return f'Hello, {name}!'\n" * 20
PROSE = "Les jetons coûtent plus cher en français qu'en anglais, parfois. 東京は大きい。"


def count(name: str, text: str) -> int:
    return get_encoding(name).count_ordinary(text)


def test_the_table_has_a_row_per_input_a_column_per_encoding_and_the_ratios(
    cli: Cli, tmp_path: Path
) -> None:
    code = tmp_path / "code.py"
    code.write_text(CODE)
    r = cli(
        "tokens", "compare", PROSE, "-f", str(code),
        "--encoding", "o200k_base", "--encoding", "cl100k_base", "--encoding", "r50k_base",
    )  # fmt: skip
    assert r.status == 0 and r.err == ""
    names = ("o200k_base", "cl100k_base", "r50k_base")
    table = [re.split(r"\s{2,}", line.strip()) for line in r.out.splitlines()]
    assert table[0] == ["input", *names]
    assert [row[0] for row in table[1:]] == [repr(PROSE[:23] + "…"), str(code), "total"]
    for row, counts in zip(
        table[1:],
        [
            [count(n, PROSE) for n in names],
            [count(n, CODE) for n in names],
            [count(n, PROSE) + count(n, CODE) for n in names],
        ],
        strict=True,
    ):
        assert row[1:] == [f"{counts[0]:,}"] + [f"{c:,} ({c / counts[0]:.2f}×)" for c in counts[1:]]
    # Columns are right-aligned: every line of the table ends at the same column.
    assert len({len(line) for line in r.out.splitlines()}) == 1


def test_models_come_in_the_order_given_and_estimates_are_marked(cli: Cli) -> None:
    r = cli(
        "tokens", "compare", PROSE,
        "--model", "gpt-4o", "--encoding", "cl100k_base", "--model", "claude-3-5-sonnet",
    )  # fmt: skip
    assert r.status == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["input", "gpt-4o", "cl100k_base", "claude-3-5-sonnet"]
    claude = TokenTracker(model="claude-3-5-sonnet")
    assert not claude.is_exact
    estimate = claude.count_tokens(PROSE)
    assert f"~{estimate:,} (" in lines[1]
    assert lines[1].count("~") == 1  # the exact columns are not marked
    assert lines[-1] == f"~ claude-3-5-sonnet: {claude.method}, not exact"


def test_json_carries_columns_counts_ratios_and_exactness(cli: Cli) -> None:
    r = cli(
        "tokens",
        "compare",
        "--json",
        "hello world",
        PROSE,
        "--model",
        "claude-3-5-sonnet",
        "--encoding",
        "o200k_base",
    )
    doc = json.loads(r.out)
    assert [c["name"] for c in doc["columns"]] == ["claude-3-5-sonnet", "o200k_base"]
    assert [c["exact"] for c in doc["columns"]] == [False, True]
    assert doc["columns"][0]["method"] == TokenTracker(model="claude-3-5-sonnet").method
    assert doc["columns"][1]["encoding"] == "o200k_base"
    first = doc["inputs"][1]
    assert first["input"] == repr(PROSE[:23] + "…")
    assert first["tokens"] == [
        TokenTracker(model="claude-3-5-sonnet").count_tokens(PROSE),
        count("o200k_base", PROSE),
    ]
    assert first["ratios"] == [1.0, first["tokens"][1] / first["tokens"][0]]
    assert doc["total"]["tokens"] == [sum(i["tokens"][k] for i in doc["inputs"]) for k in (0, 1)]


def test_default_columns_and_stdin(cli: Cli) -> None:
    r = cli("tokens", "compare", stdin=PROSE.encode())
    lines = r.out.splitlines()
    assert lines[0].split() == ["input", "o200k_base", "cl100k_base"]
    assert lines[1].startswith("-") and len(lines) == 2


def test_an_empty_first_count_has_no_ratio(cli: Cli) -> None:
    r = cli("tokens", "compare", "")
    assert r.out.splitlines()[1].split() == ["''", "0", "0", "(–)"]


def test_an_unknown_model_or_encoding_is_a_usage_error(cli: Cli) -> None:
    for option, name in [("--model", "no-such-model"), ("--encoding", "nope")]:
        r = cli("tokens", "compare", option, name, "x")
        assert r.status == 2 and r.out == ""
        assert r.err.startswith("devsynth: error: ") and r.err.count("\n") == 1
        assert name in r.err


def test_standard_input_is_read_once(cli: Cli) -> None:
    r = cli("tokens", "compare", "-", "-f", "-", stdin=b"x")
    assert r.status == 2
    assert r.err == "devsynth: error: standard input (-) can be read only once\n"
