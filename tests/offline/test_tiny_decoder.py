"""The decoder loop on a tiny GPT built by the tests, checked against a numpy computation
of the same network."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from devsynth.application.offline.generation import Decoder
from devsynth.application.offline.language_model import LocalLanguageModel, Prompt
from devsynth.application.offline.sampling import make_rng
from devsynth.domain.errors import ContextLengthExceededError
from tests.support.tiny_decoder import (
    make_tiny_model,
    reference_greedy,
    reference_logits,
    write_decoder_dir,
)

PROMPTS = [
    "The offline provider",
    "A tokenizer splits text into pieces and",
    "Café",
    "Greedy decoding always takes the most likely token. Sampling",
]


def test_building_the_tiny_model_and_tokenizer_takes_well_under_a_second(
    tmp_path: Path,
) -> None:
    start = time.perf_counter()
    model = make_tiny_model()
    write_decoder_dir(tmp_path / "cached", model, with_cache=True)
    write_decoder_dir(tmp_path / "uncached", model, with_cache=False)
    assert time.perf_counter() - start < 0.5


def test_the_runtime_reads_the_cache_from_the_graph(
    cached_lm: LocalLanguageModel, uncached_lm: LocalLanguageModel
) -> None:
    cache = cached_lm.decoder.signature.cache
    assert [slot.input_name for slot in cache] == [
        "past_key_values.0.key",
        "past_key_values.0.value",
        "past_key_values.1.key",
        "past_key_values.1.value",
    ]
    assert cache[0].output_name == "present.0.key"
    assert cache[0].empty(3).shape == (3, 2, 0, 16)
    assert not uncached_lm.decoder.signature.has_cache


def test_symbolic_cache_sizes_come_from_config_json(
    make_decoder_dir: Callable[..., Path], cached_lm: LocalLanguageModel
) -> None:
    lm = LocalLanguageModel.load(make_decoder_dir(symbolic_cache_dims=True))
    assert lm.decoder.signature.cache[0].empty(1).shape == (1, 2, 0, 16)
    settings = lm.settings({"max_tokens": 12})
    prompt = lm.prompt(PROMPTS[0])
    assert lm.generate(prompt, settings) == cached_lm.generate(prompt, settings)


def test_logits_of_every_step_match_an_independent_numpy_computation(
    cached_lm: LocalLanguageModel, tiny_model
) -> None:
    prompt = cached_lm.prompt(PROMPTS[1]).ids
    ids = list(prompt)
    decoder = cached_lm.decoder
    # Walk the decoder step by step, comparing each step's logits with numpy's.
    session, signature = decoder.session, decoder.signature
    past = {slot.input_name: slot.empty(1) for slot in signature.cache}
    fresh = ids
    for _ in range(10):
        feeds = {
            "input_ids": np.array([fresh], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
            "position_ids": np.arange(len(ids) - len(fresh), len(ids), dtype=np.int64)[None],
            **past,
        }
        logits, *present = session.run(signature.output_names, feeds)
        expected = reference_logits(tiny_model, ids)[-1]
        np.testing.assert_allclose(logits[0, -1], expected, rtol=1e-4, atol=1e-4)
        past = {s.input_name: v for s, v in zip(signature.cache, present, strict=True)}
        fresh = [int(np.argmax(expected))]
        ids += fresh


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_decoding_equals_the_numpy_reference(
    cached_lm: LocalLanguageModel, tiny_model, prompt: str
) -> None:
    encoded = cached_lm.prompt(prompt)
    result = cached_lm.generate(encoded, cached_lm.settings({"max_tokens": 24}))
    assert list(result.token_ids) == reference_greedy(tiny_model, encoded.ids, 24)
    assert result.text == cached_lm.tokenizer.decode(list(result.token_ids))
    assert result.finish_reason == "length"
    assert result.prompt_tokens == len(encoded.ids)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_generation_with_and_without_the_cache_gives_identical_tokens(
    cached_lm: LocalLanguageModel, uncached_lm: LocalLanguageModel, prompt: str
) -> None:
    for parameters in ({"max_tokens": 30}, {"max_tokens": 30, "temperature": 0.9, "seed": 7}):
        settings = cached_lm.settings(parameters)
        with_cache = cached_lm.generate(cached_lm.prompt(prompt), settings)
        without = uncached_lm.generate(uncached_lm.prompt(prompt), settings)
        recomputed = cached_lm.generate(cached_lm.prompt(prompt), settings, use_cache=False)
        assert with_cache.token_ids == without.token_ids == recomputed.token_ids


def test_a_graph_without_position_ids_gives_the_same_tokens(
    make_decoder_dir: Callable[..., Path], cached_lm: LocalLanguageModel
) -> None:
    lm = LocalLanguageModel.load(make_decoder_dir(with_position_ids=False))
    assert lm.decoder.signature.position_dtype is None
    settings = lm.settings({"max_tokens": 16})
    prompts = [lm.prompt(p) for p in PROMPTS]
    assert lm.generate_batch(prompts, settings) == cached_lm.generate_batch(prompts, settings)


@pytest.mark.parametrize("lm_name", ["cached_lm", "uncached_lm"])
def test_left_padded_batches_give_each_prompt_its_own_answer(
    request: pytest.FixtureRequest, tiny_model, lm_name: str
) -> None:
    lm: LocalLanguageModel = request.getfixturevalue(lm_name)
    prompts = [lm.prompt(p) for p in PROMPTS]
    assert len({len(p.ids) for p in prompts}) == len(prompts)  # padding really happens
    settings = lm.settings({"max_tokens": 16})
    batch = lm.generate_batch(prompts, settings)
    for prompt, result in zip(prompts, batch, strict=True):
        assert result == lm.generate(prompt, settings)
        assert list(result.token_ids) == reference_greedy(tiny_model, prompt.ids, 16)


def test_the_padding_token_does_not_matter_to_a_left_padded_batch(
    cached_lm: LocalLanguageModel,
) -> None:
    prompts = [cached_lm.prompt(p).ids for p in PROMPTS]
    settings = cached_lm.settings({"max_tokens": 8})
    runs = []
    for pad_id in (0, 5, 300):
        decoder = Decoder(cached_lm.decoder.session, cached_lm.decoder.signature, pad_id)
        runs.append(np.stack(list(decoder.steps(prompts, settings, make_rng(None)))))
    assert all(np.array_equal(runs[0], run) for run in runs[1:])


def test_the_prompt_is_never_echoed(cached_lm: LocalLanguageModel, tiny_model) -> None:
    prompt = cached_lm.prompt(PROMPTS[3])
    result = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 5}))
    new_tokens = reference_greedy(tiny_model, prompt.ids, 5)
    assert list(result.token_ids) == new_tokens
    assert result.text == cached_lm.tokenizer.decode(new_tokens)
    assert not result.text.startswith("Greedy")
    streamed = "".join(cached_lm.stream(prompt, cached_lm.settings({"max_tokens": 5})))
    assert streamed == result.text


def test_max_tokens_bounds_the_new_tokens(cached_lm: LocalLanguageModel) -> None:
    prompt = cached_lm.prompt(PROMPTS[0])
    for max_tokens in (1, 2, 17):
        result = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": max_tokens}))
        assert len(result.token_ids) == max_tokens
        assert result.finish_reason == "length"


def test_generation_ends_at_an_end_of_sequence_token(
    make_decoder_dir: Callable[..., Path], cached_lm: LocalLanguageModel
) -> None:
    prompt = cached_lm.prompt(PROMPTS[0])
    free = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 20})).token_ids
    # Declare the token greedy decoding produces fourth to be the end of sequence.
    eos = free[3]
    cut = free.index(eos)
    lm = LocalLanguageModel.load(make_decoder_dir(generation_config={"eos_token_id": [999, eos]}))
    assert lm.eos_ids == {999, eos}
    result = lm.generate(prompt, lm.settings({"max_tokens": 20}))
    assert result.token_ids == free[:cut]
    assert result.finish_reason == "stop"
    assert result.text == lm.tokenizer.decode(list(free[:cut]))


def test_the_eos_token_of_tokenizer_config_is_used_when_no_config_names_one(
    tmp_path: Path, tiny_model
) -> None:
    path = write_decoder_dir(tmp_path, tiny_model, tokenizer_config={"eos_token": "<|endoftext|>"})
    config = (path / "config.json").read_text().replace('"eos_token_id"', '"unused"')
    (path / "config.json").write_text(config)
    assert LocalLanguageModel.load(path).eos_ids == {tiny_model.eos_id}


def test_generation_stops_before_a_stop_string(cached_lm: LocalLanguageModel) -> None:
    prompt = cached_lm.prompt(PROMPTS[1])
    free = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 30}))
    stop = free.text[10:13]
    assert stop and REPLACEMENT not in stop
    result = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 30, "stop": [stop]}))
    assert result.text == free.text[: free.text.index(stop)]
    assert result.finish_reason == "stop"
    assert len(result.token_ids) < 30
    never = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 30, "stop": "zzzzz"}))
    assert never == free


REPLACEMENT = "\ufffd"


def test_a_seed_makes_sampling_reproducible(cached_lm: LocalLanguageModel) -> None:
    prompt = cached_lm.prompt(PROMPTS[2])

    def sample(seed: int, **extra: float) -> tuple[int, ...]:
        parameters = {"max_tokens": 24, "temperature": 1.0, "seed": seed, **extra}
        return cached_lm.generate(prompt, cached_lm.settings(parameters)).token_ids

    assert sample(1) == sample(1)
    assert len({sample(seed) for seed in range(6)}) > 1
    greedy = cached_lm.generate(prompt, cached_lm.settings({"max_tokens": 24})).token_ids
    assert sample(3) != greedy
    # Restricting the choice to the single best token is greedy decoding again.
    assert sample(3, top_k=1) == greedy
    assert sample(3, top_p=1e-6) == greedy


def test_a_prompt_longer_than_the_context_window_is_refused(
    cached_lm: LocalLanguageModel,
) -> None:
    with pytest.raises(ContextLengthExceededError) as caught:
        cached_lm.generate(Prompt([5] * 96), cached_lm.settings())
    assert caught.value.current_tokens == 96
    assert caught.value.max_tokens == 96


def test_generation_stops_at_the_end_of_the_context_window(
    cached_lm: LocalLanguageModel,
) -> None:
    result = cached_lm.generate(Prompt([5] * 90), cached_lm.settings({"max_tokens": 50}))
    assert len(result.token_ids) == 6
    assert result.finish_reason == "length"


def test_generation_config_supplies_the_model_defaults(
    make_decoder_dir: Callable[..., Path],
) -> None:
    lm = LocalLanguageModel.load(
        make_decoder_dir(
            generation_config={
                "do_sample": True,
                "temperature": 0.6,
                "top_k": 20,
                "max_new_tokens": 9,
            }
        )
    )
    assert (lm.defaults.temperature, lm.defaults.top_k, lm.defaults.max_tokens) == (0.6, 20, 9)
    assert lm.settings({"temperature": 0}).greedy
