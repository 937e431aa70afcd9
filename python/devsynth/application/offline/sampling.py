"""The next token from a step's logits: greedy at temperature 0, else seeded sampling.

Sampling draws one uniform number per row and walks the cumulative distribution of the
kept tokens (sorted by probability, ties by id), so a seed gives the same tokens on every
run: nothing depends on dict order or on numpy's distribution algorithms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from devsynth.application.offline.settings import GenerationSettings

Array = np.ndarray[Any, Any]


def make_rng(seed: int | None) -> np.random.Generator:
    """A generator for one call: seeded for reproducible sampling, else fresh entropy."""
    return np.random.Generator(np.random.PCG64(seed))


def choose_next(logits: Array, settings: GenerationSettings, rng: np.random.Generator) -> Array:
    """One token id per row of ``logits`` (shape ``[batch, vocab]``)."""
    if settings.greedy:
        chosen: Array = np.argmax(logits, axis=-1).astype(np.int64)
        return chosen
    scaled = logits.astype(np.float64) / settings.temperature
    return np.array([_sample_row(row, settings, rng) for row in scaled], dtype=np.int64)


def candidates(row: Array, settings: GenerationSettings) -> tuple[Array, Array]:
    """The tokens sampling may pick from and their renormalised probabilities, most likely
    first (``row`` is already divided by the temperature)."""
    if 0 < settings.top_k < row.shape[0]:
        ids = np.argpartition(-row, settings.top_k - 1)[: settings.top_k]
    else:
        ids = np.arange(row.shape[0])
    ids = ids[np.lexsort((ids, -row[ids]))]  # by logit descending, then by id
    weights = np.exp(row[ids] - row[ids[0]])
    probs = weights / weights.sum()
    if settings.top_p < 1.0:
        # The smallest prefix whose mass reaches top_p (at least one token).
        keep = int(np.searchsorted(np.cumsum(probs), settings.top_p, side="left")) + 1
        ids, probs = ids[:keep], probs[:keep]
        probs = probs / probs.sum()
    return ids, probs


def _sample_row(row: Array, settings: GenerationSettings, rng: np.random.Generator) -> int:
    ids, probs = candidates(row, settings)
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return int(ids[min(index, len(ids) - 1)])
