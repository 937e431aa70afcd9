"""Items 8 and 9: a file that is one long piece (no safe cut) is counted in bounded memory, and
``Encoding.count`` of random CJK text (one long piece) needs memory close to the text's own
size, not the ~25-100 bytes per char that holding every token and its end took."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.hardening.support import peak_rss_reset_supported, run_python

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not peak_rss_reset_supported(),
    reason="measures the peak resident size through /proc",
)

# Resets the peak resident size, runs WORK, prints how far the peak rose above the size before.
MEASURE = """
import random, sys
from devsynth import tokens

def rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)

def random_cjk(n):
    rng = random.Random(7)
    parts = []
    for _ in range(0, n, 100_000):
        parts.append("".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(100_000)))
    return "".join(parts)[:n]

enc = tokens.get_encoding(sys.argv[1])
enc.count("warm up: 日本語 and words")
{setup}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = rss("VmRSS:")
{work}
print(rss("VmHWM:") - before, result)
"""


def measure(encoding: str, setup: str, work: str, *args: str) -> tuple[int, int]:
    code = MEASURE.format(setup=setup, work=work)
    r = run_python(code, encoding, *args, timeout=300)
    assert r.status == 0, r.err
    grew, result = r.out.split()
    return int(grew), int(result)


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_counting_random_cjk_needs_little_more_than_the_text(encoding: str) -> None:
    chars = 3_000_000
    # The first count: CPython makes the str's UTF-8 copy (3 bytes a char, kept with the str;
    # its encoder needs twice that while it works), then the merge. Holding every token of the
    # one long piece, and its end, took 12 bytes a token more: about 30 bytes a char.
    grew, tokens = measure(encoding, f"text = random_cjk({chars})", "result = enc.count(text)")
    assert tokens > chars
    assert grew < 7 * chars, f"{grew / chars:.1f} bytes per char"
    # Counted again (the UTF-8 copy made): the merge alone, in bounded memory.
    grew, again = measure(
        encoding, f"text = random_cjk({chars}); enc.count(text)", "result = enc.count(text)"
    )
    assert again == tokens
    assert grew < 2 << 20, f"{grew / chars:.1f} bytes per char"


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("one letter", "f.write(b'a' * 40_000_000)"),
        ("random CJK", "f.write(random_cjk(5_000_000).encode())"),
        ("a rule of equals signs", "f.write(b'=' * 20_000_000)"),
    ],
)
def test_a_file_that_is_one_long_piece_is_counted_in_bounded_memory(
    tmp_path: Path, name: str, make: str
) -> None:
    path = tmp_path / "one-piece.txt"
    setup = f"""
from devsynth.tokens.files import count_files
with open({str(path)!r}, "wb") as f:
    {make}
size = {str(path)!r}
"""
    work = """
report = count_files([size], enc, num_threads=2)
assert not report.issues, report.issues
result = report.total_tokens
"""
    grew, tokens = measure("o200k_base", setup, work)
    assert tokens > 0
    size = path.stat().st_size
    # Old: the whole file held as text, and its tokens: 2.5 times its size and more.
    assert grew < 24 << 20, f"{name}: grew {grew >> 20} MiB for a {size >> 20} MiB file"
