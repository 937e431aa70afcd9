"""Conventions that keep the provider layer honest: one httpx module, JSON via orjson."""

from __future__ import annotations

import re
from pathlib import Path

import devsynth

PACKAGE = Path(devsynth.__file__).parent


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(PACKAGE)): path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
    }


def test_exactly_one_module_imports_httpx() -> None:
    importers = [
        name
        for name, text in sources().items()
        if re.search(r"^\s*(import httpx|from httpx\b)", text, re.M)
    ]
    assert importers == ["application/llm/http.py"]


def test_provider_json_goes_through_orjson() -> None:
    llm = {n: t for n, t in sources().items() if n.startswith("application/llm/")}
    assert not [n for n, t in llm.items() if re.search(r"^\s*import json\b", t, re.M)]
