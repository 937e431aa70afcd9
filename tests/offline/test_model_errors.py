"""A model path that is missing, incomplete or not loadable fails at load time with a
message naming the path and the missing or broken piece; a missing extra says what to
install."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from devsynth.application.offline.decoder_io import inspect_decoder
from devsynth.application.offline.embeddings import SentenceEncoder
from devsynth.application.offline.language_model import LocalLanguageModel
from devsynth.domain.errors import ModelLoadError
from tests.support.tiny_decoder import TinyModel
from tests.support.tiny_encoder import write_encoder_dir


def copy_dir(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def load_error(path: Path) -> str:
    with pytest.raises(ModelLoadError) as caught:
        LocalLanguageModel.load(path)
    return str(caught.value)


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message
    assert "does not exist" in message


def test_a_file_instead_of_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"")
    message = load_error(tmp_path / "model.onnx")
    assert "is not a directory" in message
    assert "model.onnx, tokenizer.json, config.json" in message


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "config.json"])
def test_each_missing_file_is_named(cached_dir: Path, tmp_path: Path, missing: str) -> None:
    path = copy_dir(cached_dir, tmp_path / "model")
    (path / missing).unlink()
    message = load_error(path)
    assert str(path) in message
    assert f"missing {missing}" in message


def test_an_unreadable_onnx_file_is_named(cached_dir: Path, tmp_path: Path) -> None:
    path = copy_dir(cached_dir, tmp_path / "model")
    (path / "model.onnx").write_bytes(b"not a protobuf at all")
    message = load_error(path)
    assert f"cannot load the ONNX model {path / 'model.onnx'}" in message


def test_a_broken_tokenizer_is_named(cached_dir: Path, tmp_path: Path) -> None:
    path = copy_dir(cached_dir, tmp_path / "model")
    (path / "tokenizer.json").write_text('{"model": {"type": "nonsense"}}')
    assert f"cannot load the tokenizer {path / 'tokenizer.json'}" in load_error(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("config.json", "{not json"), ("generation_config.json", "[1, 2]")],
)
def test_broken_json_files_are_named(
    cached_dir: Path, tmp_path: Path, name: str, content: str
) -> None:
    path = copy_dir(cached_dir, tmp_path / "model")
    (path / name).write_text(content)
    assert str(path / name) in load_error(path)


def test_bad_sampling_defaults_in_generation_config_are_named(
    make_decoder_dir: Callable[..., Path],
) -> None:
    path = make_decoder_dir(generation_config={"do_sample": True, "top_p": 3})
    message = load_error(path)
    assert "generation_config.json" in message
    assert "top_p" in message


def test_an_encoder_is_not_a_decoder(
    cached_dir: Path, tmp_path: Path, tiny_model: TinyModel
) -> None:
    path = copy_dir(cached_dir, tmp_path / "model")
    write_encoder_dir(path, tiny_model.tokenizer, np.zeros((320, 4), dtype=np.float32))
    assert "has no 'logits' output; it is not a decoder" in load_error(path)


def node(name: str, shape: list[Any], kind: str = "tensor(float)") -> SimpleNamespace:
    return SimpleNamespace(name=name, shape=shape, type=kind)


def fake_session(inputs: list[SimpleNamespace], outputs: list[SimpleNamespace]) -> Any:
    return SimpleNamespace(get_inputs=lambda: inputs, get_outputs=lambda: outputs)


IDS = node("input_ids", ["b", "s"], "tensor(int64)")
LOGITS = node("logits", ["b", "s", 10])


def past(layer: int, part: str, shape: list[Any] | None = None) -> SimpleNamespace:
    return node(f"past_key_values.{layer}.{part}", shape or ["b", 2, "p", 4])


def present(layer: int, part: str) -> SimpleNamespace:
    return node(f"present.{layer}.{part}", ["b", 2, "t", 4])


@pytest.mark.parametrize(
    ("inputs", "outputs", "expected"),
    [
        ([IDS, past(0, "key")], [LOGITS], "'past_key_values.0.key' has no matching output"),
        ([IDS], [LOGITS, present(0, "value")], "'present.0.value' has no matching input"),
        (
            [IDS, past(1, "key"), past(1, "value")],
            [LOGITS, present(1, "key"), present(1, "value")],
            "skip layers",
        ),
        ([IDS, node("use_cache_branch", [1], "tensor(bool)")], [LOGITS], "use_cache_branch"),
        ([node("input_ids", ["b", "s"], "tensor(string)")], [LOGITS], "unsupported type"),
        (
            [IDS, past(0, "key", ["b", "h", "p", 4]), past(0, "value")],
            [LOGITS, present(0, "key"), present(0, "value")],
            "cannot size axis 1 of cache input 'past_key_values.0.key'",
        ),
    ],
)
def test_incomplete_decoder_graphs_are_refused(
    inputs: list[Any], outputs: list[Any], expected: str
) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.onnx") as caught:
        inspect_decoder(fake_session(inputs, outputs), {}, Path("model.onnx"))
    assert expected in str(caught.value)


def test_an_encoder_directory_needs_its_model_and_tokenizer(tmp_path: Path) -> None:
    tmp_path.joinpath("model.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError) as caught:
        SentenceEncoder.load(tmp_path)
    assert f"embedding_model_path {tmp_path} is incomplete: missing tokenizer.json" in str(
        caught.value
    )


def test_without_the_offline_extra_loading_a_model_says_what_to_install(
    cached_dir: Path, minilm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("onnxruntime", "tokenizers"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, module, None)  # makes `import module` fail
            for load, path in (
                (LocalLanguageModel.load, cached_dir),
                (SentenceEncoder.load, minilm_dir),
            ):
                with pytest.raises(ModelLoadError) as caught:
                    load(path)
                message = str(caught.value)
                assert f"needs the {module!r} package" in message
                assert 'pip install "devsynth-llm[offline]"' in message
