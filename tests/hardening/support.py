"""Running code in a child Python process with a deadline: the faults under test (a hang, a
deadlock, a signal) must never take the test run down with them."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any


@dataclass
class Finished:
    status: int
    out: str
    err: str


def default_sigint() -> None:
    # A test run started in the background inherits SIGINT ignored; the child must see Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Starts ``python ARGS`` with SIGINT at its default and output piped, unless told."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("preexec_fn", default_sigint)
    return subprocess.Popen([sys.executable, *args], **kwargs)


def finish(proc: subprocess.Popen[bytes], timeout: float) -> Finished:
    """Waits for a child; kills it (and fails) when it outlives the deadline."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"still running after {timeout} s (a hang)\nstdout: {_text(out)[-2000:]}\n"
            f"stderr: {_text(err)[-2000:]}"
        ) from None
    return Finished(proc.returncode, _text(out), _text(err))


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode(errors="replace")


def run_python(code: str, *args: str, timeout: float = 60, **kwargs: Any) -> Finished:
    """Runs a Python snippet in a child process, with a deadline."""
    return finish(start(["-c", textwrap.dedent(code), *args], **kwargs), timeout)


def run_cli(*args: str, timeout: float = 60, **kwargs: Any) -> Finished:
    """Runs ``python -m devsynth ARGS``, with a deadline."""
    return finish(start(["-m", "devsynth", *args], **kwargs), timeout)


def peak_rss_reset_supported() -> bool:
    """Linux lets a process reset its peak resident size (writing 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


__all__ = [
    "Finished",
    "default_sigint",
    "finish",
    "peak_rss_reset_supported",
    "run_cli",
    "run_python",
    "start",
]
