"""`devsynth tokens count` on files, directories and stdin: what is counted, how it is reported,
and the exit status."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bulk.conftest import Result, Tree, rel_paths, run_process, tiktoken_count, whole_count
from tests.hardening.support import default_sigint

Cli = Callable[..., Result]


def json_doc(result: Result) -> dict[str, object]:
    doc = json.loads(result.out)
    assert isinstance(doc, dict)
    return doc


def files_of(doc: dict[str, object]) -> list[dict[str, object]]:
    files = doc["files"]
    assert isinstance(files, list)
    return files


def test_each_file_counts_exactly_as_its_whole_text_and_tiktoken(cli: Cli, tree: Tree) -> None:
    r = cli("tokens", "count", "--json", str(tree.root))
    assert r.status == 0, r.err
    doc = json_doc(r)
    by_path = {os.path.relpath(str(f["path"]), tree.root): f for f in files_of(doc)}
    for rel, data in tree.texts.items():
        assert by_path[rel]["tokens"] == whole_count(data) == tiktoken_count(data), rel
        assert by_path[rel]["bytes"] == len(data)
    # The file with bad UTF-8 counts with replacement characters by default.
    latin = (tree.root / "latin1.txt").read_bytes()
    assert by_path["latin1.txt"]["tokens"] == whole_count(latin)
    assert doc["total_tokens"] == sum(int(f["tokens"]) for f in files_of(doc))  # type: ignore[call-overload]
    assert doc["encoding"] == "o200k_base"


def test_directories_are_walked_in_name_order_without_hidden_entries(cli: Cli, tree: Tree) -> None:
    r = cli("tokens", "count", "--jsonl", str(tree.root))
    paths = [json.loads(line)["path"] for line in r.out.splitlines()]
    assert rel_paths(tree.root, paths) == [
        "docs/prose.md",
        "latin1.txt",
        "notes.txt",
        "src/code.py",
        "src/deep/crlf.txt",
        "src/deep/multi.txt",
    ]
    hidden = cli("tokens", "count", "--jsonl", "--hidden", str(tree.root))
    assert {".hidden.txt", ".git/config"} <= set(
        rel_paths(tree.root, [json.loads(line)["path"] for line in hidden.out.splitlines()])
    )


def test_include_and_exclude_globs_filter_the_walk(cli: Cli, tree: Tree) -> None:
    def walked(*globs: str) -> list[str]:
        r = cli("tokens", "count", "--jsonl", str(tree.root), *globs)
        assert r.status == 0, r.err
        return rel_paths(tree.root, [json.loads(line)["path"] for line in r.out.splitlines()])

    assert walked("--include", "*.txt") == [
        "latin1.txt",
        "notes.txt",
        "src/deep/crlf.txt",
        "src/deep/multi.txt",
    ]
    assert walked("--include", "*.txt", "--exclude", "deep") == ["latin1.txt", "notes.txt"]
    assert walked("--include", "src/**/*.txt") == ["src/deep/crlf.txt", "src/deep/multi.txt"]
    assert walked("--include", "*.md", "--include", "*.py") == ["docs/prose.md", "src/code.py"]
    assert walked("--exclude", "src", "--exclude", "*.md") == ["latin1.txt", "notes.txt"]


def test_files_named_explicitly_are_counted_whatever_the_globs(cli: Cli, tree: Tree) -> None:
    r = cli("tokens", "count", "--jsonl", "--include", "*.py", tree.path(".hidden.txt"))
    assert [json.loads(line)["tokens"] for line in r.out.splitlines()] == [
        whole_count(b"hidden words\n")
    ]


def test_binary_files_are_skipped_with_a_note_and_do_not_fail_the_run(cli: Cli, tree: Tree) -> None:
    r = cli("tokens", "count", "--json", str(tree.root))
    assert r.status == 0
    assert f"skipped {tree.path('image.bin')}: binary file" in r.err
    doc = json_doc(r)
    assert "image.bin" not in {Path(str(f["path"])).name for f in files_of(doc)}
    assert doc["skipped"] == [
        {"path": tree.path("image.bin"), "reason": "binary file (a NUL byte in its first bytes)"}
    ]


def test_undecodable_bytes_are_replaced_or_the_file_skipped_by_flag(cli: Cli, tree: Tree) -> None:
    latin = tree.path("latin1.txt")
    replaced = cli("tokens", "count", "--jsonl", latin)
    assert replaced.status == 0 and replaced.err == ""
    assert json.loads(replaced.out)["tokens"] == whole_count(Path(latin).read_bytes())
    skipped = cli(
        "tokens", "count", "--jsonl", "--undecodable", "skip", latin, tree.path("notes.txt")
    )
    assert skipped.status == 0
    assert f"skipped {latin}: not UTF-8 (first bad byte at offset 3)" in skipped.err
    assert [Path(json.loads(line)["path"]).name for line in skipped.out.splitlines()] == [
        "notes.txt"
    ]


def test_unreadable_paths_are_reported_the_rest_counted_and_the_status_is_1(
    cli: Cli, tree: Tree, tmp_path: Path
) -> None:
    (tree.root / "src" / "dangling.txt").symlink_to(tmp_path / "nowhere")
    missing = str(tmp_path / "missing.txt")
    args = ["tokens", "count", "--json", missing, str(tree.root)]
    if sys.platform == "linux":
        args.append("/proc/self/mem")  # opens, then fails on read (EIO)
    r = cli(*args)
    assert r.status == 1
    assert f"cannot read {missing}: No such file or directory" in r.err
    assert f"cannot read {tree.path('src/dangling.txt')}: No such file or directory" in r.err
    doc = json_doc(r)
    counted = rel_paths(tree.root, [str(f["path"]) for f in files_of(doc)])
    assert set(tree.texts) <= set(counted)
    errors = doc["errors"]
    assert isinstance(errors, list)
    assert {e["path"] for e in errors} >= {missing, tree.path("src/dangling.txt")}
    if sys.platform == "linux":
        assert "/proc/self/mem" in {e["path"] for e in errors}


def test_dash_reads_stdin_in_the_order_given(cli: Cli, tree: Tree) -> None:
    data = b"Standard input, counted in bounded memory.\n" * 1000
    r = cli(
        "tokens",
        "count",
        "--jsonl",
        tree.path("notes.txt"),
        "-",
        tree.path("src/code.py"),
        stdin=data,
    )
    assert r.status == 0, r.err
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert [Path(row["path"]).name for row in rows] == ["notes.txt", "-", "code.py"]
    assert rows[1] == {"path": "-", "tokens": whole_count(data), "bytes": len(data)}
    # No paths at all: stdin.
    alone = cli("tokens", "count", "--jsonl", stdin=b"hello world")
    assert json.loads(alone.out) == {"path": "-", "tokens": 2, "bytes": 11}


def test_binary_stdin_is_skipped_with_a_note(cli: Cli) -> None:
    r = cli("tokens", "count", "--json", "-", stdin=b"\x00\x01binary")
    assert r.status == 0
    assert "skipped -: binary file" in r.err
    assert json_doc(r)["files"] == []


def test_the_table_is_aligned_with_a_total(cli: Cli, tree: Tree) -> None:
    r = cli("tokens", "count", tree.path("notes.txt"), tree.path("docs/prose.md"))
    lines = r.out.splitlines()
    assert re.fullmatch(r"\s*tokens\s+bytes\s+path", lines[0])
    assert lines[-1].endswith("total (o200k_base, 2 files)")
    # Numbers right-aligned in columns: each column ends at the same offset on every line.
    ends = {tuple(m.end() for m in re.finditer(r"\S+", line))[:2] for line in lines}
    assert len(ends) == 1, lines
    total = whole_count((tree.root / "notes.txt").read_bytes()) + whole_count(
        (tree.root / "docs/prose.md").read_bytes()
    )
    assert lines[-1].split()[0] == f"{total:,}"


def test_encoding_and_model_pick_the_encoding(cli: Cli, tree: Tree) -> None:
    data = (tree.root / "src/deep/multi.txt").read_bytes()
    for args, name in [
        (["--encoding", "cl100k_base"], "cl100k_base"),
        (["--model", "gpt-4"], "cl100k_base"),
        (["--encoding", "r50k_base"], "r50k_base"),
        ([], "o200k_base"),
    ]:
        r = cli("tokens", "count", "--json", *args, tree.path("src/deep/multi.txt"))
        doc = json_doc(r)
        assert doc["encoding"] == name
        assert doc["total_tokens"] == whole_count(data, name) == tiktoken_count(data, name)


def test_usage_errors_exit_2(cli: Cli, tree: Tree) -> None:
    assert cli("tokens", "count", "--encoding", "nope", tree.path("notes.txt")).status == 2
    assert cli("tokens", "count", "--model", "no-such-model", tree.path("notes.txt")).status == 2
    bad_glob = cli("tokens", "count", "--include", "a[b", str(tree.root))
    assert bad_glob.status == 2 and "invalid glob" in bad_glob.err
    with pytest.raises(SystemExit) as e:
        cli("tokens", "count", "--json", "--jsonl")
    assert e.value.code == 2


def test_python_dash_m_and_the_console_script_work_as_processes(tree: Tree) -> None:
    r = run_process("tokens", "count", "--json", tree.path("notes.txt"))
    assert r.status == 0, r.err
    assert json.loads(r.out)["total_tokens"] == whole_count((tree.root / "notes.txt").read_bytes())
    script = Path(sys.executable).parent / "devsynth"
    if script.exists():
        import subprocess

        proc = subprocess.run(
            [str(script), "tokens", "count", tree.path("notes.txt")],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0
        assert b"total (o200k_base, 1 file)" in proc.stdout


def test_threads_must_be_positive(cli: Cli, tree: Tree) -> None:
    with pytest.raises(SystemExit) as e:
        cli("tokens", "count", "--threads", "0", tree.path("notes.txt"))
    assert e.value.code == 2
    assert cli("tokens", "count", "--threads", "1", tree.path("notes.txt")).status == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_stops_a_long_count_at_once(tmp_path: Path, real_texts: dict[str, str]) -> None:
    import signal
    import subprocess
    import time

    big = tmp_path / "big.txt"
    unit = "\n".join(real_texts.values()).encode()
    # Long enough that no count finishes before the signal (one thread counts it in 3 s or
    # more): a count that ran to its end would exit 0 and print a number.
    big.write_bytes(unit * (500_000_000 // len(unit)))
    # SIGINT at its default in the child: a suite run in the background (`pytest &`) ignores
    # SIGINT, the child inherited that, and the count then ran to its end and exited 0.
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsynth", "tokens", "count", "--threads", "1", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )
    time.sleep(1.0)
    assert proc.poll() is None, "finished before the interrupt: make the input larger"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err.decode().strip(), out) == (130, "devsynth: interrupted", b"")
    assert time.monotonic() - sent < 10
