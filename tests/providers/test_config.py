"""The project configuration (devsynth.toml) and its TOML reader, on every Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from devsynth.application.llm.config import (
    find_config_file,
    load_project_config,
    offline_mode_enabled,
)
from devsynth.application.llm.toml_compat import loads, loads_subset
from devsynth.errors import ConfigurationError

SAMPLE = """\
# DevSynth project settings
offline_mode = true   # no remote calls

[offline_provider]
model_path = "models/tiny"
embedding_model_path = 'C:\\raw\\path'

[llm]
provider = "lmstudio"
fallback = ["openai", "offline", ]

[llm.lmstudio]
api_base = "http://localhost:1234/v1"
max_tokens = 1_024
temperature = 0.0
ratio = -1.5e3
"quoted key" = "tab\\there \\u00e9"
nested.key = false
"""


EXPECTED = {
    "offline_mode": True,
    "offline_provider": {"model_path": "models/tiny", "embedding_model_path": "C:\\raw\\path"},
    "llm": {
        "provider": "lmstudio",
        "fallback": ["openai", "offline"],
        "lmstudio": {
            "api_base": "http://localhost:1234/v1",
            "max_tokens": 1024,
            "temperature": 0.0,
            "ratio": -1500.0,
            "quoted key": "tab\there \u00e9",
            "nested": {"key": False},
        },
    },
}


def test_subset_parser_reads_the_sample() -> None:
    assert loads_subset(SAMPLE) == EXPECTED
    assert loads(SAMPLE) == EXPECTED


def test_subset_parser_agrees_with_tomllib() -> None:
    tomllib = pytest.importorskip("tomllib")
    assert tomllib.loads(SAMPLE) == EXPECTED


@pytest.mark.parametrize(
    "text",
    [
        "a = {b = 1}",  # inline table
        'a = """x"""',  # multi-line string
        "[[servers]]",  # array of tables
        "a = 1\na = 2",  # duplicate key
        'a = "unterminated',
        "a = [1,\n2]",  # multi-line array
        "= 1",
        "a = 1 b",
    ],
)
def test_subset_parser_refuses_what_it_does_not_read(text: str) -> None:
    with pytest.raises(ConfigurationError, match="line"):
        loads_subset(text)


def test_invalid_toml_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        loads("a = ")


def test_file_is_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "devsynth.toml").write_text(SAMPLE)
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_config_file() == tmp_path / "devsynth.toml"
    config = load_project_config()
    assert config.offline_mode is True
    assert config.provider == "lmstudio"
    assert config.provider_parameters("lmstudio")["max_tokens"] == 1024
    # relative paths are from the file's folder, not the working directory
    assert config.section("offline_provider")["model_path"] == str(tmp_path / "models" / "tiny")


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_project_config()
    assert config.path is None
    assert config.offline_mode is False
    assert config.provider is None
    assert offline_mode_enabled() is False


def test_devsynth_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text("offline_mode = true\n")
    monkeypatch.setenv("DEVSYNTH_CONFIG", str(other))
    assert load_project_config().path == other
    assert offline_mode_enabled()
    monkeypatch.setenv("DEVSYNTH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        load_project_config()


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("on", True), ("0", False), ("no", False)]
)
def test_devsynth_offline_overrides_the_file(
    value: str, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devsynth.toml").write_text(f"offline_mode = {str(not expected).lower()}\n")
    monkeypatch.setenv("DEVSYNTH_OFFLINE", value)
    assert offline_mode_enabled() is expected


def test_bad_values_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSYNTH_OFFLINE", "maybe")
    with pytest.raises(ConfigurationError, match="DEVSYNTH_OFFLINE"):
        offline_mode_enabled()
    monkeypatch.delenv("DEVSYNTH_OFFLINE")
    (tmp_path / "devsynth.toml").write_text('offline_mode = "yes"\n')
    with pytest.raises(ConfigurationError, match="offline_mode"):
        offline_mode_enabled()
    (tmp_path / "devsynth.toml").write_text("offline_mode = \n")
    with pytest.raises(ConfigurationError, match=r"devsynth\.toml"):
        load_project_config()


def test_devsynth_provider_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devsynth.toml").write_text('[llm]\nprovider = "openai"\n')
    monkeypatch.setenv("DEVSYNTH_PROVIDER", "Anthropic")
    assert load_project_config().provider == "anthropic"
