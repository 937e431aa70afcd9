"""Writing results: an aligned table for people, one JSON document or JSON Lines for machines;
notes and errors on stderr, in every format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

import orjson

from devsynth.tokens.files import FileCount, FileIssue
from devsynth.tokens.jsonl import RecordCount


@dataclass
class FileTotal:
    """One input's line in the table or the JSON document."""

    path: str
    tokens: int
    bytes: int
    records: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "tokens": self.tokens, "bytes": self.bytes}
        if self.records is not None:
            d["records"] = self.records
        return d


def display(path: str) -> str:
    """A path as text that can always be written and tells file names apart: bytes of a name
    that are not UTF-8 (they come back from the OS as surrogate escapes) show as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def note(err: TextIO, issue: FileIssue) -> None:
    """One line on stderr for an issue."""
    path = display(issue.path)
    if issue.kind in ("binary", "undecodable", "special") and issue.line is None:
        text = f"skipped {path}: {issue.message}"
    elif issue.kind == "unreadable":
        text = f"cannot read {path}: {issue.message}"
    elif issue.line is not None:
        text = f"{path}:{issue.line}: {issue.message}"
    else:
        text = f"{path}: {issue.message}"
    err.write(f"devsynth: {text}\n")
    err.flush()


class Renderer:
    """Collects results and writes them in one format."""

    def __init__(self, fmt: str, out: TextIO, encoding: str, *, records: bool) -> None:
        self.fmt = fmt
        self.out = out
        self.encoding = encoding
        self.records = records
        self.files: list[FileTotal] = []
        self.issues: list[FileIssue] = []

    def file(self, total: FileTotal) -> None:
        """A whole input counted (in record mode: after its records)."""
        self.files.append(total)
        if self.fmt == "jsonl" and not self.records:
            self._line(total.as_dict())

    def record(self, rec: RecordCount) -> None:
        if self.fmt == "jsonl":
            self._line({"path": display(rec.path), "line": rec.line, "tokens": rec.tokens})

    def issue(self, issue: FileIssue) -> None:
        self.issues.append(issue)

    def _line(self, obj: dict[str, Any]) -> None:
        if "path" in obj:
            obj["path"] = display(obj["path"])
        self.out.write(orjson.dumps(obj).decode() + "\n")

    def finish(self) -> None:
        total = sum(f.tokens for f in self.files)
        if self.fmt == "json":
            doc: dict[str, Any] = {
                "encoding": self.encoding,
                "total_tokens": total,
                "files": [{**f.as_dict(), "path": display(f.path)} for f in self.files],
                "skipped": [
                    {"path": display(i.path), "reason": i.message}
                    for i in self.issues
                    if not i.is_failure
                ],
                "errors": [
                    {"path": display(i.path), "line": i.line, "message": i.message}
                    for i in self.issues
                    if i.is_failure
                ],
            }
            self.out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif self.fmt == "table":
            self._table(total)
        self.out.flush()

    def _table(self, total: int) -> None:
        headers = ["tokens", "bytes"] + (["records"] if self.records else [])
        rows = [
            [f"{f.tokens:,}", f"{f.bytes:,}"] + ([f"{f.records:,}"] if self.records else [])
            for f in self.files
        ]
        summary = [f"{total:,}", f"{sum(f.bytes for f in self.files):,}"]
        if self.records:
            summary.append(f"{sum(f.records or 0 for f in self.files):,}")
        widths = [max(len(r[k]) for r in [headers, summary, *rows]) for k in range(len(headers))]

        def line(cells: list[str], label: str) -> str:
            return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + "  " + label

        n = len(self.files)
        lines = [line(headers, "path")]
        lines += [line(r, display(f.path)) for r, f in zip(rows, self.files, strict=True)]
        lines.append(line(summary, f"total ({self.encoding}, {n} file{'s' if n != 1 else ''})"))
        self.out.write("\n".join(lines) + "\n")


def total_of(count: FileCount) -> FileTotal:
    return FileTotal(count.path, count.tokens, count.bytes)
