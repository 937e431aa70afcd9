"""Running the command line in tests: in this process (output captured) or as a real process."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from devsynth.cli import run


@dataclass
class Result:
    status: int
    out: str
    err: str


Cli = Callable[..., Result]


def in_process_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``devsynth ARGS`` in this process; ``stdin`` bytes are its standard input."""

    def call(*args: str, stdin: bytes = b"") -> Result:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        status = run(list(args))
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return call


def run_process(*args: str, stdin: bytes = b"", timeout: float = 120) -> Result:
    """Runs ``python -m devsynth ARGS`` as a real process, its output piped."""
    proc = subprocess.run(
        [sys.executable, "-m", "devsynth", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
