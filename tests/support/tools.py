"""Outside programs some tests drive: tmux (a real terminal) and headless Chromium (the HTML
page). ``scripts/test.sh`` installs them and sets ``DEVSYNTH_REQUIRE_TOOLS=1``, so in CI a
missing tool fails its tests; elsewhere they are skipped, with the reason in the summary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def require(*names: str) -> str:
    """The path of the first of ``names`` on PATH; fails (CI) or skips the test without one."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    reason = f"{names[0]} is not installed (scripts/test.sh installs it)"
    if os.environ.get("DEVSYNTH_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def chromium(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs headless Chromium with a throwaway profile (no sandbox: CI runs as root)."""
    binary = require(*CHROMIUM_NAMES)
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
