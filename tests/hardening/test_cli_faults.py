"""Items 2 and 15: the command line with hostile surroundings. Each case gets one clear line on
stderr and the right exit status; nothing hangs, Ctrl-C works everywhere, SIGPIPE is quiet."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.support import default_sigint, finish, run_cli, start

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and signals")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_ctrl_c_stops_a_count_waiting_on_a_pipe_without_a_writer(fifo: Path) -> None:
    proc = start(["-m", "devsynth", "tokens", "count", str(fifo)])
    time.sleep(1.0)
    assert proc.poll() is None, "waits for a writer, as cat does"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    r = finish(proc, timeout=10)
    assert time.monotonic() - sent < 3
    assert r.status == 130
    assert r.err.strip().endswith("devsynth: interrupted")


def test_a_pipe_named_explicitly_is_read_from_its_writer(fifo: Path) -> None:
    proc = start(["-m", "devsynth", "tokens", "count", "--json", str(fifo)])
    time.sleep(0.5)
    with open(fifo, "w") as w:
        w.write("words through a pipe\n")
    r = finish(proc, timeout=30)
    assert r.status == 0, r.err
    assert '"tokens": 5' in r.out


def test_a_pipe_met_while_walking_is_skipped_with_a_note(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "a.txt").write_text("hello world")
    r = run_cli("tokens", "count", str(tmp_path), timeout=30)
    assert r.status == 0
    assert f"devsynth: skipped {fifo}: a named pipe (name it explicitly to read it)" in r.err
    assert "total (o200k_base, 1 file)" in r.out


def test_closed_stdin() -> None:
    r = run_cli("tokens", "count", stdin=None, preexec_fn=_closing(0))
    assert r.status == 1
    assert r.err == "devsynth: cannot read -: standard input is closed\n"


def test_closed_stdout(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello")
    r = run_cli("tokens", "count", str(f), stdout=None, preexec_fn=_closing(1))
    assert r.status == 1
    assert r.err == "devsynth: error: standard output is closed\n"


def _closing(fd: int) -> Callable[[], None]:
    """A child set-up that closes one of its standard descriptors."""

    def close() -> None:
        default_sigint()
        os.close(fd)

    return close


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_stdout(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello")
    with open("/dev/full", "w") as full:
        r = run_cli("tokens", "count", "--jsonl", str(f), stdout=full)
    assert r.status == 1
    assert r.err == "devsynth: error: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("threads", ["99999999999999999999", "10000", "1025", "0", "-3", "x"])
def test_thread_counts_out_of_range_are_usage_errors(tmp_path: Path, threads: str) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello")
    r = run_cli("tokens", "count", f"--threads={threads}", str(f), timeout=30)
    assert r.status == 2
    assert r.err.splitlines()[-1] == (
        "devsynth tokens count: error: argument --threads: expected a number of threads "
        f"from 1 to 1024, got {threads!r}"
    )
    assert "Traceback" not in r.err


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path) -> None:
    # More output than a pipe holds, so the writer meets the closed pipe.
    for i in range(1500):
        (tmp_path / f"{'long-name-' * 8}{i:04}.jsonl").write_text('{"text": "hi"}\n' * 20)
    for args in (["--jsonl", "--field", "text"], ["--jsonl"]):
        proc = start(["-m", "devsynth", "tokens", "count", *args, str(tmp_path)])
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # `| head -1`
        r = finish(proc, timeout=60)
        assert first.startswith(b'{"path":')
        assert r.err == "", r.err  # no "cannot read X: Broken pipe" for each file left
        assert r.status == 128 + signal.SIGPIPE


def test_an_empty_encoding_name_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli("tokens", "count", "--encoding", "", str(tmp_path), timeout=30)
    assert r.status == 2
    assert r.err.startswith("devsynth: error: unknown encoding ''; available encodings: gpt2")


def test_an_unknown_model_points_at_encoding(tmp_path: Path) -> None:
    r = run_cli("tokens", "count", "--model", "claude-3-opus", str(tmp_path), timeout=30)
    assert r.status == 2
    assert r.err == (
        "devsynth: error: no known encoding for model 'claude-3-opus'; pick one with --encoding "
        "(one of gpt2, r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base, o200k_harmony)\n"
    )


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names must be UTF-8")
def test_file_names_that_are_not_utf8_are_shown_apart(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path)
    for name in (b"caf\xe9.txt", b"caf\xe8.txt"):
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"x")
    r = run_cli("tokens", "count", str(tmp_path), timeout=30)
    assert r.status == 0, r.err
    names = [line.split()[-1] for line in r.out.splitlines()[1:-1]]
    assert [os.path.basename(n) for n in names] == ["caf\\xe8.txt", "caf\\xe9.txt"]
