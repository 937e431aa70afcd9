"""Unmodified tiktoken 0.14 as the reference, fed this package's own rank files.

tiktoken looks for its downloads in TIKTOKEN_CACHE_DIR under sha1(url) names and checks each
file's sha256 before use: copying our shipped files there means tiktoken itself verifies that
they are byte-identical to OpenAI's, and nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any

from devsynth.tokens.load import RANK_FILE_SHA256, rank_file_path

BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def prepare_cache() -> str:
    """Fills a fresh tiktoken cache with the package's rank files; returns its path."""
    cache = tempfile.mkdtemp(prefix="devsynth-tiktoken-cache-")
    for stem in RANK_FILE_SHA256:
        key = hashlib.sha1(BLOB.format(stem).encode()).hexdigest()
        shutil.copyfile(rank_file_path(stem), os.path.join(cache, key))
    return cache


_cache: dict[str, Any] = {}


def tiktoken_encoding(name: str) -> Any:
    """tiktoken's encoding of this name, from the package's files."""
    if name in _cache:
        return _cache[name]
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = prepare_cache()
    import tiktoken
    from tiktoken_ext import openai_public

    if name == "gpt2":
        # tiktoken builds gpt2 from encoder.json and vocab.bpe, which OpenAI publishes apart;
        # their ranks are r50k_base's. Build it with tiktoken's own gpt2 definition on those.
        r50k = tiktoken.get_encoding("r50k_base")
        enc = tiktoken.Encoding(
            name="gpt2",
            pat_str=openai_public.r50k_pat_str,
            mergeable_ranks=r50k._mergeable_ranks,
            special_tokens={openai_public.ENDOFTEXT: 50256},
            explicit_n_vocab=50257,
        )
    else:
        enc = tiktoken.get_encoding(name)
    _cache[name] = enc
    return enc
