"""Items 3 and 7: thread counts are capped with a clear error (negative and huge ones too), and
the thread pools kept are a bounded set, whatever thread counts the calls ask for."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsynth import _core, tokens
from devsynth.application.embeddings import hash_embeddings
from devsynth.tokens.files import count_files
from tests.hardening.support import run_python

ENC = tokens.get_encoding("o200k_base")
TEXTS = ["a few words", "more words here"] * 20


def batch_calls(tmp_path: Path) -> dict[str, Callable[[Any], object]]:
    f = tmp_path / "a.txt"
    f.write_text("hello")
    return {
        "encode_batch": lambda n: ENC.encode_batch(TEXTS, num_threads=n),
        "encode_ordinary_batch": lambda n: ENC.encode_ordinary_batch(TEXTS, num_threads=n),
        "count_batch": lambda n: ENC.count_batch(TEXTS, num_threads=n),
        "count_batch of one text": lambda n: ENC.count_batch(TEXTS[:1], num_threads=n),
        "hash_embeddings": lambda n: hash_embeddings(TEXTS, 16, num_threads=n),
        "count_files": lambda n: count_files([f], ENC, num_threads=n),
    }


@pytest.mark.parametrize("n", [0, -1, -(2**70), 1025, 10_000, 2**64 - 1, 10**20])
def test_out_of_range_thread_counts_are_refused_clearly(tmp_path: Path, n: int) -> None:
    assert _core.MAX_THREADS == 1024
    for call in batch_calls(tmp_path).values():
        with pytest.raises(ValueError, match=rf"num_threads must be between 1 and 1024, got {n}"):
            call(n)


@pytest.mark.parametrize("n", [1.5, "2", b"2"])
def test_thread_counts_that_are_not_ints_are_type_errors(tmp_path: Path, n: object) -> None:
    for call in batch_calls(tmp_path).values():
        with pytest.raises(TypeError, match="num_threads must be an int"):
            call(n)


def test_the_largest_thread_count_works() -> None:
    # In a child: its 1,024 threads end with it.
    code = """
    from devsynth import tokens
    enc = tokens.get_encoding("o200k_base")
    texts = ["a few words", "more words here"] * 20
    assert enc.count_batch(texts, num_threads=1024) == enc.count_batch(texts)
    """
    r = run_python(code, timeout=60)
    assert r.status == 0, r.err


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc")
def test_pools_for_many_thread_counts_do_not_pile_up() -> None:
    # Old behaviour: a pool kept for each of 2..80 threads, 3,239 threads in all.
    code = """
    import os, time
    from devsynth import tokens
    enc = tokens.get_encoding("o200k_base")
    texts = ["some words"] * 200
    for n in range(2, 81):
        assert enc.count_batch(texts, num_threads=n)[0] == 2
    deadline = time.monotonic() + 10
    while True:
        threads = len(os.listdir("/proc/self/task"))
        # The kept pools (the last few counts) and this thread; dropped pools' threads exit.
        if threads <= 4 * 80 + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print(threads)
    """
    r = run_python(code, timeout=120)
    assert r.status == 0, r.err
    assert int(r.out) <= 4 * 80 + 1


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc")
def test_the_default_thread_count_follows_rayon_num_threads() -> None:
    # Rayon's global pool read RAYON_NUM_THREADS; the pools that replace it (fork-safe) do too.
    code = """
    import os
    from devsynth import tokens
    assert tokens.get_encoding("o200k_base").count_batch(["some words"] * 100)[0] == 2
    print(len(os.listdir("/proc/self/task")))
    """
    r = run_python(code, timeout=60, env={**os.environ, "RAYON_NUM_THREADS": "3"})
    assert r.status == 0, r.err
    assert int(r.out) == 1 + 3
