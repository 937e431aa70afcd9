"""Shared test set-up: tiktoken is pointed at the package's own rank files before any test
imports it, so nothing can ever be downloaded."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

from tests.support.reference import prepare_cache

# Against a wheel, rank files are written back from the tables: into a cache of this run's
# own, not the user's.
os.environ.setdefault("DEVSYNTH_CACHE_DIR", tempfile.mkdtemp(prefix="devsynth-test-cache-"))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", prepare_cache())

# `HYPOTHESIS_PROFILE=thorough` for a long parity run; CI uses the default.
settings.register_profile(
    "default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
