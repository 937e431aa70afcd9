"""What a decoder's ONNX graph takes and returns, read from the graph rather than assumed.

Inputs: ``input_ids``, optionally ``attention_mask``, ``position_ids`` and the cache
``past_key_values.N.key`` / ``.value``; outputs: ``logits`` and, with a cache,
``present.N.key`` / ``.value``. Anything else is a :class:`ModelLoadError` at load time,
not a crash in the middle of a generation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devsynth.domain.errors import ModelLoadError

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
POSITION_IDS = "position_ids"
LOGITS = "logits"

_PAST = re.compile(r"past_key_values\.(\d+)\.(key|value)")
_PRESENT = re.compile(r"present\.(\d+)\.(key|value)")

_DTYPES: Mapping[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}

# config.json spells the attention geometry differently from one architecture to the next.
_HEADS_KEYS = ("num_key_value_heads", "n_head_kv", "num_attention_heads", "n_head", "n_heads")
_QUERY_HEADS_KEYS = ("num_attention_heads", "n_head", "n_heads")
_HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model")


@dataclass(frozen=True)
class CacheSlot:
    """One cache tensor: fed as ``input_name``, returned as ``output_name``."""

    input_name: str
    output_name: str
    # The shape with the batch axis (0) and the sequence axis (``seq_axis``) left as 0.
    shape: tuple[int, ...]
    seq_axis: int
    dtype: type[np.generic]

    def empty(self, batch: int) -> np.ndarray[Any, Any]:
        """The cache before the first step: no positions yet."""
        shape = list(self.shape)
        shape[0] = batch
        shape[self.seq_axis] = 0
        return np.zeros(shape, dtype=self.dtype)


@dataclass(frozen=True)
class DecoderSignature:
    """The inputs a decoder takes and the outputs it gives."""

    ids_dtype: type[np.generic]
    mask_dtype: type[np.generic] | None
    position_dtype: type[np.generic] | None
    cache: tuple[CacheSlot, ...]

    @property
    def has_cache(self) -> bool:
        return bool(self.cache)

    @property
    def output_names(self) -> list[str]:
        return [LOGITS, *(slot.output_name for slot in self.cache)]


def inspect_decoder(session: Any, config: Mapping[str, Any], path: Path) -> DecoderSignature:
    """Read the signature of ``session`` (the model at ``path``), checking it is complete."""
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    if INPUT_IDS not in inputs:
        raise ModelLoadError(f"{path} has no {INPUT_IDS!r} input; it is not a decoder")
    if LOGITS not in outputs:
        raise ModelLoadError(f"{path} has no {LOGITS!r} output; it is not a decoder")

    known = {INPUT_IDS, ATTENTION_MASK, POSITION_IDS}
    unknown = [name for name in inputs if name not in known and not _PAST.fullmatch(name)]
    if unknown:
        raise ModelLoadError(
            f"{path} takes inputs this runtime does not know how to feed: {', '.join(unknown)}"
        )

    def dtype(name: str) -> type[np.generic]:
        kind = inputs[name].type
        if kind not in _DTYPES:
            raise ModelLoadError(f"{path}: input {name!r} has unsupported type {kind}")
        return _DTYPES[kind]

    return DecoderSignature(
        ids_dtype=dtype(INPUT_IDS),
        mask_dtype=dtype(ATTENTION_MASK) if ATTENTION_MASK in inputs else None,
        position_dtype=dtype(POSITION_IDS) if POSITION_IDS in inputs else None,
        cache=_cache_slots(inputs, outputs, config, path, dtype),
    )


def _cache_slots(
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    config: Mapping[str, Any],
    path: Path,
    dtype: Any,
) -> tuple[CacheSlot, ...]:
    past = {m.groups(): name for name in inputs if (m := _PAST.fullmatch(name))}
    present = {m.groups(): name for name in outputs if (m := _PRESENT.fullmatch(name))}
    unmatched = sorted(past.keys() ^ present.keys())
    if unmatched:
        layer, part = unmatched[0]
        have, lack = (
            (past, f"output present.{layer}.{part}")
            if (layer, part) in past
            else (present, f"input past_key_values.{layer}.{part}")
        )
        raise ModelLoadError(f"{path}: {have[layer, part]!r} has no matching {lack}")
    if not past:
        return ()  # a graph without a cache recomputes the whole sequence at each step
    layers = sorted({int(layer) for layer, _ in past})
    if layers != list(range(len(layers))):
        raise ModelLoadError(f"{path}: the cache inputs skip layers (found {layers})")
    return tuple(
        _slot(past[key], present[key], inputs[past[key]].shape, dtype(past[key]), config, path)
        for key in sorted(past, key=lambda k: (int(k[0]), k[1]))
    )


def _slot(
    input_name: str,
    output_name: str,
    dims: list[Any],
    dtype: type[np.generic],
    config: Mapping[str, Any],
    path: Path,
) -> CacheSlot:
    # Usual layout [batch, heads, sequence, head_dim]; multi-query graphs use
    # [batch, sequence, width]. Symbolic sizes come from config.json.
    if len(dims) == 4:
        seq_axis = 2
        fallbacks: dict[int, int | None] = {1: _kv_heads(config), 3: _head_dim(config)}
    elif len(dims) == 3:
        seq_axis = 1
        fallbacks = {2: None}
    else:
        raise ModelLoadError(f"{path}: cache input {input_name!r} has unexpected shape {dims}")
    shape = [0] * len(dims)
    for axis, dim in enumerate(dims):
        if axis in (0, seq_axis):
            continue
        size = dim if isinstance(dim, int) and dim > 0 else fallbacks.get(axis)
        if size is None:
            raise ModelLoadError(
                f"{path}: cannot size axis {axis} of cache input {input_name!r} ({dim!r}); "
                "the graph leaves it symbolic and config.json does not give it"
            )
        shape[axis] = size
    return CacheSlot(input_name, output_name, tuple(shape), seq_axis, dtype)


def _first_int(config: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _kv_heads(config: Mapping[str, Any]) -> int | None:
    return _first_int(config, _HEADS_KEYS)


def _head_dim(config: Mapping[str, Any]) -> int | None:
    explicit = _first_int(config, ("head_dim",))
    if explicit is not None:
        return explicit
    hidden, heads = _first_int(config, _HIDDEN_KEYS), _first_int(config, _QUERY_HEADS_KEYS)
    return hidden // heads if hidden and heads else None
