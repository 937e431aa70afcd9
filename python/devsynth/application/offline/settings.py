"""Generation settings, checked once: a bad value is a ConfigurationError before any work."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from devsynth.domain.errors import ConfigurationError

DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class GenerationSettings:
    """How to pick tokens and when to stop.

    ``temperature`` 0 means greedy; above 0, sampling restricted by ``top_k`` (0: no limit)
    and ``top_p`` (1: no limit), reproducible when ``seed`` is set.
    """

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
            raise ConfigurationError(f"max_tokens must be an integer, got {self.max_tokens!r}")
        if self.max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not _is_number(self.temperature) or self.temperature < 0:
            raise ConfigurationError(f"temperature must be >= 0, got {self.temperature!r}")
        if not _is_number(self.top_p) or not 0 < self.top_p <= 1:
            raise ConfigurationError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ConfigurationError(f"top_k must be an integer >= 0, got {self.top_k!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise ConfigurationError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ConfigurationError(f"stop must hold non-empty strings, got {self.stop!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def updated(self, parameters: Mapping[str, Any]) -> GenerationSettings:
        """These settings with the ones ``parameters`` names (None leaves a setting as is)."""
        changes: dict[str, Any] = {}
        for name in ("max_tokens", "temperature", "top_p", "top_k", "seed"):
            value = parameters.get(name)
            if value is not None:
                changes[name] = value
        stop = parameters.get("stop")
        if stop is not None:
            changes["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        return replace(self, **changes)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
