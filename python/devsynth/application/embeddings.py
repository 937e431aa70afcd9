"""Hash embeddings from the Rust core: deterministic vectors with no model, for offline use and
repeatable tests.

Words, word pairs and character trigrams are hashed (a fixed hash, the same on every machine
and in every release) into signed buckets and L2-normalised, so texts that share words score a
clearly higher cosine similarity than unrelated ones. Not a semantic model: synonyms don't meet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from devsynth import _core

DEFAULT_DIMENSIONS: int = _core.DEFAULT_DIMENSIONS


def hash_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit-length embedding of ``text`` (all zeros when it has no words)."""
    return _core.hash_embeddings([text], dimensions, 1)[0]


def hash_embeddings(
    texts: Sequence[str], dimensions: int = DEFAULT_DIMENSIONS, *, num_threads: int | None = None
) -> list[list[float]]:
    """``hash_embedding`` of each text, computed on Rust threads."""
    return _core.hash_embeddings(texts, dimensions, num_threads)


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of the angle between two vectors (0.0 when either is all zeros)."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in length: {len(a)} and {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
