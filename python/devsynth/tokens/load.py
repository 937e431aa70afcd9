"""OpenAI's rank files (`.tiktoken`: one ``<base64 token> <rank>`` per line), as files.

The encoder never reads them: build.rs compiles every byte of them into the core's tables.
A source checkout or an sdist has them under ``ranks/`` (build.rs's input); a wheel does not
carry them a second time. There, :func:`rank_file_path` writes a file back from the tables,
byte-identical to OpenAI's (its sha256 is checked before anything is written), into a cache
directory, once.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

from devsynth import _core

RANKS_DIR = Path(__file__).resolve().parent / "ranks"

# The file each built-in encoding's ordinary tokens come from (rust/builtin.rs holds the map).
RANK_FILE_OF_ENCODING: dict[str, str] = dict(_core.RANK_FILES)

# sha256 of each file as OpenAI publishes it (the hashes tiktoken pins).
RANK_FILE_SHA256: dict[str, str] = {
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Where regenerated files go when the cache directory cannot be written (set once per process).
_fallback_dir: Path | None = None


def rank_file_path(name: str) -> Path:
    """Path of a built-in rank file, by file name (``cl100k_base``) or encoding name.

    The shipped file when there is one (source checkout, sdist), else one written back from
    the compiled tables into :func:`rank_cache_dir` (a wheel), byte-identical to OpenAI's.
    """
    stem = _stem(name)
    shipped = RANKS_DIR / f"{stem}.tiktoken"
    if shipped.is_file():
        return shipped
    return _cached_rank_file(stem)


def rank_file_bytes(name: str) -> bytes:
    """A built-in rank file's bytes, written from the core's compiled tables."""
    from devsynth import _core

    stem = _stem(name)
    ranks = _core.CoreEncoding.builtin(stem).mergeable_ranks()
    by_rank = sorted(ranks.items(), key=lambda item: item[1])
    return b"".join(b"%s %d\n" % (base64.b64encode(token), rank) for token, rank in by_rank)


def rank_cache_dir() -> Path:
    """Where :func:`rank_file_path` writes rank files: ``$DEVSYNTH_CACHE_DIR/ranks``, else the
    platform's user cache (``~/.cache/devsynth/ranks``, honouring ``XDG_CACHE_HOME``;
    ``~/Library/Caches/devsynth/ranks``; ``%LOCALAPPDATA%\\devsynth\\Cache\\ranks``)."""
    if configured := os.environ.get("DEVSYNTH_CACHE_DIR"):
        return Path(configured) / "ranks"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "devsynth" / "Cache" / "ranks"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "devsynth" / "ranks"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "devsynth" / "ranks"


def _stem(name: str) -> str:
    stem = RANK_FILE_OF_ENCODING.get(name, name)
    if stem not in RANK_FILE_SHA256:
        known = ", ".join(RANK_FILE_SHA256)
        raise FileNotFoundError(f"no rank file named {name!r} (built in: {known})")
    return stem


def _cached_rank_file(stem: str) -> Path:
    global _fallback_dir
    for directory in (rank_cache_dir(), _fallback_dir):
        if directory is not None and _holds_verified(directory, stem):
            return directory / f"{stem}.tiktoken"
    data = rank_file_bytes(stem)
    if _sha256(data) != RANK_FILE_SHA256[stem]:
        # The tables are compiled from the verified files: only a damaged install gets here.
        raise RuntimeError(f"the compiled {stem} tables do not reproduce OpenAI's file")
    try:
        return _write_atomically(rank_cache_dir(), stem, data)
    except OSError:
        # An unwritable home (containers, sandboxes): a private directory for this process.
        if _fallback_dir is None:
            import tempfile

            _fallback_dir = Path(tempfile.mkdtemp(prefix="devsynth-ranks-"))
        return _write_atomically(_fallback_dir, stem, data)


def _holds_verified(directory: Path, stem: str) -> bool:
    """Whether `directory` has this rank file, intact (a damaged one is written again)."""
    try:
        data = (directory / f"{stem}.tiktoken").read_bytes()
    except OSError:
        return False
    return _sha256(data) == RANK_FILE_SHA256[stem]


def _write_atomically(directory: Path, stem: str, data: bytes) -> Path:
    """Writes under a temporary name, then renames: readers, other processes included, see
    the whole file or none."""
    import tempfile

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.tiktoken"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def load_tiktoken_bpe(path: str | Path) -> dict[bytes, int]:
    """Reads a `.tiktoken` file (one ``<base64 token> <rank>`` per line) into a dict."""
    ranks: dict[bytes, int] = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
