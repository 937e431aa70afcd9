"""Sentence embeddings from an ONNX encoder (all-MiniLM-L6-v2 and the like).

The graph either gives token vectors (``last_hidden_state``), which are mean-pooled over
the real tokens (attention mask), or an already pooled vector; either way the result is
L2-normalised, so a dot product is the cosine similarity. Texts are batched by length to
keep padding small; results come back in the order given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from devsynth.application.offline.decoder_io import ATTENTION_MASK, INPUT_IDS
from devsynth.application.offline.dependencies import require_all
from devsynth.application.offline.model_dir import (
    ModelFiles,
    load_session,
    load_tokenizer,
    read_encoder_dir,
)
from devsynth.domain.errors import ConfigurationError, ModelLoadError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Array = np.ndarray[Any, Any]

TOKEN_TYPE_IDS = "token_type_ids"
_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")
_POOLED_OUTPUTS = ("sentence_embedding", "embeddings", "pooled_output")
_INT_TYPES: Mapping[str, type[np.generic]] = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}
DEFAULT_BATCH_SIZE = 32


class SentenceEncoder:
    """An ONNX sentence encoder and its tokenizer."""

    def __init__(self, files: ModelFiles, tokenizer: Tokenizer, session: Any) -> None:
        self.files = files
        self.tokenizer = tokenizer
        self.session = session
        inputs = {node.name: node for node in session.get_inputs()}
        unknown = set(inputs) - {INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS}
        if INPUT_IDS not in inputs or unknown:
            raise ModelLoadError(
                f"{files.model} is not a sentence encoder this runtime can feed: it needs "
                f"{INPUT_IDS!r} and takes only {ATTENTION_MASK!r} and {TOKEN_TYPE_IDS!r} "
                f"besides (inputs: {', '.join(inputs)})"
            )
        try:
            self._input_types = {name: _INT_TYPES[node.type] for name, node in inputs.items()}
        except KeyError as exc:
            raise ModelLoadError(f"{files.model}: input types must be integers") from exc
        self._output, self._pooled = _pick_output(session.get_outputs(), files.model)
        tokenizer.no_padding()  # padding is done per batch, to the longest text in it
        window = files.config.get("max_position_embeddings")
        if tokenizer.truncation is None and isinstance(window, int) and window > 0:
            tokenizer.enable_truncation(window)

    @classmethod
    def load(cls, path: str | Path, *, providers: Sequence[str] | None = None) -> SentenceEncoder:
        require_all(purpose=f"the embedding model at {path}")
        files = read_encoder_dir(path)
        return cls(files, load_tokenizer(files.tokenizer), load_session(files.model, providers))

    @property
    def name(self) -> str:
        return self.files.root.name

    def embed(self, texts: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> Array:
        """One unit vector per text, shape ``[len(texts), dimensions]`` (float32)."""
        if isinstance(texts, str):
            raise ConfigurationError("embed takes a sequence of texts, not one string")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors: list[Array] = [np.empty(0, dtype=np.float32)] * len(texts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for index, vector in zip(chunk, self._run([encodings[i] for i in chunk]), strict=True):
                vectors[index] = vector
        return np.stack(vectors)

    def _run(self, encodings: Sequence[Any]) -> Array:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            ids[row, :size] = encoding.ids
            types[row, :size] = encoding.type_ids
            mask[row, :size] = 1
        columns = {INPUT_IDS: ids, ATTENTION_MASK: mask, TOKEN_TYPE_IDS: types}
        feeds = {name: columns[name].astype(kind) for name, kind in self._input_types.items()}
        (output,) = self.session.run([self._output], feeds)
        output = output.astype(np.float32)
        if not self._pooled:
            weights = mask[:, :, None].astype(np.float32)
            output = (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        unit: Array = output / np.maximum(norms, 1e-12)
        return unit


def _pick_output(outputs: Sequence[Any], path: Path) -> tuple[str, bool]:
    """The output to read and whether it is already pooled."""
    by_name = {node.name: node for node in outputs}
    for name in _POOLED_OUTPUTS:
        if name in by_name:
            return name, True
    for name in _TOKEN_OUTPUTS:
        if name in by_name:
            return name, False
    for node in outputs:  # unnamed conventions: go by rank
        if len(node.shape) in (2, 3):
            return node.name, len(node.shape) == 2
    raise ModelLoadError(
        f"{path} gives no sentence vector: expected an output named "
        f"{' or '.join(_TOKEN_OUTPUTS + _POOLED_OUTPUTS)}"
    )
