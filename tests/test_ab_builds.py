"""benches/ab_builds.py: two builds of the extension timed side by side in one process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import devsynth._core

ROOT = Path(__file__).resolve().parent.parent


def run_ab_builds(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The script on two copies of the installed build (two files: the same path loaded twice
    would be one library)."""
    builds = [tmp_path / "a.so", tmp_path / "b.so"]
    for build in builds:
        shutil.copy(devsynth._core.__file__, build)
    return subprocess.run(
        [sys.executable, str(ROOT / "benches" / "ab_builds.py"), *map(str, builds), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_copies_of_the_installed_build_compare_and_agree(tmp_path: Path) -> None:
    done = run_ab_builds(
        tmp_path,
        "--workloads",
        "count multilingual,encode base64 blob",
        "--rounds",
        "2",
        "--bytes",
        "20000",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "cl100k_base, 2 rounds of 20,000 bytes" in lines
    for workload in ("count multilingual", "encode base64 blob"):
        row = next(line for line in lines if line.startswith(workload))
        assert "B/A median" in row


def test_an_unknown_workload_is_refused_by_name(tmp_path: Path) -> None:
    done = run_ab_builds(tmp_path, "--workloads", "encode lorem ipsum")
    assert done.returncode != 0
    assert "unknown input 'lorem ipsum'" in done.stderr
