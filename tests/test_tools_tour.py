"""examples/tools_tour.py runs against the three local servers and shows what it promises: a
tool round trip, a schema-checked reply and a reasoning model's usage on every provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import devsynth

ROOT = Path(__file__).resolve().parent.parent


def test_the_tools_tour_runs_on_every_provider() -> None:
    # The package as this test run imports it (the installed wheel in CI), and the checkout
    # for tests.support.
    package_root = Path(devsynth.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package_root), str(ROOT)])}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEVSYNTH_CONFIG", "DEVSYNTH_OFFLINE"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tools_tour.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    out = result.stdout
    for provider in ("OpenAI", "Anthropic", "LM Studio"):
        section = out[out.index(f"=== {provider} ===") :]
        assert "tool call: get_weather(" in section
        assert "answer (streamed): It is sunny, 21 C in Paris." in section
        assert "matches schema: True" in section
        assert "reasoning=192" in section
    assert "'max_completion_tokens': 4000, 'reasoning_effort': 'high'" in out
    assert '"type":"tool_result","tool_use_id":"call_1"' in out
    assert "temperature dropped: the reasoning model o3" in out
