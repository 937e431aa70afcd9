"""Conventions that keep the package honest: the layers point one way (domain <- tokens <-
application <- adapters <- cli), one httpx module, the transport apart from the provider
framework, JSON via orjson.

Every import counts: at the top, inside functions (lazy ones), and under TYPE_CHECKING."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import devsynth

PACKAGE = Path(devsynth.__file__).parent

# Lowest first: a module may import its own layer and those before it, never one after it.
LAYERS = ("domain", "tokens", "application", "adapters", "cli")


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(PACKAGE)): path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
    }


def module_name(relative: str) -> str:
    parts = ["devsynth", *Path(relative).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or path.is_dir() or name == "devsynth._core"


def imports_of(relative: str, text: str) -> set[str]:
    """Every module of ours (``devsynth...``) and every third-party top-level name that
    ``relative`` imports, anywhere in it."""
    package = module_name(relative).split(".")
    if not relative.endswith("__init__.py"):
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if is_module(candidate) else base)
    return found


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, text) for name, text in sources().items()}


def layer_of(module: str) -> str | None:
    """The layer of a module of ours (``devsynth.tokens.core`` -> ``tokens``); None for the
    package root, ``devsynth.errors`` (the domain's errors re-exported) and the core."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    if module.startswith("devsynth.__main__"):
        return "cli"
    return None


def ours(imports: set[str]) -> set[str]:
    return {m for m in imports if m == "devsynth" or m.startswith("devsynth.")}


def test_the_domain_imports_nothing_of_ours() -> None:
    offenders = {
        name: sorted(m for m in ours(imported) if layer_of(m) != "domain")
        for name, imported in graph().items()
        if name.startswith("domain/")
    }
    assert {n: m for n, m in offenders.items() if m} == {}


def test_tokens_never_import_application_adapters_or_cli() -> None:
    offenders = {
        name: sorted(m for m in ours(imported) if layer_of(m) in ("application", "adapters", "cli"))
        for name, imported in graph().items()
        if name.startswith("tokens/")
    }
    assert {n: m for n, m in offenders.items() if m} == {}


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for name, imported in graph().items():
        here = layer_of(module_name(name))
        if here is None:
            continue
        for m in ours(imported):
            there = layer_of(m)
            if there is not None and LAYERS.index(there) > LAYERS.index(here):
                upward.append(f"{name} imports {m}")
    assert upward == []


def test_exactly_one_module_imports_httpx() -> None:
    importers = [
        name
        for name, text in sources().items()
        if re.search(r"^\s*(import httpx|from httpx\b)", text, re.M)
    ]
    assert importers == ["application/llm/http.py"]
    by_ast = sorted(name for name, imported in graph().items() if "httpx" in imported)
    assert by_ast == ["application/llm/http.py"]


def test_the_transport_does_not_import_the_provider_framework() -> None:
    llm = "devsynth.application.llm."
    framework = {
        m
        for m in map(module_name, sources())
        if m in (f"{llm}base", f"{llm}fallback", f"{llm}config") or m.endswith("_provider")
    }
    imported = graph()["application/llm/http.py"]
    assert sorted(imported & framework) == []
    assert not [m for m in ours(imported) if layer_of(m) in ("adapters", "cli")]


def test_provider_json_goes_through_orjson() -> None:
    llm = {n: t for n, t in sources().items() if n.startswith("application/llm/")}
    assert not [n for n, t in llm.items() if re.search(r"^\s*import json\b", t, re.M)]
