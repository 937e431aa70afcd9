"""Item 1: a forked child (os.fork, or a multiprocessing pool using fork) can make batch calls
after its parent made some: the thread pools are rebuilt in the child instead of inherited
without their threads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.hardening.support import run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")

BATCHES = """
import os, sys, time
from devsynth import tokens
from devsynth.application.embeddings import hash_embeddings
from devsynth.tokens.files import count_files

enc = tokens.get_encoding("cl100k_base")
texts = ["hello world"] * 64

def batches():
    assert enc.encode_batch(texts, num_threads=2)[0] == [15339, 1917]
    assert enc.encode_ordinary_batch(texts)[5] == [15339, 1917]
    assert enc.count_batch(texts) == [2] * 64
    assert len(hash_embeddings(texts, 8, num_threads=3)) == 64
    assert count_files([sys.argv[1]], enc, num_threads=2).total_tokens == 2
"""


def test_a_forked_child_makes_batch_calls(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello world")
    code = (
        BATCHES
        + """
batches()
pid = os.fork()
if pid == 0:
    batches()
    os._exit(0)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(pid, 9)
print("the child hung")
sys.exit(3)
"""
    )
    r = run_python(code, str(f), timeout=60)
    assert r.status == 0, r.out + r.err


def test_a_fork_pool_after_batch_calls(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("hello world")
    code = (
        BATCHES
        + """
import multiprocessing

def work(n):
    batches()
    return enc.count_batch(["a b c"] * n, num_threads=2)[0]

batches()
with multiprocessing.get_context("fork").Pool(2) as pool:
    result = pool.map_async(work, [10, 20, 30, 40])
    print(result.get(timeout=30))
"""
    )
    r = run_python(code, str(f), timeout=60)
    assert r.status == 0, r.out + r.err
    assert r.out.strip() == "[3, 3, 3, 3]"
