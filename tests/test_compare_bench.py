"""benches/compare.py: the exactness gate and the ranking it feeds, and one run end to end on
tiny inputs (skipped where the bench extra is not installed)."""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from benches.compare import HOSTILE, hostile_input
from benches.comparison import report, workloads

ROOT = Path(__file__).resolve().parent.parent


def _work(results: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "encode English prose",
        "group": "text",
        "op": "encode",
        "input": "English prose",
        "bytes": 1_000_000,
        "threads": 1,
        "results": {name: o.to_json() for name, o in results.items()},
        **extra,
    }


def test_a_wrong_output_marks_the_peer_not_exact_and_unranked() -> None:
    calls = {
        "tiktoken": lambda text: [len(text), 1],
        "devsynth": lambda text: [len(text), 1],
        "fastokens": lambda text: [len(text), 2],  # wrong, and it would be the fastest
        "toktok": lambda text: [len(text), 1],
    }
    outcomes = workloads.alternate(calls, lambda p: p + "body", workloads.same_ids, rounds=3)
    assert [outcomes[n].exact for n in calls] == [True, True, False, True]
    assert all(len(o.times) == 3 for o in outcomes.values())
    outcomes["tiktoken"].times = [1.0] * 3
    outcomes["fastokens"].times = [0.001] * 3
    outcomes["toktok"].times = [0.5] * 3
    outcomes["devsynth"].times = [0.25] * 3
    work = _work(outcomes)
    assert report.cell(work, "fastokens") == "**not exact**"
    assert report.lead_over_peers(work) == (2.0, "toktok")


def test_a_tuple_is_not_a_list_and_a_raising_peer_is_an_error() -> None:
    def refuses(text: str) -> list[int]:
        raise ValueError("Input too long to encode safely")

    calls = {
        "tiktoken": lambda text: [1, 2],
        "rs-bpe": lambda text: (1, 2),
        "bpe-openai": refuses,
    }
    outcomes = workloads.alternate(calls, lambda p: p, workloads.same_ids, rounds=2)
    assert not outcomes["rs-bpe"].exact
    assert outcomes["bpe-openai"].error == "ValueError: Input too long to encode safely"
    assert outcomes["bpe-openai"].times == []
    assert report.cell(_work(outcomes), "bpe-openai") == "error"


def test_every_round_gets_a_new_input_and_each_call_its_own_object() -> None:
    seen: list[str] = []
    calls = {"tiktoken": seen.append, "devsynth": seen.append}
    workloads.alternate(calls, lambda p: p + "text", lambda out, ref: True, rounds=3)
    assert len(seen) == 8  # a warm-up round and 3 timed rounds, two calls each
    assert len(set(seen)) == 4  # one text per round, the same for both tokenizers
    assert len({id(s) for s in seen}) == 8  # but never the same object


def test_what_lived_before_the_rounds_is_not_walked_by_their_collections() -> None:
    before = [[i] for i in range(10_000)]  # tracked objects, alive before the rounds
    frozen: list[int] = []

    def call(text: str) -> None:
        frozen.append(gc.get_freeze_count())

    workloads.alternate({"tiktoken": call, "devsynth": call}, lambda p: p, lambda o, r: True, 2)
    assert min(frozen) >= len(before)
    assert gc.get_freeze_count() == 0


def test_flat_outputs_are_checked_against_the_lists() -> None:
    reference = [[5, 6], [], [7]]
    assert workloads.same_flat(([5, 6, 7], [0, 2, 2, 3]), reference)
    assert not workloads.same_flat(([5, 6, 7], [0, 2, 3, 3]), reference)
    assert not workloads.same_flat(([5, 7, 6], [0, 2, 2, 3]), reference)
    assert workloads.same_flat({"ids": [5, 6, 7], "offsets": [0, 2, 2, 3]}, reference)
    assert workloads.same_flat(([5, 6, 7], [2, 2, 3]), reference)  # ends only
    assert not workloads.same_flat(([5, 6, 7], [2, 3, 3]), reference)
    np = pytest.importorskip("numpy")
    ids, offsets = np.array([5, 6, 7], np.uint32), np.array([0, 2, 2, 3], np.uint64)
    assert workloads.same_flat((ids, offsets), reference)


def test_count_must_be_an_int_equal_to_the_reference() -> None:
    assert workloads.same_count(3, 3)
    assert not workloads.same_count(3.0, 3)
    assert not workloads.same_count(4, 3)


def test_hostile_inputs_differ_every_round_and_keep_their_size() -> None:
    for label in HOSTILE:
        one, two = hostile_input(label, 4_000, "0-a"), hostile_input(label, 4_000, "1-b")
        assert one != two, label
        assert len(one.encode()) == len(two.encode()), label
        assert not any(c.isspace() for c in one), label
        assert hostile_input(label, 4_000, "0-a") == one, label


