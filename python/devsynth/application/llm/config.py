"""The project configuration: ``devsynth.toml``, found from the working directory upwards.

::

    offline_mode = true              # every provider request becomes an Offline one

    [offline_provider]
    model_path = "models/tiny"       # relative paths are from the file's directory

    [llm]
    provider = "lmstudio"            # what provider_type "auto" picks first

    [llm.lmstudio]                   # default parameters of one provider type
    api_base = "http://localhost:1234/v1"

``DEVSYNTH_CONFIG`` names the file explicitly. ``DEVSYNTH_OFFLINE`` overrides ``offline_mode``
(``1``/``true``/``yes``/``on``, or ``0``/``false``/``no``/``off``); an empty or unreadable value
fails closed: offline mode stays on, with a warning, so a typo never lets requests out.
``DEVSYNTH_PROVIDER`` overrides ``llm.provider``. Secrets belong in the environment, not in
this file.

The file is read with the standard library's ``tomllib`` (3.11+) or ``tomli``, the same
parser, on 3.10. Whatever is wrong with it (not TOML, not UTF-8, nested too deeply) is a
ConfigurationError naming the file.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from devsynth.domain.errors import ConfigurationError

CONFIG_FILE = "devsynth.toml"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigurationWarning(UserWarning):
    """A setting that could not be read and was replaced by the safe choice."""


def env_flag(name: str, *, unreadable: bool) -> bool | None:
    """A yes/no environment variable; ``None`` when unset.

    An empty or unrecognised value gives ``unreadable`` (the safe choice for this flag), with
    a :class:`ConfigurationWarning`: a typo must never flip a safety switch the wrong way.
    """
    value = os.environ.get(name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    shown = (
        "empty"
        if not lowered
        else f"{value[:40]!r}, which is not 1/0, true/false, yes/no or on/off"
    )
    warnings.warn(
        f"{name} is {shown}; taking {str(unreadable).lower()}",
        ConfigurationWarning,
        stacklevel=3,
    )
    return unreadable


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed file (empty when there is none) and the environment's overrides."""

    data: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def offline_mode(self) -> bool:
        from_env = env_flag("DEVSYNTH_OFFLINE", unreadable=True)  # fail closed
        if from_env is not None:
            return from_env
        value = self.data.get("offline_mode", False)
        if not isinstance(value, bool):
            raise ConfigurationError(f"offline_mode must be true or false in {self.path}")
        return value

    def section(self, name: str) -> dict[str, Any]:
        """A top-level table (e.g. ``offline_provider``); relative ``*_path`` values are made
        absolute against the file's directory."""
        table = self.data.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"[{name}] must be a table in {self.path}")
        out = dict(table)
        if self.path is not None:
            for key, value in table.items():
                if key.endswith("_path") and isinstance(value, str) and value:
                    out[key] = str((self.path.parent / value).resolve())
        return out

    @property
    def provider(self) -> str | None:
        """The provider type ``auto`` should pick first, if configured."""
        from_env = os.environ.get("DEVSYNTH_PROVIDER")
        if from_env:
            return from_env.strip().lower()
        value = self.section("llm").get("provider")
        return str(value).lower() if value else None

    def provider_parameters(self, provider_type: str) -> dict[str, Any]:
        """Default parameters for one provider type, from ``[llm.<type>]``."""
        table = self.section("llm").get(provider_type, {})
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"[llm.{provider_type}] must be a table in {self.path}")
        return dict(table)


def find_config_file(start: Path | None = None) -> Path | None:
    """``DEVSYNTH_CONFIG``, else the nearest ``devsynth.toml`` from ``start`` upwards."""
    explicit = os.environ.get("DEVSYNTH_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"DEVSYNTH_CONFIG names {path}, which is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def _tomllib() -> ModuleType:
    # tomllib joined the standard library in 3.11; tomli is the same parser for 3.10.
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib


def load_project_config(path: str | os.PathLike[str] | None = None) -> ProjectConfig:
    """The project configuration from ``path``, or from :func:`find_config_file`."""
    found = Path(path) if path is not None else find_config_file()
    if found is None:
        return ProjectConfig()
    try:
        raw = found.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {found}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigurationError(
            f"{found} is not valid UTF-8 (line {line}, byte {exc.start}): TOML files are UTF-8"
        ) from None
    tomllib = _tomllib()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{found} is not valid TOML: {exc}") from None
    except RecursionError:  # deeply nested arrays or inline tables
        raise ConfigurationError(f"{found} is nested too deeply to read") from None
    return ProjectConfig(data, found)


def offline_mode_enabled(config: ProjectConfig | None = None) -> bool:
    """True when the project or ``DEVSYNTH_OFFLINE`` asks for offline mode."""
    return (config or load_project_config()).offline_mode


__all__ = [
    "CONFIG_FILE",
    "ConfigurationWarning",
    "ProjectConfig",
    "env_flag",
    "find_config_file",
    "load_project_config",
    "offline_mode_enabled",
]
