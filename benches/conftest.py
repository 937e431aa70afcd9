"""Benchmarks import the test support package (corpus, tiktoken reference) from the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.reference import prepare_cache  # noqa: E402

os.environ.setdefault("TIKTOKEN_CACHE_DIR", prepare_cache())
