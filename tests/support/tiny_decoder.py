"""A tiny GPT-style decoder built in memory: a byte-level BPE tokenizer trained on a few
local paragraphs, and an ONNX graph written with onnx.helper from numpy weights (no torch),
with or without a KV cache, laid out as Hugging Face Optimum exports it.

``reference_logits`` computes the same network in plain numpy, so tests can check the
runtime's answers against an independent computation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"

# Training text for the tokenizer: a few plain paragraphs, with accents, CJK and emoji so
# that some characters span several byte-level tokens.
CORPUS = [
    "The offline provider runs a small language model on the local machine. It reads a "
    "prompt, turns it into tokens and predicts the next token again and again.",
    "A tokenizer splits text into pieces. Frequent pieces become single tokens, rare ones "
    "fall back to bytes, so every string can be encoded and decoded exactly.",
    "Caching the keys and values of earlier positions lets each step look only at the new "
    "token; without the cache the whole sequence is computed again at every step.",
    "Café crème, naïve façade, jalapeño: accents are two bytes in UTF-8. 日本語のテキスト "
    "takes three bytes a character, and emoji such as 🙂 and 🚀 take four.",
    "Greedy decoding always takes the most likely token. Sampling draws from the "
    "distribution instead, shaped by temperature, top-k and top-p, and a seed repeats it.",
]


@dataclass(frozen=True)
class TinyConfig:
    vocab: int
    d_model: int = 32
    heads: int = 2
    layers: int = 2
    ffn: int = 64
    positions: int = 96

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads


def train_tokenizer(vocab_size: int = 320) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def make_weights(config: TinyConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.4) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    d, f = config.d_model, config.ffn
    weights = {"wte": normal(config.vocab, d), "wpe": normal(config.positions, d)}
    for i in range(config.layers):
        for name in ("q", "k", "v", "o"):
            weights[f"l{i}.w{name}"] = normal(d, d, scale=d**-0.5)
            weights[f"l{i}.b{name}"] = normal(d, scale=0.1)
        weights[f"l{i}.w1"], weights[f"l{i}.b1"] = normal(d, f, scale=d**-0.5), normal(f)
        weights[f"l{i}.w2"], weights[f"l{i}.b2"] = normal(f, d, scale=f**-0.5), normal(d)
        for ln in ("ln1", "ln2"):
            weights[f"l{i}.{ln}.g"] = (1 + normal(d, scale=0.1)).astype(np.float32)
            weights[f"l{i}.{ln}.b"] = normal(d, scale=0.1)
    weights["lnf.g"] = (1 + normal(d, scale=0.1)).astype(np.float32)
    weights["lnf.b"] = normal(d, scale=0.1)
    weights["lm_head"] = normal(d, config.vocab, scale=2.0 * d**-0.5)
    return weights


class _Graph:
    """Collects nodes and initialisers with generated names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, value: Any, name: str | None = None, dtype: Any = None) -> str:
        name = name or self._name("c")
        array = np.asarray(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, kind: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        out = out or self._name(kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"


def build_decoder(
    config: TinyConfig,
    weights: dict[str, np.ndarray],
    *,
    with_cache: bool,
    with_position_ids: bool = True,
    symbolic_cache_dims: bool = False,
) -> onnx.ModelProto:
    g = _Graph()
    for name, value in weights.items():
        g.const(value, name=name)
    h, hd, d = config.heads, config.head_dim, config.d_model
    one = g.const(1, dtype=np.int64)
    zero = g.const(0, dtype=np.int64)

    # Sizes: q = new tokens, t = all positions (cache + new), as the mask covers them all.
    q_len = g.op("Gather", g.op("Shape", "input_ids"), one)
    t_len = g.op("Gather", g.op("Shape", "attention_mask"), one)

    if with_position_ids:
        positions = "position_ids"
    else:  # count real tokens in the mask, as a graph without position_ids must
        counted = g.op("Sub", g.op("CumSum", "attention_mask", one), one)
        all_positions = g.op("Max", counted, zero)
        start = g.op("Unsqueeze", g.op("Neg", q_len), g.const([0], dtype=np.int64))
        end = g.const([2**62], dtype=np.int64)
        positions = g.op("Slice", all_positions, start, end, g.const([1], dtype=np.int64))
    x = g.op("Add", g.op("Gather", "wte", "input_ids"), g.op("Gather", "wpe", positions))

    # allowed[b, 1, i, j]: query i (absolute position t-q+i) may see key j.
    keys = g.op("Range", zero, t_len, one)
    queries = g.op("Range", g.op("Sub", t_len, q_len), t_len, one)
    causal = g.op(
        "LessOrEqual",
        g.op("Unsqueeze", keys, g.const([0], dtype=np.int64)),
        g.op("Unsqueeze", queries, g.const([1], dtype=np.int64)),
    )
    padding = g.op(
        "Unsqueeze",
        g.op("Cast", "attention_mask", to=TensorProto.BOOL),
        g.const([1, 2], dtype=np.int64),
    )
    allowed = g.op("And", causal, padding)
    masked = g.const(np.float32(-1e9))
    scale = g.const(np.float32(1 / math.sqrt(hd)))
    split = g.const([0, 0, h, hd], dtype=np.int64)
    merge = g.const([0, 0, d], dtype=np.int64)

    for i in range(config.layers):
        p = f"l{i}."

        def heads(name: str, p: str = p, source: str = "") -> str:
            proj = g.op("Add", g.op("MatMul", source, f"{p}w{name}"), f"{p}b{name}")
            return g.op("Transpose", g.op("Reshape", proj, split), perm=[0, 2, 1, 3])

        ln1 = g.op("LayerNormalization", x, f"{p}ln1.g", f"{p}ln1.b", axis=-1, epsilon=1e-5)
        q, k, v = (heads(n, source=ln1) for n in ("q", "k", "v"))
        if with_cache:
            k = g.op("Concat", f"past_key_values.{i}.key", k, axis=2, out=f"present.{i}.key")
            v = g.op("Concat", f"past_key_values.{i}.value", v, axis=2, out=f"present.{i}.value")
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        probs = g.op("Softmax", g.op("Where", allowed, scores, masked), axis=-1)
        attended = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
        out = g.op("Add", g.op("MatMul", g.op("Reshape", attended, merge), f"{p}wo"), f"{p}bo")
        x = g.op("Add", x, out)
        ln2 = g.op("LayerNormalization", x, f"{p}ln2.g", f"{p}ln2.b", axis=-1, epsilon=1e-5)
        hidden = g.op("Relu", g.op("Add", g.op("MatMul", ln2, f"{p}w1"), f"{p}b1"))
        x = g.op("Add", x, g.op("Add", g.op("MatMul", hidden, f"{p}w2"), f"{p}b2"))

    final = g.op("LayerNormalization", x, "lnf.g", "lnf.b", axis=-1, epsilon=1e-5)
    g.op("MatMul", final, "lm_head", out="logits")

    ints, floats = TensorProto.INT64, TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("input_ids", ints, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", ints, ["batch", "total_sequence"]),
    ]
    if with_position_ids:
        inputs.append(helper.make_tensor_value_info("position_ids", ints, ["batch", "sequence"]))
    outputs = [helper.make_tensor_value_info("logits", floats, ["batch", "sequence", config.vocab])]
    if with_cache:
        head_dims: list[Any] = ["heads", "head_dim"] if symbolic_cache_dims else [h, hd]
        for i in range(config.layers):
            for part in ("key", "value"):
                inputs.append(
                    helper.make_tensor_value_info(
                        f"past_key_values.{i}.{part}",
                        floats,
                        ["batch", head_dims[0], "past_sequence", head_dims[1]],
                    )
                )
                outputs.append(
                    helper.make_tensor_value_info(
                        f"present.{i}.{part}",
                        floats,
                        ["batch", head_dims[0], "total_sequence", head_dims[1]],
                    )
                )
    graph = helper.make_graph(g.nodes, "tiny_gpt", inputs, outputs, g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@dataclass(frozen=True)
class TinyModel:
    config: TinyConfig
    weights: dict[str, np.ndarray]
    tokenizer: Tokenizer
    eos_id: int


def make_tiny_model(seed: int = 0, positions: int = 96) -> TinyModel:
    tokenizer = train_tokenizer()
    config = TinyConfig(vocab=tokenizer.get_vocab_size(), positions=positions)
    eos_id = tokenizer.token_to_id(EOS)
    assert eos_id is not None
    return TinyModel(config, make_weights(config, seed), tokenizer, eos_id)


def write_decoder_dir(
    path: Path,
    model: TinyModel,
    *,
    with_cache: bool = True,
    with_position_ids: bool = True,
    symbolic_cache_dims: bool = False,
    generation_config: dict[str, Any] | None = None,
    tokenizer_config: dict[str, Any] | None = None,
) -> Path:
    """A model directory as Optimum lays it out."""
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(
        build_decoder(
            model.config,
            model.weights,
            with_cache=with_cache,
            with_position_ids=with_position_ids,
            symbolic_cache_dims=symbolic_cache_dims,
        ),
        str(path / "model.onnx"),
    )
    model.tokenizer.save(str(path / "tokenizer.json"))
    c = model.config
    config = {
        "model_type": "gpt2",
        "vocab_size": c.vocab,
        "n_positions": c.positions,
        "n_embd": c.d_model,
        "n_head": c.heads,
        "n_layer": c.layers,
        "bos_token_id": model.eos_id,
        "eos_token_id": model.eos_id,
    }
    (path / "config.json").write_text(json.dumps(config))
    if generation_config is not None:
        (path / "generation_config.json").write_text(json.dumps(generation_config))
    if tokenizer_config is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return path


# -- the same network in numpy --------------------------------------------------------------


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * g + b


def reference_logits(model: TinyModel, ids: list[int]) -> np.ndarray:
    """Logits ``[len(ids), vocab]`` for one unpadded sequence, computed from scratch."""
    c, w = model.config, model.weights
    n = len(ids)
    x = w["wte"][ids] + w["wpe"][np.arange(n)]
    causal = np.tril(np.ones((n, n), dtype=bool))
    for i in range(c.layers):
        p = f"l{i}."
        ln = _layer_norm(x, w[p + "ln1.g"], w[p + "ln1.b"])
        q, k, v = (
            (ln @ w[f"{p}w{m}"] + w[f"{p}b{m}"]).reshape(n, c.heads, c.head_dim).transpose(1, 0, 2)
            for m in ("q", "k", "v")
        )
        scores = np.where(causal, q @ k.transpose(0, 2, 1) / math.sqrt(c.head_dim), -np.inf)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        attended = (probs @ v).transpose(1, 0, 2).reshape(n, c.d_model)
        x = x + attended @ w[p + "wo"] + w[p + "bo"]
        ln = _layer_norm(x, w[p + "ln2.g"], w[p + "ln2.b"])
        x = x + np.maximum(ln @ w[p + "w1"] + w[p + "b1"], 0) @ w[p + "w2"] + w[p + "b2"]
    return _layer_norm(x, w["lnf.g"], w["lnf.b"]) @ w["lm_head"]


def reference_greedy(model: TinyModel, prompt: list[int], steps: int) -> list[int]:
    """Greedy decoding, recomputing the whole sequence at every step."""
    ids = list(prompt)
    for _ in range(steps):
        ids.append(int(np.argmax(reference_logits(model, ids)[-1])))
    return ids[len(prompt) :]
