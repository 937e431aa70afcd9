"""The optional ``offline`` extra (onnxruntime, tokenizers, numpy), imported only on demand.

Without the extra, the deterministic fallbacks still work; asking for a model raises a
:class:`ModelLoadError` that says what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from devsynth.domain.errors import ModelLoadError

INSTALL_HINT = 'pip install "devsynth-llm[offline]"'


def require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` from the offline extra, or explain how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(
            f"{purpose} needs the {module!r} package, which is not installed; "
            f"install the offline extra: {INSTALL_HINT}"
        ) from exc


def require_all(*, purpose: str) -> None:
    """Fail early, before any file is read, when part of the extra is missing."""
    for module in ("numpy", "onnxruntime", "tokenizers"):
        require(module, purpose=purpose)
