"""Is a directory a usable local model? Which files it holds, and what its JSON files say.

Decoders use the layout Hugging Face Optimum exports: ``model.onnx``, ``tokenizer.json``,
``config.json``, and optionally ``generation_config.json`` and ``tokenizer_config.json``.
Sentence encoders need ``model.onnx`` and ``tokenizer.json`` (``config.json`` optional).
Every problem is a :class:`ModelLoadError` naming the path and the missing or broken piece.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from devsynth.application.offline.dependencies import require
from devsynth.application.offline.settings import GenerationSettings
from devsynth.domain.errors import ConfigurationError, ModelLoadError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

DECODER_FILES = (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE)
ENCODER_FILES = (MODEL_FILE, TOKENIZER_FILE)

JsonObject = Mapping[str, Any]

# config.json names the context window differently from one architecture to the next.
CONTEXT_KEYS = ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length")

logger = logging.getLogger("devsynth.offline")


@dataclass(frozen=True)
class ModelFiles:
    """A checked model directory and its parsed JSON files (empty when a file is absent)."""

    root: Path
    config: JsonObject = field(default_factory=dict)
    generation_config: JsonObject = field(default_factory=dict)
    tokenizer_config: JsonObject = field(default_factory=dict)

    @property
    def model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def tokenizer(self) -> Path:
        return self.root / TOKENIZER_FILE


def read_decoder_dir(path: str | Path, *, setting: str = "model_path") -> ModelFiles:
    """Check a decoder directory and read its JSON files."""
    root = _check_dir(path, DECODER_FILES, setting=setting)
    return ModelFiles(
        root=root,
        config=_read_json(root / CONFIG_FILE),
        generation_config=_read_optional_json(root / GENERATION_CONFIG_FILE),
        tokenizer_config=_read_optional_json(root / TOKENIZER_CONFIG_FILE),
    )


def read_encoder_dir(path: str | Path, *, setting: str = "embedding_model_path") -> ModelFiles:
    """Check a sentence-encoder directory and read its optional config."""
    root = _check_dir(path, ENCODER_FILES, setting=setting)
    return ModelFiles(root=root, config=_read_optional_json(root / CONFIG_FILE))


def load_tokenizer(path: Path) -> Tokenizer:
    """``tokenizer.json`` loaded with the ``tokenizers`` package."""
    tokenizers = require("tokenizers", purpose=f"loading the tokenizer {path}")
    try:
        tokenizer: Tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a plain Exception
        raise ModelLoadError(f"cannot load the tokenizer {path}: {exc}") from exc
    return tokenizer


def load_session(path: Path, providers: Sequence[str] | None = None) -> Any:
    """An onnxruntime InferenceSession for ``path`` (onnxruntime ships no type hints).

    ``providers``: execution providers in order of preference (default: CPU). Those this
    onnxruntime build lacks are skipped with a warning; none left is a ConfigurationError.
    """
    ort = require("onnxruntime", purpose=f"running the ONNX model {path}")
    requested = list(providers or ["CPUExecutionProvider"])
    available = ort.get_available_providers()
    usable = [p for p in requested if p in available]
    if not usable:
        raise ConfigurationError(
            f"none of the execution providers {requested} is available in this onnxruntime "
            f"(available: {', '.join(available)})"
        )
    if len(usable) < len(requested):
        logger.warning(
            "execution providers not available here, skipped: %s",
            [p for p in requested if p not in usable],
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: graph-cleanup warnings are not the user's
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=usable)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelLoadError(f"cannot load the ONNX model {path}: {exc}") from exc


def special_token_text(tokenizer_config: JsonObject, name: str) -> str | None:
    """A special token (``eos_token``, ``bos_token``...) from tokenizer_config.json, as text:
    the file holds either a string or an AddedToken object with ``content``."""
    value = tokenizer_config.get(name)
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _check_dir(path: str | Path, required: Sequence[str], *, setting: str) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelLoadError(f"{setting} {root} does not exist")
    if not root.is_dir():
        raise ModelLoadError(
            f"{setting} {root} is not a directory; expected a directory holding "
            + ", ".join(required)
        )
    missing = [name for name in required if not (root / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{setting} {root} is incomplete: missing {', '.join(missing)} "
            f"(a model directory holds {', '.join(required)})"
        )
    return root


def _read_json(path: Path) -> JsonObject:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def _read_optional_json(path: Path) -> JsonObject:
    return _read_json(path) if path.exists() else {}


def _ids(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def token_id(files: ModelFiles, key: str) -> int | None:
    """A token id (``bos_token_id``, ``pad_token_id``...) from generation_config.json, else
    config.json."""
    for source in (files.generation_config, files.config):
        ids = _ids(source.get(key))
        if ids:
            return ids[0]
    return None


def eos_token_ids(files: ModelFiles, tokenizer: Tokenizer) -> frozenset[int]:
    """End-of-sequence ids: generation_config.json, else config.json, else the
    tokenizer_config's eos_token (none: generation ends at max_tokens)."""
    for source in (files.generation_config, files.config):
        ids = _ids(source.get("eos_token_id"))
        if ids:
            return frozenset(ids)
    text = special_token_text(files.tokenizer_config, "eos_token")
    token = tokenizer.token_to_id(text) if text else None
    return frozenset() if token is None else frozenset([token])


def context_window(config: Mapping[str, Any]) -> int | None:
    """The positions a decoder reads, when config.json says."""
    for key in CONTEXT_KEYS:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def generation_defaults(files: ModelFiles) -> GenerationSettings:
    """Sampling defaults the model ships in generation_config.json; greedy unless it asks
    to sample."""
    config = files.generation_config
    changes: dict[str, Any] = {"max_tokens": config.get("max_new_tokens")}
    if config.get("do_sample"):
        changes |= {k: config.get(k) for k in ("temperature", "top_p", "top_k")}
        changes["temperature"] = changes["temperature"] or 1.0
    try:
        return GenerationSettings().updated(changes)
    except ConfigurationError as exc:
        raise ModelLoadError(f"{files.root / 'generation_config.json'}: {exc}") from exc
