"""Bounded memory: a 100 MB file (and 100 MB on standard input) counts with well under 100 MB of
resident memory, and to the same total as the whole text counted at once. Peak resident memory
is measured in a fresh process, against the same process doing everything but the count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devsynth.tokens import get_encoding

SIZE = 100_000_000

# Loads the encoding and counts a little text, then the file (or stdin) unless told "none";
# prints the total and the peak resident set size in KiB. VmHWM belongs to the address space,
# new at exec (ru_maxrss, by contrast, carries over the forking parent's peak).
PROBE = """
import re, sys
from devsynth.tokens import get_encoding
from devsynth.tokens.files import count_files, count_stream
get_encoding("o200k_base").count("warm up")
what = sys.argv[1]
if what == "none":
    tokens = 0
elif what == "-":
    tokens = count_stream(sys.stdin.buffer).tokens
else:
    tokens = count_files([what]).total_tokens
with open("/proc/self/status") as f:
    peak = re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1)
print(tokens, peak)
"""


def probe(what: str, stdin: Path | None = None) -> tuple[int, int]:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as f:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, what],
            stdin=f,
            capture_output=True,
            timeout=300,
            check=True,
        )
    tokens, peak_kib = proc.stdout.split()
    return int(tokens), int(peak_kib) * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory, real_texts: dict[str, str]) -> Path:
    unit = "\n".join(real_texts.values()).encode()
    path = tmp_path_factory.mktemp("big") / "big.txt"
    with open(path, "wb") as f:
        written = 0
        while written < SIZE:
            f.write(unit)
            written += len(unit)
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_a_100_mb_input_counts_in_well_under_100_mb(big_file: Path, source: str) -> None:
    _, baseline = probe("none")
    if source == "file":
        tokens, peak = probe(str(big_file))
    else:
        tokens, peak = probe("-", stdin=big_file)
    text = big_file.read_bytes().decode()
    assert tokens == get_encoding("o200k_base").count_ordinary(text)
    assert peak - baseline < 30_000_000, (peak, baseline)
    assert peak < 80_000_000, (peak, baseline)
