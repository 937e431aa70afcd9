"""Hash embeddings: pinned vectors (stable across releases), determinism across processes,
unit length, and similarity that follows shared words."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth.application.embeddings import cosine_similarity, hash_embedding, hash_embeddings

# Pinned at the first release: a change here changes every stored vector of every user.
GOLDEN = {
    ("The quick brown fox jumps over the lazy dog.", 16): [
        0.0, -0.332182, -0.249136, -0.249136, -0.415227, 0.0, 0.332182, 0.083045,
        -0.415227, -0.166091, -0.332182, 0.0, -0.332182, 0.166091, 0.166091, 0.0,
    ],
    ("naïve café 日本語", 8): [
        0.353553, 0.0, -0.353553, 0.707107, 0.0, -0.353553, 0.353553, 0.0,
    ],
}  # fmt: skip


@pytest.mark.parametrize(("key", "expected"), list(GOLDEN.items()))
def test_golden_vectors_never_change(key: tuple[str, int], expected: list[float]) -> None:
    text, dims = key
    assert hash_embedding(text, dims) == pytest.approx(expected, abs=1e-6)


def test_same_vector_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from devsynth.application.embeddings import hash_embedding\n"
        "print(repr(hash_embedding('deterministic across processes', 32)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert eval(out.stdout) == hash_embedding("deterministic across processes", 32)


@given(text=st.text(max_size=200), dims=st.integers(min_value=1, max_value=512))
def test_vectors_are_unit_length_or_zero(text: str, dims: int) -> None:
    v = hash_embedding(text, dims)
    assert len(v) == dims
    norm = math.sqrt(sum(x * x for x in v))
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0


def test_default_dimension_and_batch_equal_single() -> None:
    texts = ["alpha beta", "gamma", "", "delta epsilon zeta"]
    assert len(hash_embedding("x")) == 256
    assert hash_embeddings(texts) == [hash_embedding(t) for t in texts]
    assert hash_embeddings(texts, 64, num_threads=2) == [hash_embedding(t, 64) for t in texts]


def test_shared_words_score_clearly_higher_than_unrelated_text() -> None:
    a = hash_embedding("The cat sat on the warm mat by the door.")
    b = hash_embedding("A cat sat on a mat near the door.")
    c = hash_embedding("Quarterly revenue forecasts were revised upward.")
    assert cosine_similarity(a, b) > 0.5
    assert cosine_similarity(a, c) < 0.2
    assert cosine_similarity(a, b) - cosine_similarity(a, c) > 0.4


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        hash_embedding("x", 0)
    with pytest.raises(TypeError):
        hash_embedding(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dimensions must be between 1 and 65536, got -1"):
        hash_embedding("x", -1)
    with pytest.raises(ValueError, match="length"):
        cosine_similarity([1.0], [1.0, 2.0])
