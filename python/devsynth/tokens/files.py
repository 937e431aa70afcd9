"""Counting the tokens of files, directory trees and streams, read and counted on Rust threads
in bounded memory (files of any size are counted in chunks cut where the count cannot change).

::

    from devsynth.tokens.files import count_files

    report = count_files(["docs/", "README.md"], "o200k_base", include=["*.md"])
    report.total_tokens
    for c in report.counts: print(c.path, c.tokens, c.bytes)
    for i in report.issues: print(i.path, i.kind, i.message)   # binary, unreadable, ...

Directories are walked recursively in name order; hidden entries (``.git``...) are left out
unless ``hidden=True``; ``include``/``exclude`` globs filter what the walk finds (a glob without
``/`` matches names, one with ``/`` the path relative to the directory given). Paths given
explicitly are always counted. Binary files (a NUL byte in the first 8 KiB) are skipped; bytes
that are not UTF-8 count as U+FFFD (``undecodable="replace"``) or skip the file (``"skip"``).
Text is counted as ordinary text: a special token spelled in a file is just text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from devsynth import _core
from devsynth.tokens.core import Encoding
from devsynth.tokens.registry import get_encoding

Undecodable = Literal["replace", "skip"]
IssueKind = Literal["binary", "undecodable", "special", "unreadable", "failed", "invalid"]

#: Kinds of issue that are failures (the rest are files skipped on purpose).
FAILURES: frozenset[str] = frozenset({"unreadable", "failed", "invalid"})

#: ``progress(files_done, bytes_read)``.
ProgressCallback = Callable[[int, int], object]

STREAM_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class FileCount:
    """Tokens and bytes of one file (or stream)."""

    path: str
    tokens: int
    bytes: int


@dataclass(frozen=True)
class FileIssue:
    """A path not counted (or a record of it): why, and where."""

    path: str
    kind: IssueKind
    message: str
    line: int | None = None

    @property
    def is_failure(self) -> bool:
        """True for errors (unreadable, failed, invalid); False for files skipped on purpose
        (binary, undecodable with ``undecodable="skip"``, special files met while walking)."""
        return self.kind in FAILURES

    def describe(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class CountReport:
    """What a bulk count found: the files counted, in order, and the issues met."""

    encoding: str
    counts: list[FileCount] = field(default_factory=list)
    issues: list[FileIssue] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return sum(c.tokens for c in self.counts)

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.counts)

    @property
    def failed(self) -> bool:
        return any(i.is_failure for i in self.issues)


@dataclass(frozen=True)
class FileText:
    """The whole text of one file (or stream), read into memory."""

    path: str
    text: str
    bytes: int


#: Files whose first bytes hold a NUL byte are binary (as the Rust walker decides).
SNIFF_BYTES = 8192


def binary_issue(path: str) -> FileIssue:
    return FileIssue(path, "binary", "binary file (a NUL byte in its first bytes)")


def undecodable_issue(path: str, offset: int) -> FileIssue:
    return FileIssue(path, "undecodable", f"not UTF-8 (first bad byte at offset {offset})")


def read_text(
    path: str, *, stream: BinaryIO | None = None, undecodable: Undecodable = "replace"
) -> FileText | FileIssue:
    """The whole text of the file ``path`` (or of ``stream``, named ``path``), with the rules of
    counting: binary files and unreadable paths give an issue; bytes that are not UTF-8 become
    U+FFFD, or give an ``undecodable`` issue with ``undecodable="skip"``. For inputs that are
    shown or encoded whole, not for files of any size (those are counted in chunks)."""
    try:
        if stream is None:
            with open(path, "rb") as f:
                data = f.read()
        else:
            data = stream.read()
    except OSError as e:
        return FileIssue(path, "unreadable", e.strerror or str(e))
    if b"\0" in data[:SNIFF_BYTES]:
        return binary_issue(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if undecodable == "skip":
            return undecodable_issue(path, e.start)
        text = data.decode("utf-8", "replace")
    return FileText(path, text, len(data))


def resolve_encoding(encoding: str | Encoding) -> Encoding:
    """An Encoding from itself or its name."""
    return get_encoding(encoding) if isinstance(encoding, str) else encoding


def find_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    hidden: bool = False,
) -> tuple[list[tuple[str, int]], list[FileIssue]]:
    """The files under ``paths`` as (path, size), and the issues met: paths that could not be
    walked, and pipes, sockets and devices found in directories (skipped: reading a pipe waits
    for a writer; name one explicitly to read it). Raises ValueError for an invalid glob."""
    found, problems, special = _core.walk_paths(
        [os.fspath(p) for p in paths], list(include), list(exclude), hidden
    )
    issues = [FileIssue(p, "unreadable", m) for p, m in problems]
    issues += [FileIssue(p, "special", m) for p, m in special]
    return found, issues


def _issue(path: str, status: str, message: str) -> FileIssue:
    kind: IssueKind = status if status in ("binary", "undecodable", "failed") else "unreadable"  # type: ignore[assignment]
    return FileIssue(path, kind, message)


def count_found(
    files: Sequence[tuple[str, int]],
    encoding: str | Encoding = "o200k_base",
    *,
    undecodable: Undecodable = "replace",
    num_threads: int | None = None,
    progress: ProgressCallback | None = None,
    chunk_bytes: int | None = None,
) -> list[FileCount | FileIssue]:
    """Counts files already found (``find_files``), in parallel; one result per file, in order."""
    enc = resolve_encoding(encoding)
    rows = enc._count_files(
        [p for p, _ in files],
        [s for _, s in files],
        undecodable=undecodable,
        chunk_bytes=chunk_bytes or _core.DEFAULT_CHUNK_BYTES,
        num_threads=num_threads,
        progress=progress,
    )
    return [
        FileCount(path, tokens, nbytes) if status == "ok" else _issue(path, status, message)
        for (path, _), (status, tokens, nbytes, message) in zip(files, rows, strict=True)
    ]


def count_files(
    paths: Iterable[str | os.PathLike[str]],
    encoding: str | Encoding = "o200k_base",
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    hidden: bool = False,
    undecodable: Undecodable = "replace",
    num_threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> CountReport:
    """Counts the files under ``paths`` (see the module docstring) on Rust threads."""
    enc = resolve_encoding(encoding)
    found, issues = find_files(paths, include=include, exclude=exclude, hidden=hidden)
    report = CountReport(enc.name, issues=issues)
    for r in count_found(
        found, enc, undecodable=undecodable, num_threads=num_threads, progress=progress
    ):
        if isinstance(r, FileCount):
            report.counts.append(r)
        else:
            report.issues.append(r)
    return report


def count_stream(
    stream: BinaryIO,
    encoding: str | Encoding = "o200k_base",
    *,
    name: str = "-",
    undecodable: Undecodable = "replace",
    progress: ProgressCallback | None = None,
    chunk_bytes: int | None = None,
) -> FileCount | FileIssue:
    """Counts a binary stream (``sys.stdin.buffer``, a socket file...) in bounded memory, as
    ``count_files`` counts a file. ``progress(0, bytes_read)`` is called after each read."""
    enc = resolve_encoding(encoding)
    counter = enc._stream_counter(
        undecodable=undecodable,
        chunk_bytes=chunk_bytes or _core.DEFAULT_CHUNK_BYTES,
    )
    try:
        while data := stream.read(STREAM_READ_BYTES):
            if not counter.feed(data):
                break
            if progress is not None:
                progress(0, counter.bytes_fed)
    except OSError as e:
        return FileIssue(name, "unreadable", e.strerror or str(e))
    status, tokens, nbytes, message = counter.finish()
    if status == "ok":
        return FileCount(name, tokens, nbytes)
    return _issue(name, status, message)
