"""Sentence embeddings: a real model (all-MiniLM-L6-v2, int8) and tiny encoders whose
answers can be computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devsynth.application.offline.embeddings import SentenceEncoder
from devsynth.domain.errors import ConfigurationError
from tests.support.tiny_decoder import TinyModel
from tests.support.tiny_encoder import write_encoder_dir

FOOD = "A man is eating food."
BREAD = "A man is eating a piece of bread."
STOCKS = "The stock market crashed today."


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path) -> SentenceEncoder:
    return SentenceEncoder.load(minilm_dir)


def test_minilm_puts_similar_sentences_closer(minilm: SentenceEncoder) -> None:
    food, bread, stocks = minilm.embed([FOOD, BREAD, STOCKS])
    assert food @ bread > food @ stocks + 0.3
    assert food @ bread > bread @ stocks + 0.3


def test_minilm_vectors_are_unit_length_and_in_the_order_given(minilm: SentenceEncoder) -> None:
    texts = [STOCKS, FOOD, "x", BREAD * 40]  # lengths unsorted; the last one is truncated
    vectors = minilm.embed(texts, batch_size=2)
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, vectors, strict=True):
        alone = minilm.embed([text])[0]
        # int8 activations are quantised per batch, so batching moves vectors a little.
        assert vector @ alone > 0.99


def test_minilm_gives_the_same_vector_every_time(minilm: SentenceEncoder) -> None:
    np.testing.assert_array_equal(minilm.embed([FOOD]), minilm.embed([FOOD]))


@pytest.fixture(scope="module")
def table(tiny_model: TinyModel) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((tiny_model.config.vocab, 8)).astype(np.float32)


def test_token_vectors_are_mean_pooled_over_real_tokens_only(
    tmp_path: Path, tiny_model: TinyModel, table: np.ndarray
) -> None:
    encoder = SentenceEncoder.load(write_encoder_dir(tmp_path, tiny_model.tokenizer, table))
    texts = ["short", "a rather longer sentence that needs padding in a batch", "mid size"]
    vectors = encoder.embed(texts)
    for text, vector in zip(texts, vectors, strict=True):
        ids = tiny_model.tokenizer.encode(text).ids
        expected = table[ids].mean(axis=0)
        np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-6)


def test_an_already_pooled_output_is_used_as_it_is(
    tmp_path: Path, tiny_model: TinyModel, table: np.ndarray
) -> None:
    encoder = SentenceEncoder.load(
        write_encoder_dir(tmp_path, tiny_model.tokenizer, table, pooled=True)
    )
    (vector,) = encoder.embed(["pooled by the graph"])
    expected = table[tiny_model.tokenizer.encode("pooled by the graph").ids].mean(axis=0)
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-6)


def test_embed_takes_a_list_of_texts(minilm: SentenceEncoder) -> None:
    with pytest.raises(ConfigurationError):
        minilm.embed(FOOD)
    with pytest.raises(ConfigurationError):
        minilm.embed([FOOD], batch_size=0)
    assert minilm.embed([]).shape[0] == 0
