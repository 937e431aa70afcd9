"""Fixtures for bulk counting: a directory tree of real text (prose, code, multilingual) with
the awkward cases beside it, and the command line run in-process or as a real process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import corpus
from tests.support.cli import Cli, Result, in_process_cli, run_process

__all__ = ["Cli", "Result", "Tree", "rel_paths", "run_process", "tiktoken_count", "whole_count"]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``devsynth ARGS`` in this process; ``stdin`` bytes are its standard input."""
    return in_process_cli(capsys, monkeypatch)


@dataclass
class Tree:
    root: Path
    texts: dict[str, bytes]  # relative path -> bytes, for the text files a default walk finds

    def path(self, rel: str) -> str:
        return str(self.root / rel)


@pytest.fixture(scope="session")
def real_texts() -> dict[str, str]:
    return {
        "prose": corpus.english_prose(60_000),
        "code": corpus.source_code(60_000),
        "multilingual": corpus.multilingual(60_000),
    }


@pytest.fixture
def tree(tmp_path: Path, real_texts: dict[str, str]) -> Tree:
    """docs/prose.md, src/code.py, src/deep/multi.txt, src/deep/crlf.txt, notes.txt (real text);
    beside them: a binary file, a file with bad UTF-8, a hidden file and directory."""
    root = tmp_path / "tree"
    texts = {
        "docs/prose.md": real_texts["prose"].encode(),
        "src/code.py": real_texts["code"].encode(),
        "src/deep/multi.txt": real_texts["multilingual"].encode(),
        "src/deep/crlf.txt": b"line one\r\nline two \r\n\r\n  indented\r\n",
        "notes.txt": b"It's 2024: we've counted tokens.\n",
    }
    extra = {
        "image.bin": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "latin1.txt": "café au lait, déjà vu\n".encode("latin-1"),
        ".hidden.txt": b"hidden words\n",
        ".git/config": b"[core]\n",
    }
    for rel, data in {**texts, **extra}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return Tree(root, texts)


def whole_count(data: bytes, encoding: str = "o200k_base") -> int:
    """The reference: the whole file decoded at once (bad bytes as U+FFFD), counted at once."""
    from devsynth.tokens import get_encoding

    return get_encoding(encoding).count_ordinary(data.decode("utf-8", "replace"))


def tiktoken_count(data: bytes, encoding: str = "o200k_base") -> int:
    from tests.support.reference import tiktoken_encoding

    return len(tiktoken_encoding(encoding).encode_ordinary(data.decode("utf-8", "replace")))


def rel_paths(root: Path, paths: list[str]) -> list[str]:
    return [os.path.relpath(p, root) for p in paths]
