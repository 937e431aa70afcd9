"""Text without a model: the same prompt and settings give the same text in every process
and on every machine, reflect the prompt and honour max_tokens."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

from devsynth.application.offline.deterministic import chunks, encoding, generate_deterministic
from devsynth.application.offline.settings import GenerationSettings

PROMPT = "Summarise the design of the offline provider."
# Pinned: SHA-256 and the cl100k_base encoding are the same everywhere, so is this text.
EXPECTED = (
    'Offline response dc60a821 to "Summarise the design of the offline provider". Offline of '
    "summarise provider provider summarise provider offline. Design provider provider provider "
    "offline of provider. Offline the design the design summarise. Summarise the summarise of "
    "summarise provider provider offline. The the design the provider the design summarise. "
    "Design design design summarise the provider the."
)

SCRIPT = """
from devsynth.application.offline.deterministic import generate_deterministic
from devsynth.application.offline.settings import GenerationSettings
print(generate_deterministic({prompt!r}, GenerationSettings(temperature=0.7, seed=5)).text)
"""


def test_the_text_is_pinned() -> None:
    result = generate_deterministic(PROMPT, GenerationSettings())
    assert result.text == EXPECTED
    assert result.finish_reason == "stop"
    assert result.completion_tokens == encoding().count_ordinary(EXPECTED)
    assert result.prompt_tokens == encoding().count_ordinary(PROMPT)


def test_every_process_gives_the_same_text() -> None:
    expected = generate_deterministic(PROMPT, GenerationSettings(temperature=0.7, seed=5)).text
    for hash_seed in ("0", "1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(prompt=PROMPT)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.rstrip("\n") == expected


def test_pythons_hash_is_never_used() -> None:
    def no_hash(value: object) -> int:
        raise AssertionError("hash() used")

    settings = GenerationSettings(seed=3)
    expected = generate_deterministic(PROMPT, settings).text
    real_hash = builtins.hash
    builtins.hash = no_hash  # restored before pytest's own hooks need it
    try:
        text = generate_deterministic(PROMPT, settings).text
    finally:
        builtins.hash = real_hash
    assert text == expected


def test_the_text_reflects_the_prompt() -> None:
    text = generate_deterministic("Refactor the parser module", GenerationSettings()).text
    assert '"Refactor the parser module"' in text
    body = text.split('". ', 1)[1].lower().replace(".", "").split()
    assert set(body) <= {"refactor", "the", "parser", "module"}
    other = generate_deterministic("Write release notes", GenerationSettings()).text
    assert other != text


def test_settings_change_the_text_but_max_tokens_only_cuts_it() -> None:
    base = generate_deterministic(PROMPT, GenerationSettings()).text
    for changed in ({"temperature": 0.5}, {"seed": 1}, {"top_p": 0.9}, {"top_k": 5}):
        assert generate_deterministic(PROMPT, GenerationSettings().updated(changed)).text != base
    for max_tokens in range(1, 90, 7):
        result = generate_deterministic(PROMPT, GenerationSettings(max_tokens=max_tokens))
        assert base.startswith(result.text)
        assert encoding().count_ordinary(result.text) <= max_tokens
        assert result.completion_tokens <= max_tokens
        assert result.finish_reason == ("length" if result.text != base else "stop")


def test_non_ascii_prompts_are_cut_on_whole_characters() -> None:
    for max_tokens in range(1, 30):
        result = generate_deterministic(
            "日本語 🙂 émigré", GenerationSettings(max_tokens=max_tokens)
        )
        assert "\ufffd" not in result.text
        assert result.completion_tokens <= max_tokens


def test_stop_strings_cut_the_text() -> None:
    result = generate_deterministic(PROMPT, GenerationSettings(stop=("design",)))
    assert result.text == 'Offline response dc60a821 to "Summarise the '
    assert result.finish_reason == "stop"


def test_an_empty_prompt_still_gives_text() -> None:
    assert generate_deterministic("", GenerationSettings()).text.startswith("Offline response")


def test_chunks_join_back_to_the_text() -> None:
    parts = list(chunks(EXPECTED))
    assert "".join(parts) == EXPECTED
    assert len(parts) > 10
    assert "".join(chunks("  two  spaces ")) == "  two  spaces "
