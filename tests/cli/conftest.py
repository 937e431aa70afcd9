"""The command line run in this process, output captured (not a terminal)."""

from __future__ import annotations

import pytest

from tests.support.cli import Cli, in_process_cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    return in_process_cli(capsys, monkeypatch)
