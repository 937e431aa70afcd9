"""Item 20: Ctrl-C during a long batch call lands within a fraction of a second (between the
texts the Rust threads work on), not when the whole batch is done."""

from __future__ import annotations

import sys

import pytest

from tests.hardening.support import run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

# The child times a small batch, scales it to take about SECONDS, starts it, sends itself
# SIGINT after 0.3 s and reports how long the interrupt took to land.
CHILD = """
import os, signal, sys, threading, time
from devsynth import tokens
from devsynth.application.embeddings import hash_embeddings

SECONDS = 8.0
enc = tokens.get_encoding("o200k_base")
text = "word and more words, " * 2_000
calls = {
    "encode_batch": lambda texts: enc.encode_batch(texts, num_threads=2),
    "encode_ordinary_batch, one thread": (
        lambda texts: enc.encode_ordinary_batch(texts, num_threads=1)
    ),
    "count_batch": lambda texts: enc.count_batch(texts, num_threads=2),
    "count_batch, one thread": lambda texts: enc.count_batch(texts, num_threads=1),
    "hash_embeddings": lambda texts: hash_embeddings(texts, 64, num_threads=2),
}
call = calls[sys.argv[1]]
sample = [text] * 40
t = time.monotonic()
call(sample)
per_text = (time.monotonic() - t) / len(sample)
texts = [text] * max(len(sample), int(SECONDS / per_text))
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t = time.monotonic()
try:
    call(texts)
    print("finished", time.monotonic() - t - 0.3)
except KeyboardInterrupt:
    print("interrupted", time.monotonic() - t - 0.3)
"""


@pytest.mark.parametrize(
    "call",
    [
        "encode_batch",
        "encode_ordinary_batch, one thread",
        "count_batch",
        "count_batch, one thread",
        "hash_embeddings",
    ],
)
def test_ctrl_c_lands_during_a_long_batch(call: str) -> None:
    r = run_python(CHILD, call, timeout=120)
    assert r.status == 0, r.err
    outcome, seconds = r.out.split()
    assert outcome == "interrupted"
    # The batch takes about 8 s; the interrupt lands in a tenth of a second plus one text.
    assert float(seconds) < 2.0, r.out