def test_targets_pass_and_fail_on_the_ratios() -> None:
    def outcome(seconds: float) -> workloads.Outcome:
        return workloads.Outcome(times=[seconds])

    full: dict[str, Any] = {
        "encodings": {
            "o200k_base": {
                "workloads": [
                    _work(
                        {"tiktoken": outcome(1.0), "devsynth": outcome(0.1), "toktok": outcome(0.2)}
                    )
                ],
                "startup": {"devsynth": {"cold_start_s": 0.04, "rss_mb": 70.0}},
            }
        }
    }
    by_name = {t.name.split()[0]: t for t in report.targets(full)}
    encode = by_name["encode"]
    assert encode.ok is None  # code and multilingual were not measured
    assert by_name["cold"].ok is True
    assert by_name["memory"].ok is False
    full["encodings"]["o200k_base"]["workloads"][0]["results"]["toktok"]["times"] = [0.124]
    rows = [("English", full["encodings"]["o200k_base"]["workloads"][0])]
    assert report._ratio_target("encode", rows, 1.25).ok is False
    assert report._ratio_target("encode", rows, 1.24).ok is True


def test_the_paired_lead_is_the_median_of_each_rounds_ratio() -> None:
    # The machine slows down for rounds 2 and 3: devsynth is twice as fast in every round, but
    # the slow rounds fall on its median and not on the peer's.
    work = _work(
        {
            "tiktoken": workloads.Outcome(times=[9.0] * 5),
            "devsynth": workloads.Outcome(times=[1.0, 3.0, 3.0, 1.0, 3.0]),
            "toktok": workloads.Outcome(times=[2.0, 6.0, 6.0, 2.0, 2.0]),
            "fastokens": workloads.Outcome(times=[2.5, 7.0, 7.0, 2.5, 2.5]),
        }
    )
    assert report.lead_over_peers(work) == (2.0 / 3.0, "toktok")
    # Per round, the fastest peer of that round: 2/1, 6/3, 6/3, 2/1, 2/3.
    assert report.paired_lead(work) == 2.0
    rows: list[tuple[str, dict[str, Any] | None]] = [("English", work)]
    assert "paired 2.00x" in report._ratio_target("encode", rows, 1.25).detail
    work["results"]["devsynth"]["exact"] = False
    assert report.paired_lead(work) is None


BENCH_EXTRA = ("tiktoken", "rs_bpe")


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in BENCH_EXTRA),
    reason="the bench extra is not installed (pip install -e '.[bench]')",
)
def test_compare_runs_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benches" / "compare.py"),
            "--smoke",
            "--only",
            "o200k_base",
            "--peers",
            "rs-bpe",
            "--no-startup",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (tmp_path / "compare-latest.md").read_text("utf-8")
    assert markdown in done.stdout
    assert "**Quick run**" in markdown
    assert "| workload | devsynth | tiktoken | rs-bpe | devsynth / fastest exact peer |" in markdown

    full = json.loads((tmp_path / "compare-latest.json").read_text("utf-8"))
    enc = full["encodings"]["o200k_base"]
    assert enc["affinity"]["single"] and len(enc["affinity"]["single"]) == 1
    ids = [w["id"] for w in enc["workloads"]]
    for op in ("encode", "count"):
        for text in ("English prose", "source code", "multilingual"):
            assert f"{op} {text}" in ids
    for label in HOSTILE:
        assert f"encode {label}" in ids
    assert {w["op"] for w in enc["workloads"] if w["group"] == "batch"} == {
        "batch",
        "flat",
        "count_batch",
    }
    by_id = {w["id"]: w for w in enc["workloads"]}
    flat = next(w for w in enc["workloads"] if w["op"] == "flat")["results"]
    assert flat["devsynth"]["exact"] and flat["devsynth, output='arrow'"]["exact"]
    large = next(w for w in enc["workloads"] if w["group"] == "large")["results"]
    assert large["devsynth, 1 thread"]["exact"] and large["devsynth"]["exact"]
    assert "devsynth, output='arrow'" in markdown and "`num_threads=2`" in markdown
    assert by_id["encode English prose"]["results"]["rs-bpe"]["times"]
    for work in enc["workloads"]:
        ours = work["results"].get("devsynth")
        if ours is not None:
            assert ours["exact"] and ours["error"] is None and ours["times"], work["id"]
        assert work["results"]["tiktoken"]["times"], work["id"]
        if work["group"] == "text" and work["op"] == "encode":
            assert ours is not None and ours["cold"] is not None

    svg = ET.fromstring((tmp_path / "compare-latest.svg").read_text("utf-8"))
    titles = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("devsynth: ") for t in titles)
    assert any(t.startswith("rs-bpe: ") for t in titles)
