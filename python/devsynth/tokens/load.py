"""The rank files shipped inside the package, in OpenAI's published `.tiktoken` format."""

from __future__ import annotations

import base64
from pathlib import Path

RANKS_DIR = Path(__file__).resolve().parent / "ranks"

# The file each built-in encoding's ordinary tokens come from.
RANK_FILE_OF_ENCODING: dict[str, str] = {
    "gpt2": "r50k_base",
    "r50k_base": "r50k_base",
    "p50k_base": "p50k_base",
    "p50k_edit": "p50k_base",
    "cl100k_base": "cl100k_base",
    "o200k_base": "o200k_base",
    "o200k_harmony": "o200k_base",
}

# sha256 of each file as OpenAI publishes it (the hashes tiktoken pins).
RANK_FILE_SHA256: dict[str, str] = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


def rank_file_path(name: str) -> Path:
    """Path of a shipped rank file, by file name (``cl100k_base``) or encoding name."""
    stem = RANK_FILE_OF_ENCODING.get(name, name)
    path = RANKS_DIR / f"{stem}.tiktoken"
    if stem not in RANK_FILE_SHA256 or not path.is_file():
        raise FileNotFoundError(f"no rank file named {name!r} in {RANKS_DIR}")
    return path


def load_tiktoken_bpe(path: str | Path) -> dict[bytes, int]:
    """Reads a `.tiktoken` file (one ``<base64 token> <rank>`` per line) into a dict."""
    ranks: dict[bytes, int] = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
