"""The Offline provider end to end: the provider API over a real local model, over MiniLM,
and over the deterministic fallbacks; errors at creation; the adapter's offline mode."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devsynth.application.embeddings import hash_embedding
from devsynth.application.llm.offline_provider import DETERMINISTIC_MODEL, OfflineProvider
from devsynth.application.offline.chat_template import render_plain
from devsynth.application.offline.deterministic import generate_deterministic
from devsynth.application.offline.settings import GenerationSettings
from devsynth.domain.errors import ConfigurationError, ModelLoadError, TokenLimitExceededError
from devsynth.domain.llm import Completion, LLMProvider
from tests.support.tiny_decoder import TinyModel, reference_greedy

PROMPT = "The offline provider"
CONTEXT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def offline(**section: Any) -> dict[str, Any]:
    return {"offline_provider": {k: str(v) for k, v in section.items()}}


@pytest.fixture(scope="module")
def model_provider(cached_dir: Path) -> OfflineProvider:
    return OfflineProvider({**offline(model_path=cached_dir), "max_tokens": 12})


# -- without any model -------------------------------------------------------------------


def test_without_a_model_text_is_deterministic_and_the_api_is_complete() -> None:
    provider = OfflineProvider({"max_tokens": 40})
    assert isinstance(provider, LLMProvider)
    expected = generate_deterministic(PROMPT, GenerationSettings(max_tokens=40))
    assert provider.generate(PROMPT) == expected.text
    assert OfflineProvider({"max_tokens": 40}).generate(PROMPT) == expected.text
    completion = provider.complete_prompt(PROMPT)
    assert completion.model == DETERMINISTIC_MODEL
    assert completion.usage is not None
    assert completion.usage.completion_tokens == expected.completion_tokens <= 40
    assert completion.finish_reason == expected.finish_reason
    # A lone user message is the same request as the bare prompt.
    assert provider.complete([{"role": "user", "content": PROMPT}]).text == expected.text
    assert provider.generate_with_context(PROMPT, []) == expected.text


def test_without_a_model_the_context_and_settings_vary_the_text() -> None:
    provider = OfflineProvider()
    plain = provider.generate(PROMPT)
    assert provider.generate_with_context(PROMPT, CONTEXT) != plain
    assert provider.generate(PROMPT, {"seed": 3}) != plain
    assert plain.startswith(provider.generate(PROMPT, {"max_tokens": 5}))
    assert provider.generate(PROMPT, {"stop": "provider"}).endswith("The offline ")


def test_without_a_model_streams_join_to_the_generated_text() -> None:
    provider = OfflineProvider()
    stream = provider.stream(PROMPT)
    chunks = list(stream)
    assert len(chunks) > 5
    assert "".join(chunks) == provider.generate(PROMPT)
    assert stream.completion is not None
    assert stream.completion.text == "".join(chunks)
    assert stream.completion.model == DETERMINISTIC_MODEL


def test_without_an_encoder_embeddings_are_the_cores_hash_embeddings() -> None:
    provider = OfflineProvider()
    assert provider.get_embedding("hello world") == hash_embedding("hello world", 256)
    assert provider.get_embeddings(["a b", "c"]) == [hash_embedding("a b"), hash_embedding("c")]
    wide = OfflineProvider({"embedding_dimensions": 64})
    assert len(wide.get_embedding("hello")) == 64


SCRIPT = """
import sys
for name in ("numpy", "onnxruntime", "tokenizers", "onnx"):
    sys.modules[name] = None  # as if the offline extra were not installed
from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
from devsynth.domain.errors import ModelLoadError
provider = LLMBackendAdapter().create_provider(LLMProviderConfig("offline", {}))
print(provider.generate("hello there", {"max_tokens": 12}))
print(len(provider.get_embedding("hello there")))
try:
    LLMBackendAdapter().create_provider(
        LLMProviderConfig("offline", {"offline_provider": {"model_path": sys.argv[1]}})
    )
except ModelLoadError as exc:
    print(exc)
