"""Bulk counting throughput, with pytest-benchmark: a directory of many files counted on Rust
threads against a plain Python loop over tiktoken, and an Arrow column against a Python loop
over the same strings as a list.

    .venv/bin/pytest benches/bench_bulk.py --benchmark-columns=mean,stddev,rounds

Each benchmark records ``mb_per_second`` (from the mean round) in ``extra_info``; compare the
pairs run side by side (``benches/bulk.py`` prints the ratios directly).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsynth.tokens import get_encoding
from devsynth.tokens.files import count_files
from tests.support import corpus
from tests.support.reference import prepare_cache, tiktoken_encoding

os.environ.setdefault("TIKTOKEN_CACHE_DIR", prepare_cache())

ENCODING = "o200k_base"
DOCS = 2000


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return corpus.short_documents(DOCS, 200, 20_000)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, docs: list[str]) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("bulk-bench")
    total = 0
    for i, doc in enumerate(docs):
        d = root / f"d{i // 100:03d}"
        d.mkdir(exist_ok=True)
        data = doc.encode()
        (d / f"{i:06d}.txt").write_bytes(data)
        total += len(data)
    return root, total


def run(benchmark: Any, fn: Callable[[], object], nbytes: int) -> object:
    result = benchmark(fn)
    benchmark.extra_info["mb_per_second"] = nbytes / benchmark.stats.stats.mean / 1e6
    return result


def tiktoken_loop(root: Path) -> int:
    enc = tiktoken_encoding(ENCODING)
    n = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                n += len(enc.encode_ordinary(f.read().decode("utf-8", "replace")))
    return n


def test_directory_devsynth_rust_threads(benchmark: Any, tree: tuple[Path, int]) -> None:
    root, nbytes = tree
    report: Any = run(benchmark, lambda: count_files([root], ENCODING), nbytes)
    assert report.total_tokens == tiktoken_loop(root)


def test_directory_tiktoken_python_loop(benchmark: Any, tree: tuple[Path, int]) -> None:
    root, nbytes = tree
    run(benchmark, lambda: tiktoken_loop(root), nbytes)


def test_column_devsynth_arrow(benchmark: Any, docs: list[str]) -> None:
    pa = pytest.importorskip("pyarrow")
    column = pa.array(docs)
    enc = get_encoding(ENCODING)
    nbytes = sum(len(d.encode()) for d in docs)
    run(benchmark, lambda: enc.count_batch(column, disallowed_special=()), nbytes)


def test_column_tiktoken_list_loop(benchmark: Any, docs: list[str]) -> None:
    enc = tiktoken_encoding(ENCODING)
    nbytes = sum(len(d.encode()) for d in docs)
    run(benchmark, lambda: [len(enc.encode_ordinary(d)) for d in docs], nbytes)
