"""Imports stay cheap: providers, httpx and the Rust core load on first use."""

from __future__ import annotations

import subprocess
import sys

# Modules that must not load on `import devsynth.adapters.llm.llm_adapter`.
HEAVY = (
    "httpx",
    "asyncio",
    "devsynth._core",
    "devsynth.application.llm.http",
    "devsynth.application.llm.openai_provider",
    "devsynth.application.llm.anthropic_provider",
    "devsynth.application.llm.lmstudio_provider",
    "devsynth.application.llm.offline_provider",
)


def import_times(module: str) -> dict[str, int]:
    """``-X importtime``'s cumulative microseconds per module, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        times[name.strip()] = int(cumulative)
    return times


def test_adapter_import_loads_no_provider_and_no_httpx() -> None:
    loaded = import_times("devsynth.adapters.llm.llm_adapter")
    assert "devsynth.adapters.llm.llm_adapter" in loaded
    assert not [name for name in HEAVY if name in loaded]


# Best of several fresh interpreters: CI runs other jobs beside the suite, and one quiet run is
# enough to show the import is cheap.
RUNS = 7


def test_import_devsynth_is_under_100_ms() -> None:
    best = min(import_times("devsynth")["devsynth"] for _ in range(RUNS))
    assert best < 100_000, f"import devsynth took {best / 1000:.1f} ms"


def test_adapter_import_is_under_100_ms() -> None:
    best = min(
        import_times("devsynth.adapters.llm.llm_adapter")["devsynth.adapters.llm.llm_adapter"]
        for _ in range(RUNS)
    )
    assert best < 100_000, f"import took {best / 1000:.1f} ms"


def test_creating_a_provider_loads_its_module() -> None:
    code = (
        "import sys\n"
        "from devsynth.adapters.llm.llm_adapter import LLMBackendAdapter, LLMProviderConfig\n"
        "LLMBackendAdapter().create_provider(LLMProviderConfig('lmstudio', {}))\n"
        "assert 'devsynth.application.llm.lmstudio_provider' in sys.modules\n"
        "assert 'devsynth.application.llm.anthropic_provider' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