"""


def test_without_the_extra_the_fallbacks_work_and_a_model_says_what_to_install(
    cached_dir: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cached_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DEVSYNTH_OFFLINE": "0"},
    ).stdout.splitlines()
    expected = generate_deterministic("hello there", GenerationSettings(max_tokens=12)).text
    assert out[0] == expected
    assert out[1] == "256"
    assert f"model_path {cached_dir} needs the 'numpy' package" in out[2]
    assert 'pip install "devsynth-llm[offline]"' in out[2]


# -- with a generative model -------------------------------------------------------------


def test_generate_feeds_the_prompt_as_it_is_and_returns_only_new_text(
    model_provider: OfflineProvider, tiny_model: TinyModel
) -> None:
    lm = model_provider.language_model
    assert lm is not None
    ids = lm.prompt(PROMPT).ids
    assert ids == tiny_model.tokenizer.encode(PROMPT).ids
    expected = tiny_model.tokenizer.decode(reference_greedy(tiny_model, ids, 12))
    assert model_provider.generate(PROMPT) == expected
    completion = model_provider.complete_prompt(PROMPT)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (len(ids), 12)
    assert completion.finish_reason == "length"
    assert completion.model == model_provider.model == lm.name
    assert completion.metadata["backend"] == "onnxruntime"


def test_generate_with_context_uses_the_plain_format_without_a_template(
    model_provider: OfflineProvider, tiny_model: TinyModel
) -> None:
    lm = model_provider.language_model
    assert lm is not None
    rendered = render_plain([*CONTEXT, {"role": "user", "content": PROMPT}])
    ids = tiny_model.tokenizer.encode(rendered).ids
    expected = tiny_model.tokenizer.decode(reference_greedy(tiny_model, ids, 12))
    assert model_provider.generate_with_context(PROMPT, CONTEXT) == expected.split("\nUser:")[0]


def test_generate_with_context_uses_the_models_chat_template(
    make_decoder_dir: Callable[..., Path], tiny_model: TinyModel
) -> None:
    pytest.importorskip("jinja2")
    path = make_decoder_dir(
        tokenizer_config={"chat_template": TEMPLATE, "eos_token": "<|endoftext|>"}
    )
    provider = OfflineProvider({**offline(model_path=path), "max_tokens": 10})
    rendered = "".join(
        f"<|{m['role']}|>{m['content']}<|endoftext|>"
        for m in [*CONTEXT, {"role": "user", "content": PROMPT}]
    )
    ids = tiny_model.tokenizer.encode(rendered + "<|assistant|>", add_special_tokens=False).ids
    expected = tiny_model.tokenizer.decode(reference_greedy(tiny_model, ids, 10))
    assert provider.generate_with_context(PROMPT, CONTEXT) == expected
    assert provider.generate(PROMPT) != expected  # the bare prompt skips the template


def test_streams_join_to_exactly_what_generate_returns(model_provider: OfflineProvider) -> None:
    for parameters in ({}, {"temperature": 1.3, "seed": 11, "max_tokens": 40}):
        stream = model_provider.stream(PROMPT, parameters)
        chunks = list(stream)
        assert "".join(chunks) == model_provider.generate(PROMPT, parameters)
        assert stream.completion is not None
        assert stream.completion.text == "".join(chunks)
        assert stream.completion.usage is not None
        with_context = model_provider.stream_with_context(PROMPT, CONTEXT, parameters)
        joined = "".join(with_context)
        assert joined == model_provider.generate_with_context(PROMPT, CONTEXT, parameters)


def test_a_stream_closed_early_stops_generating(model_provider: OfflineProvider) -> None:
    stream = model_provider.stream(PROMPT, {"max_tokens": 60})
    next(stream)
    stream.close()
    assert list(stream) == []
    assert stream.completion is None


def test_seeded_sampling_through_the_provider_repeats(model_provider: OfflineProvider) -> None:
    params = {"temperature": 0.8, "top_p": 0.9, "top_k": 40, "seed": 5, "max_tokens": 30}
    assert model_provider.generate(PROMPT, params) == model_provider.generate(PROMPT, params)


def test_a_long_context_is_pruned_to_the_models_window(model_provider: OfflineProvider) -> None:
    lm = model_provider.language_model
    assert lm is not None
    context = [CONTEXT[0]] + [
        {"role": role, "content": f"message number {i} about nothing"}
        for i in range(40)
        for role in ("user", "assistant")
    ]
    completion = model_provider.complete_with_context(PROMPT, context, {"max_tokens": 8})
    assert completion.usage is not None
    assert completion.usage.prompt_tokens + 8 <= 96
    with pytest.raises(TokenLimitExceededError):
        model_provider.generate_with_context("word " * 200, [], {"max_tokens": 8})


def test_pruning_counts_the_chat_template_as_the_model_reads_it(
    make_decoder_dir: Callable[..., Path],
) -> None:
    pytest.importorskip("jinja2")
    path = make_decoder_dir(
        tokenizer_config={"chat_template": TEMPLATE, "eos_token": "<|endoftext|>"}
    )
    provider = OfflineProvider(offline(model_path=path))
    context = [CONTEXT[0]] + [
        {"role": role, "content": f"message {i}"}
        for i in range(40)
        for role in ("user", "assistant")
    ]
    # OpenAI's per-message overhead underestimates this template's role tags, so only the
    # model's own rendering leaves room for all 8 tokens of the answer.
    completion = provider.complete_with_context(PROMPT, context, {"max_tokens": 8})
    assert completion.usage is not None
    assert completion.usage.prompt_tokens + 8 <= 96
    assert completion.usage.prompt_tokens > 60  # pruned, not emptied


def test_async_twins_give_the_same_results(model_provider: OfflineProvider) -> None:
    async def scenario() -> tuple[Any, ...]:
        stream = model_provider.astream(PROMPT)
        chunks = [chunk async for chunk in stream]
        chat_stream = model_provider.astream_with_context(PROMPT, CONTEXT)
        chat_chunks = [chunk async for chunk in chat_stream]
        return (
            await model_provider.agenerate(PROMPT),
            "".join(chunks),
            stream.completion,
            await model_provider.agenerate_with_context(PROMPT, CONTEXT),
            "".join(chat_chunks),
            await model_provider.acomplete([{"role": "user", "content": PROMPT}]),
            await model_provider.aget_embedding("hi"),
        )

    text, streamed, completion, chat, chat_streamed, completed, vector = asyncio.run(scenario())
    assert text == streamed == model_provider.generate(PROMPT)
    assert isinstance(completion, Completion)
    assert completion.text == text
    assert chat == chat_streamed == model_provider.generate_with_context(PROMPT, CONTEXT)
    assert completed.text == model_provider.complete([{"role": "user", "content": PROMPT}]).text
    assert vector == hash_embedding("hi")


def test_a_closed_async_stream_frees_the_generation(model_provider: OfflineProvider) -> None:
    async def scenario() -> list[str]:
        stream = model_provider.astream(PROMPT, {"max_tokens": 60})
        first = await stream.__anext__()
        await stream.aclose()
        return [first, *[chunk async for chunk in stream]]

    assert len(asyncio.run(scenario())) == 1


# -- with an embedding model -------------------------------------------------------------


def test_the_embedding_model_gives_semantic_vectors(minilm_dir: Path) -> None:
    provider = OfflineProvider(offline(embedding_model_path=minilm_dir))
    assert provider.language_model is None  # text stays deterministic
    food, bread, stocks = provider.get_embeddings(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market crashed today.",
        ]
    )
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(food, bread) > dot(food, stocks)
    assert len(provider.get_embedding("A man is eating food.")) == 384
    assert asyncio.run(provider.aget_embeddings(["x"]))[0] == provider.get_embeddings(["x"])[0]


def test_both_models_at_once(cached_dir: Path, minilm_dir: Path) -> None:
    provider = OfflineProvider(offline(model_path=cached_dir, embedding_model_path=minilm_dir))
    assert provider.language_model is not None
    assert provider.encoder is not None


# -- configuration and errors ------------------------------------------------------------


def test_paths_from_the_project_table_work_and_the_nested_form_wins(
    cached_dir: Path, tmp_path: Path
) -> None:
    flat = OfflineProvider({"model_path": str(cached_dir)})
    assert flat.language_model is not None
    with pytest.raises(ModelLoadError):
        OfflineProvider({"model_path": str(cached_dir), **offline(model_path=tmp_path / "x")})
    assert OfflineProvider({"model_path": ""}).language_model is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"model_path": "{tmp}/absent"}, "model_path {tmp}/absent does not exist"),
        ({"model_path": "{tmp}"}, "model_path {tmp} is incomplete: missing model.onnx"),
        (
            {"embedding_model_path": "{tmp}"},
            "embedding_model_path {tmp} is incomplete: missing model.onnx, tokenizer.json",
        ),
    ],
)
def test_a_bad_model_path_fails_at_creation_naming_it(
    tmp_path: Path, section: dict[str, str], expected: str
) -> None:
    (tmp_path / "config.json").write_text("{}")
    parameters = {"offline_provider": {k: v.format(tmp=tmp_path) for k, v in section.items()}}
    with pytest.raises(ModelLoadError) as caught:
        OfflineProvider(parameters)
    assert expected.format(tmp=tmp_path) in str(caught.value)


@pytest.mark.parametrize(
    "parameters",
    [
        {"offline_provider": "models/tiny"},
        {"offline_provider": {"model_path": 3}},
        {"temperature": -1},
        {"max_tokens": 0},
    ],
)
def test_bad_settings_fail_at_creation(parameters: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        OfflineProvider(parameters)


def test_execution_providers_are_chosen_from_those_available(cached_dir: Path) -> None:
    preferred = ["NoSuchExecutionProvider", "CPUExecutionProvider"]
    provider = OfflineProvider({**offline(model_path=cached_dir), "execution_providers": preferred})
    assert provider.language_model is not None
    assert provider.language_model.decoder.session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ConfigurationError, match="none of the execution providers"):
        OfflineProvider(
            {**offline(model_path=cached_dir), "execution_providers": ["NoSuchExecutionProvider"]}
        )
    with pytest.raises(ConfigurationError, match="list of names"):
        OfflineProvider({"execution_providers": "CPUExecutionProvider"})


def test_the_provider_without_models_imports_none_of_the_extra() -> None:
    script = (
        "import sys\n"
        "from devsynth.application.llm.offline_provider import OfflineProvider\n"
        "OfflineProvider().generate('hi')\n"
        "OfflineProvider().get_embedding('hi')\n"
        "print(sorted({'numpy', 'onnxruntime', 'tokenizers', 'jinja2'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_adapter_creates_the_offline_provider_with_a_model(cached_dir: Path) -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
    from devsynth.application.llm.config import ProjectConfig

    adapter = LLMBackendAdapter(project_config=ProjectConfig())
    provider = adapter.create_provider(
        LLMProviderConfig("offline", {**offline(model_path=cached_dir), "max_tokens": 12})
    )
    assert isinstance(provider, OfflineProvider)
    assert provider.model == cached_dir.name


def test_offline_mode_from_the_project_file_loads_the_configured_model(
    cached_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny").symlink_to(cached_dir)
    (tmp_path / "devsynth.toml").write_text(
        'offline_mode = true\n\n[offline_provider]\nmodel_path = "models/tiny"\n'
    )
    monkeypatch.setenv("DEVSYNTH_CONFIG", str(tmp_path / "devsynth.toml"))
    monkeypatch.delenv("DEVSYNTH_OFFLINE", raising=False)
    provider = LLMBackendAdapter().create_provider(
        LLMProviderConfig("openai", {"api_key": "sk-unused", "max_tokens": 12})
    )
    assert isinstance(provider, OfflineProvider)
    assert provider.language_model is not None
    assert provider.generate(PROMPT) == OfflineProvider(
        {**offline(model_path=cached_dir), "max_tokens": 12}
    ).generate(PROMPT)


def test_devsynth_offline_selects_the_offline_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig
    from devsynth.application.llm.config import ProjectConfig

    monkeypatch.setenv("DEVSYNTH_OFFLINE", "1")
    provider = LLMBackendAdapter(project_config=ProjectConfig()).create_provider(
        LLMProviderConfig("anthropic", {"api_key": "unused"})
    )
    assert isinstance(provider, OfflineProvider)
    assert provider.model == DETERMINISTIC_MODEL
