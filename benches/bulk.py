"""Bulk counting throughput against plain Python loops over tiktoken, measured side by side in
one run (ratios are what to read: absolute rates on shared machines are noisy), and the peak
resident memory of counting a 100 MB file.

    python benches/bulk.py            # the full table, markdown
    python benches/bulk.py --quick    # a smaller corpus, fewer repeats

- a directory of many files: `devsynth.tokens.files.count_files` (Rust threads reading and
  counting) against a Python loop that reads each file and counts it with tiktoken;
- a column of strings: `Encoding.count_batch` on a pyarrow array (read from Arrow's buffers)
  against a Python loop over the same strings as a list (tiktoken, and devsynth one by one);
- peak resident memory (VmHWM) of counting a 100 MB file in a fresh process, against the same
  process without the count.

The corpus is real text already on the machine (tests/support/corpus.py): license texts,
the Python standard library, translation catalogues. tiktoken reads the package's rank files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import corpus  # noqa: E402
from tests.support.reference import prepare_cache, tiktoken_encoding  # noqa: E402

os.environ.setdefault("TIKTOKEN_CACHE_DIR", prepare_cache())

from devsynth.tokens import get_encoding  # noqa: E402
from devsynth.tokens.files import count_files  # noqa: E402

ENCODING = "o200k_base"


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def write_tree(root: Path, docs: list[str]) -> int:
    """Documents as files, 100 to a directory; returns the bytes written."""
    total = 0
    for i, doc in enumerate(docs):
        d = root / f"d{i // 100:03d}"
        d.mkdir(exist_ok=True)
        data = doc.encode()
        (d / f"{i:06d}.txt").write_bytes(data)
        total += len(data)
    return total


def tiktoken_file_loop(root: Path) -> int:
    """The plain way: walk, read each file, decode, count with tiktoken."""
    enc = tiktoken_encoding(ENCODING)
    n = 0
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            with open(os.path.join(dirpath, name), "rb") as f:
                n += len(enc.encode_ordinary(f.read().decode("utf-8", "replace")))
    return n


PROBE = r"""
import re, sys
from devsynth.tokens import get_encoding
from devsynth.tokens.files import count_files
get_encoding("o200k_base").count("warm up")
tokens = count_files([sys.argv[1]]).total_tokens if sys.argv[1] != "none" else 0
with open("/proc/self/status") as f:
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
print(tokens, peak)
"""


def peak_rss(path: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, path], capture_output=True, check=True, timeout=600
    ).stdout.split()
    return int(out[0]), int(out[1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 2 if args.quick else 4
    n_docs = 1500 if args.quick else 5000
    docs = corpus.short_documents(n_docs, 200, 20_000)
    ours = get_encoding(ENCODING)
    ref = tiktoken_encoding(ENCODING)
    print(f"CPU cores: {os.cpu_count()}; encoding {ENCODING}\n")
    print("| workload | devsynth MB/s | Python loop over tiktoken MB/s | ratio |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="devsynth-bench-") as tmp:
        root = Path(tmp)
        nbytes = write_tree(root, docs)
        report = count_files([root], ours)
        assert report.total_tokens == tiktoken_file_loop(root), "counts differ"
        for threads in (None, 1):
            t_ours = best_seconds(
                lambda t=threads: count_files([root], ours, num_threads=t), repeat
            )
            t_ref = best_seconds(lambda: tiktoken_file_loop(root), repeat)
            label = "all cores" if threads is None else "1 thread"
            print(
                f"| directory, {len(docs)} files, {nbytes / 1e6:.0f} MB, {label} "
                f"| {nbytes / t_ours / 1e6:.1f} | {nbytes / t_ref / 1e6:.1f} "
                f"| {t_ref / t_ours:.1f}x |"
            )
    try:
        import pyarrow as pa
    except ImportError:
        print("\n(pyarrow not installed: no column figures)")
    else:
        column = pa.array(docs)
        col_bytes = sum(len(d.encode()) for d in docs)
        assert list(ours.count_batch(column, disallowed_special=())) == [
            len(ref.encode_ordinary(d)) for d in docs
        ]
        t_col = best_seconds(lambda: ours.count_batch(column, disallowed_special=()), repeat)
        t_list_ref = best_seconds(lambda: [len(ref.encode_ordinary(d)) for d in docs], repeat)
        t_list_ours = best_seconds(lambda: [ours.count_ordinary(d) for d in docs], repeat)
        for label, t in [("tiktoken", t_list_ref), ("devsynth count_ordinary", t_list_ours)]:
            print(
                f"| Arrow column of {len(docs)} strings vs list loop ({label}) "
                f"| {col_bytes / t_col / 1e6:.1f} | {col_bytes / t / 1e6:.1f} | {t / t_col:.1f}x |"
            )
    if sys.platform == "linux":
        size = 20_000_000 if args.quick else 100_000_000
        unit = "\n".join(
            [corpus.english_prose(2_000_000), corpus.source_code(2_000_000), corpus.multilingual()]
        ).encode()
        with tempfile.NamedTemporaryFile(prefix="devsynth-big-", suffix=".txt") as f:
            while f.tell() < size:
                f.write(unit)
            f.flush()
            _, base = peak_rss("none")
            tokens, peak = peak_rss(f.name)
            print(
                f"\nPeak resident memory counting a {f.tell() / 1e6:.0f} MB file "
                f"({tokens:,} tokens): {peak / 1e6:.1f} MB; the same process without the "
                f"count: {base / 1e6:.1f} MB."
            )


if __name__ == "__main__":
    main()
