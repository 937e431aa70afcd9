"""The decoder loop on token ids: left-padded batches, the KV cache when the graph has one.

Each step feeds ``input_ids``, ``attention_mask`` and ``position_ids`` (those the graph
takes) plus the cache from the previous step, and yields the next token of every row. The
caller decides when a row is finished (end of sequence, stop string) and simply stops
iterating once every row is; rows never influence each other, so a finished row may keep
decoding harmlessly until then.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from devsynth.application.offline.decoder_io import (
    ATTENTION_MASK,
    INPUT_IDS,
    LOGITS,
    POSITION_IDS,
    DecoderSignature,
)
from devsynth.application.offline.sampling import choose_next
from devsynth.application.offline.settings import GenerationSettings
from devsynth.domain.errors import ConfigurationError

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Decoder:
    """An ONNX decoder session and what its graph takes."""

    session: Any
    signature: DecoderSignature
    pad_id: int
    # The context window (config.json's n_positions / max_position_embeddings), if known.
    max_positions: int | None = None

    def room(self, prompt_length: int, max_tokens: int) -> int:
        """How many tokens may follow a prompt of ``prompt_length``."""
        if self.max_positions is None:
            return max_tokens
        return min(max_tokens, self.max_positions - prompt_length)

    def steps(
        self,
        prompts: Sequence[Sequence[int]],
        settings: GenerationSettings,
        rng: np.random.Generator,
        *,
        use_cache: bool = True,
    ) -> Generator[Array, None, None]:
        """The next token of each prompt (an array ``[batch]``), step after step, until
        ``max_tokens`` or the context window; ``use_cache=False`` recomputes every step
        even on a graph with a cache (for comparisons)."""
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ConfigurationError("every prompt needs at least one token")
        lengths = {len(p) for p in prompts}
        if len(lengths) > 1 and self.signature.mask_dtype is None:
            raise ConfigurationError(
                "this model takes no attention_mask, so prompts of different lengths "
                "cannot share a batch"
            )
        ids, mask = _left_pad(prompts, self.pad_id)
        cached = use_cache and self.signature.has_cache
        past = self._empty_cache(len(prompts))
        fresh = ids
        for _ in range(self.room(ids.shape[1], settings.max_tokens)):
            outputs = self.session.run(
                self.signature.output_names if cached else [LOGITS],
                self._feeds(fresh, mask, past),
            )
            token = choose_next(outputs[0][:, -1, :], settings, rng)
            yield token
            mask = np.concatenate([mask, np.ones((len(prompts), 1), dtype=np.int64)], axis=1)
            if cached:
                past = {
                    slot.input_name: value
                    for slot, value in zip(self.signature.cache, outputs[1:], strict=True)
                }
                fresh = token[:, None]
            else:
                ids = np.concatenate([ids, token[:, None]], axis=1)
                fresh = ids

    def _empty_cache(self, batch: int) -> dict[str, Array]:
        return {slot.input_name: slot.empty(batch) for slot in self.signature.cache}

    def _feeds(self, fresh: Array, mask: Array, past: dict[str, Array]) -> dict[str, Array]:
        sig = self.signature
        feeds: dict[str, Array] = {INPUT_IDS: fresh.astype(sig.ids_dtype)}
        if sig.mask_dtype is not None:
            feeds[ATTENTION_MASK] = mask.astype(sig.mask_dtype)
        if sig.position_dtype is not None:
            # Positions count real tokens only, so a left-padded row starts at 0 like a
            # lone one; padding gets position 0 (it is masked anyway).
            positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
            feeds[POSITION_IDS] = positions[:, -fresh.shape[1] :].astype(sig.position_dtype)
        feeds.update(past)
        return feeds


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[Array, Array]:
    """Prompts right-aligned in one array, so every row's next token is in the last column."""
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = prompt
        mask[row, width - len(prompt) :] = 1
    return ids, mask
