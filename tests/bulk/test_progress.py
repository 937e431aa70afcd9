"""The progress bar: drawn on stderr when it is a terminal, nothing extra when output is piped."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

import devsynth.cli.progress
from devsynth.cli import run
from tests.bulk.conftest import Tree, run_process


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_with(
    monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO, *args: str
) -> tuple[int, str, str]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", stderr)
    status = run(list(args))
    return status, out.getvalue(), stderr.getvalue()


@pytest.fixture(autouse=True)
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw the bar at once (on a real run it waits half a second, for long runs only)."""
    monkeypatch.setattr(devsynth.cli.progress, "PROGRESS_DELAY_S", 0)


def test_a_terminal_gets_a_progress_bar_then_a_clean_table(
    monkeypatch: pytest.MonkeyPatch, tree: Tree
) -> None:
    status, out, err = run_with(monkeypatch, FakeTerminal(), "tokens", "count", str(tree.root))
    assert status == 0
    assert "counting" in err and "B/s" in err
    assert "\r" in err  # drawn in place, then cleared (leave=False)
    assert "counting" not in out
    assert out.splitlines()[-1].endswith("total (o200k_base, 6 files)")


def test_the_bar_follows_jsonl_records_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"t": "hello"}\n' * 100)
    status, _, err = run_with(
        monkeypatch, FakeTerminal(), "tokens", "count", "--field", "t", str(path)
    )
    assert status == 0 and "counting" in err


def test_nothing_extra_when_stderr_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tree: Tree
) -> None:
    status, out, err = run_with(
        monkeypatch, io.StringIO(), "tokens", "count", tree.path("notes.txt"), tree.path("src")
    )
    assert status == 0
    assert err == ""
    assert out.splitlines()[-1].endswith("total (o200k_base, 4 files)")


def test_progress_flag_forces_the_bar_on_or_off(
    monkeypatch: pytest.MonkeyPatch, tree: Tree
) -> None:
    _, _, forced = run_with(
        monkeypatch, io.StringIO(), "tokens", "count", "--progress", "always", str(tree.root)
    )
    assert "counting" in forced
    _, _, hidden = run_with(
        monkeypatch, FakeTerminal(), "tokens", "count", "--progress", "never", str(tree.root)
    )
    assert "counting" not in hidden


def test_a_piped_process_prints_only_its_results(tree: Tree) -> None:
    r = run_process("tokens", "count", "--jsonl", tree.path("src"))
    assert r.status == 0
    assert r.err == ""
    assert len(r.out.splitlines()) == 3  # code.py, crlf.txt, multi.txt
