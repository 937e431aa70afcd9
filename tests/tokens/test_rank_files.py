"""Rank files written back from the compiled tables, as a wheel (which does not carry the
files) gives them: byte-identical to OpenAI's, cached once, repaired when damaged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from devsynth.tokens import load
from devsynth.tokens.load import (
    RANK_FILE_SHA256,
    rank_cache_dir,
    rank_file_bytes,
    rank_file_path,
)


@pytest.fixture
def without_shipped_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As in an installed wheel: no ranks/ directory; a fresh cache. Returns the cache."""
    monkeypatch.setattr(load, "RANKS_DIR", tmp_path / "no-ranks-here")
    monkeypatch.setattr(load, "_fallback_dir", None)
    monkeypatch.setenv("DEVSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ranks"


@pytest.mark.parametrize("stem", sorted(RANK_FILE_SHA256))
def test_files_written_from_the_tables_are_byte_identical_to_openais(stem: str) -> None:
    data = rank_file_bytes(stem)
    assert hashlib.sha256(data).hexdigest() == RANK_FILE_SHA256[stem]


def test_without_shipped_files_each_file_is_written_once_into_the_cache(
    without_shipped_files: Path,
) -> None:
    for stem, sha in RANK_FILE_SHA256.items():
        path = rank_file_path(stem)
        assert path == without_shipped_files / f"{stem}.tiktoken"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    # An encoding name finds its file; a second call reuses it rather than writing again.
    path = rank_file_path("o200k_harmony")
    assert path.name == "o200k_base.tiktoken"
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    assert rank_file_path("o200k_base") == path
    assert path.stat().st_mtime_ns == before - 10**9
    assert sorted(p.name for p in without_shipped_files.iterdir()) == sorted(
        f"{stem}.tiktoken" for stem in RANK_FILE_SHA256
    )


def test_a_damaged_cached_file_is_written_again(without_shipped_files: Path) -> None:
    without_shipped_files.mkdir(parents=True)
    damaged = without_shipped_files / "r50k_base.tiktoken"
    damaged.write_bytes(b"not a rank file\n")
    path = rank_file_path("gpt2")
    assert path == damaged
    assert hashlib.sha256(path.read_bytes()).hexdigest() == RANK_FILE_SHA256["r50k_base"]


def test_an_unwritable_cache_falls_back_to_a_private_directory(
    without_shipped_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache directory cannot be made under a file")
    monkeypatch.setenv("DEVSYNTH_CACHE_DIR", str(blocker))
    path = rank_file_path("p50k_base")
    assert blocker not in path.parents
    assert hashlib.sha256(path.read_bytes()).hexdigest() == RANK_FILE_SHA256["p50k_base"]
    assert rank_file_path("p50k_edit") == path


def test_the_cache_directory_follows_the_platform_conventions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEVSYNTH_CACHE_DIR", str(tmp_path / "mine"))
    assert rank_cache_dir() == tmp_path / "mine" / "ranks"
    monkeypatch.delenv("DEVSYNTH_CACHE_DIR")
    monkeypatch.setattr(load.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rank_cache_dir() == tmp_path / "xdg" / "devsynth" / "ranks"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert rank_cache_dir() == tmp_path / "home" / ".cache" / "devsynth" / "ranks"
    monkeypatch.setattr(load.sys, "platform", "darwin")
    assert rank_cache_dir() == tmp_path / "home" / "Library" / "Caches" / "devsynth" / "ranks"
    monkeypatch.setattr(load.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert rank_cache_dir() == tmp_path / "local" / "devsynth" / "Cache" / "ranks"


def test_an_unknown_rank_file_is_not_found() -> None:
    with pytest.raises(FileNotFoundError, match="no rank file named 'gpt5_base'"):
        rank_file_path("gpt5_base")
    with pytest.raises(FileNotFoundError, match="gpt5_base"):
        rank_file_bytes("gpt5_base")
