"""Chat messages to a prompt: the model's Jinja chat template when it has one, else a plain
role-tagged format."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devsynth.application.offline.chat_template import PLAIN_STOP, ChatTemplate, render_plain
from devsynth.application.offline.language_model import LocalLanguageModel
from devsynth.domain.errors import ModelLoadError

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": [{"type": "text", "text": "Tell me "}, {"text": "a joke"}]},
]

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TOKENIZER_CONFIG = {
    "chat_template": TEMPLATE,
    "bos_token": {"content": "<|endoftext|>", "special": True},
    "eos_token": "<|endoftext|>",
}


def test_the_plain_format_tags_each_role_and_cues_the_assistant() -> None:
    assert render_plain(MESSAGES) == (
        "System: You are terse.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Tell me a joke"
        "\n\nAssistant:"
    )


def test_a_model_without_a_template_uses_the_plain_format(
    cached_lm: LocalLanguageModel,
) -> None:
    assert cached_lm.chat_template is None
    prompt = cached_lm.chat_prompt(MESSAGES)
    assert prompt.ids == cached_lm.tokenizer.encode(render_plain(MESSAGES)).ids
    assert prompt.stop == PLAIN_STOP


def test_the_models_chat_template_renders_the_messages(
    make_decoder_dir: Callable[..., Path],
) -> None:
    pytest.importorskip("jinja2")
    lm = LocalLanguageModel.load(make_decoder_dir(tokenizer_config=TOKENIZER_CONFIG))
    assert lm.chat_template is not None
    rendered = lm.chat_template.render(MESSAGES[:2])
    assert rendered == (
        "<|endoftext|><|system|>\nYou are terse.<|endoftext|>\n"
        "<|user|>\nHi<|endoftext|>\n<|assistant|>\n"
    )
    prompt = lm.chat_prompt(MESSAGES[:2])
    # The template wrote the special tokens: encoding adds none of its own.
    assert prompt.ids == lm.tokenizer.encode(rendered, add_special_tokens=False).ids
    assert prompt.ids[0] == lm.tokenizer.token_to_id("<|endoftext|>")
    assert prompt.stop == ()


def test_named_templates_use_the_default_one() -> None:
    config = {
        "chat_template": [
            {"name": "tool_use", "template": "x"},
            {"name": "default", "template": "y"},
        ]
    }
    template = ChatTemplate.from_tokenizer_config(config, Path("tokenizer_config.json"))
    assert template is not None
    assert template.source == "y"


def test_a_broken_template_fails_at_load_time(make_decoder_dir: Callable[..., Path]) -> None:
    pytest.importorskip("jinja2")
    path = make_decoder_dir(tokenizer_config={"chat_template": "{% for m in messages %}"})
    with pytest.raises(ModelLoadError, match="invalid chat template"):
        LocalLanguageModel.load(path)


def test_a_template_that_raises_names_the_file(make_decoder_dir: Callable[..., Path]) -> None:
    pytest.importorskip("jinja2")
    config = {"chat_template": "{{ raise_exception('roles must alternate') }}"}
    lm = LocalLanguageModel.load(make_decoder_dir(tokenizer_config=config))
    with pytest.raises(ModelLoadError, match=r"tokenizer_config\.json.*roles must alternate"):
        lm.chat_prompt(MESSAGES)


def test_without_jinja2_a_template_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    template = ChatTemplate(TEMPLATE, TOKENIZER_CONFIG, Path("m/tokenizer_config.json"))
    template.precompile()  # nothing to compile with: no error until it is needed
    with pytest.raises(ModelLoadError, match=r"needs the jinja2 package \(pip install jinja2\)"):
        template.render(MESSAGES)
