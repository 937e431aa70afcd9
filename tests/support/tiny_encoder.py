"""Tiny sentence encoders in ONNX whose answers are easy to compute by hand: token vectors
are rows of a table, so mean pooling can be checked exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer


def build_encoder(table: np.ndarray, *, pooled: bool) -> onnx.ModelProto:
    """``last_hidden_state = table[input_ids]``, or with ``pooled`` an already pooled
    ``sentence_embedding``: the plain (unmasked) mean of those rows."""
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["tokens"])]
    if pooled:
        nodes.append(
            helper.make_node("ReduceMean", ["tokens", "axes"], ["sentence_embedding"], keepdims=0)
        )
        output = helper.make_tensor_value_info(
            "sentence_embedding", TensorProto.FLOAT, ["batch", table.shape[1]]
        )
    else:
        nodes.append(helper.make_node("Identity", ["tokens"], ["last_hidden_state"]))
        output = helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", table.shape[1]]
        )
    # attention_mask is declared but unused, as some exports do: pooling must apply it.
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask")
    ]
    initializers = [
        numpy_helper.from_array(table.astype(np.float32), "table"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(nodes, "tiny_encoder", inputs, [output], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def write_encoder_dir(
    path: Path, tokenizer: Tokenizer, table: np.ndarray, *, pooled: bool = False
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(build_encoder(table, pooled=pooled), str(path / "model.onnx"))
    tokenizer.save(str(path / "tokenizer.json"))
    return path
