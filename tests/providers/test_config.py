"""The project configuration (devsynth.toml), read alike on every supported Python."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devsynth.application.llm.config import (
    ConfigurationWarning,
    find_config_file,
    load_project_config,
    offline_mode_enabled,
)
from devsynth.errors import ConfigurationError

SAMPLE = """\
# DevSynth project settings
offline_mode = true   # no remote calls

[offline_provider]
model_path = "models/tiny"
embedding_model_path = 'C:\\raw\\path'
execution_providers = [
    "CPUExecutionProvider",  # comments and a trailing comma inside a multi-line array
]

[llm]
provider = "lmstudio"
fallback = ["openai", "offline", ]

[llm.lmstudio]
api_base = "http://localhost:1234/v1"
max_tokens = 1_024
temperature = 0.0
ratio = -1.5e3
mask = 0xff
"quoted key" = "tab\\there \\u00e9 \\U0001F600"
nested.key = false
timeout = { connect = 5, read = 60.5 }
headers = { "x-team" = "tokens", retries = [1, 2, 3] }
system_prompt = \"\"\"
You are terse.
  Keep "quotes" and \\
  join continued lines.\"\"\"
literal_block = '''
C:\\no\\escapes here'''
released = 2024-05-01T12:30:00Z
day = 2024-05-01

[[llm.servers]]
name = "a"

[[llm.servers]]
name = "b"
"""

LMSTUDIO = {
    "api_base": "http://localhost:1234/v1",
    "max_tokens": 1024,
    "temperature": 0.0,
    "ratio": -1500.0,
    "mask": 255,
    "quoted key": "tab\there \u00e9 \U0001f600",
    "nested": {"key": False},
    "timeout": {"connect": 5, "read": 60.5},
    "headers": {"x-team": "tokens", "retries": [1, 2, 3]},
    "system_prompt": 'You are terse.\n  Keep "quotes" and join continued lines.',
    "literal_block": "C:\\no\\escapes here",
}


def test_a_feature_rich_file_loads(tmp_path: Path) -> None:
    (tmp_path / "devsynth.toml").write_text(SAMPLE, encoding="utf-8")
    config = load_project_config()
    assert config.offline_mode is True
    assert config.provider == "lmstudio"
    parameters = config.provider_parameters("lmstudio")
    assert {k: parameters[k] for k in LMSTUDIO} == LMSTUDIO
    assert str(parameters["released"]) == "2024-05-01 12:30:00+00:00"
    assert str(parameters["day"]) == "2024-05-01"
    assert config.section("llm")["servers"] == [{"name": "a"}, {"name": "b"}]
    assert config.section("llm")["fallback"] == ["openai", "offline"]
    assert config.section("offline_provider")["execution_providers"] == ["CPUExecutionProvider"]


# What each interpreter prints for the sample: the parsed file and what the accessors make of
# it, as JSON (dates as text).
_DUMP = """\
import json, sys
from devsynth.application.llm.config import load_project_config
config = load_project_config(sys.argv[1])
print(json.dumps({
    "data": config.data,
    "offline_mode": config.offline_mode,
    "provider": config.provider,
    "lmstudio": config.provider_parameters("lmstudio"),
    "offline_provider": config.section("offline_provider"),
    "version": list(sys.version_info[:2]),
}, default=str, sort_keys=True))
"""
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


def _interpreter(version: str) -> str | None:
    """An interpreter of ``version``: pyenv's, else one on PATH; ``None`` when none runs."""
    root = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser()
    candidates = [str(p) for p in sorted(root.glob(f"versions/{version}.*/bin/python{version}"))]
    on_path = shutil.which(f"python{version}")
    candidates += [on_path] if on_path else []
    for candidate in candidates:
        check = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if check.returncode == 0 and check.stdout.strip() == version:
            return candidate
    return None


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's Python sources (no extension: the config needs none) and tomli's pure
    Python source, for interpreters that are not this one."""
    import devsynth

    root = tmp_path_factory.mktemp("sources")
    shutil.copytree(
        Path(devsynth.__file__).parent,
        root / "devsynth",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "*.tiktoken", "*.onnx"),
    )
    spec = importlib.util.find_spec("tomli")
    if spec is not None and spec.submodule_search_locations:
        (root / "vendor" / "tomli").mkdir(parents=True)
        for source in Path(next(iter(spec.submodule_search_locations))).glob("*.py"):
            shutil.copy(source, root / "vendor" / "tomli" / source.name)
    return root


def _dump(python: str, sources: Path, config: Path) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{sources}:{sources / 'vendor'}"}
    result = subprocess.run(
        [python, "-s", "-c", _DUMP, str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    dumped: dict[str, Any] = json.loads(result.stdout)
    return dumped


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_same_file_loads_alike_on_every_supported_python(
    version: str, sources: Path, tmp_path: Path
) -> None:
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    if version == "3.10" and not (sources / "vendor" / "tomli").is_dir():
        pytest.skip("tomli (a test dependency) is not installed")
    config = tmp_path / "devsynth.toml"
    config.write_text(SAMPLE, encoding="utf-8")
    here = _dump(sys.executable, sources, config)
    there = _dump(python, sources, config)
    assert there.pop("version") == [int(n) for n in version.split(".")]
    here.pop("version")
    assert there == here
    assert {k: there["lmstudio"][k] for k in LMSTUDIO} == LMSTUDIO


def test_invalid_toml_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "devsynth.toml").write_text("a = ")
    with pytest.raises(ConfigurationError, match=r"devsynth\.toml is not valid TOML"):
        load_project_config()


def test_invalid_utf8_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "devsynth.toml").write_bytes(b'offline_mode = true\nname = "caf\xe9"\n')
    with pytest.raises(
        ConfigurationError, match=r"devsynth\.toml is not valid UTF-8 \(line 2, byte 31\)"
    ):
        load_project_config()


@pytest.mark.parametrize("opening", ["[", "{a="], ids=["arrays", "inline-tables"])
def test_deep_nesting_is_a_configuration_error_naming_the_file(
    opening: str, tmp_path: Path
) -> None:
    closing = {"[": "]", "{a=": "}"}[opening]
    depth = 100_000
    (tmp_path / "devsynth.toml").write_text(f"x = {opening * depth}1{closing * depth}\n")
    with pytest.raises(ConfigurationError, match=r"devsynth\.toml"):
        load_project_config()


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


@pytest.mark.parametrize("value", ["", "   ", "maybe", "flase", "2"])
@pytest.mark.parametrize("in_file", [True, False])
def test_an_empty_or_unreadable_devsynth_offline_fails_closed(
    value: str, in_file: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devsynth.toml").write_text(f"offline_mode = {str(in_file).lower()}\n")
    monkeypatch.setenv("DEVSYNTH_OFFLINE", value)
    with pytest.warns(ConfigurationWarning, match="DEVSYNTH_OFFLINE is .*taking true"):
        assert offline_mode_enabled() is True


def test_bad_values_in_the_file_are_reported(tmp_path: Path) -> None:
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
