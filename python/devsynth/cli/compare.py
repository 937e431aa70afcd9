"""``devsynth tokens compare``: the same inputs counted under several encodings or models, as a
table of tokens per input with each column's ratio to the first. Counts come from
:class:`~devsynth.application.utils.token_tracker.TokenTracker`, so a model without a public
tokenizer (Claude) is counted as the tracker counts it, and marked as an estimate."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import orjson

from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.cli.inputs import read_source, sources_of
from devsynth.cli.options import UsageError, pick_encoding
from devsynth.cli.render import note
from devsynth.tokens.files import FileIssue

#: Put before an estimated count, and explained under the table.
ESTIMATE_MARK = "~"
ColumnKind = Literal["encoding", "model"]
DEFAULT_COLUMNS: tuple[tuple[ColumnKind, str], ...] = (
    ("encoding", "o200k_base"),
    ("encoding", "cl100k_base"),
)


@dataclass(frozen=True)
class Column:
    """An encoding or a model, and the tracker that counts for it."""

    kind: ColumnKind
    name: str
    tracker: TokenTracker

    @property
    def exact(self) -> bool:
        return bool(self.tracker.is_exact)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "encoding": self.tracker.encoding_name,
            "exact": self.exact,
            "method": self.tracker.method,
        }


def column_of(kind: ColumnKind, name: str) -> Column:
    """The column for ``--encoding NAME`` or ``--model NAME``; UsageError when unknown (a model
    the tracker only knows by a guess is refused: neither its tokenizer nor its family)."""
    if kind == "encoding":
        pick_encoding(name, None)  # UsageError when unknown
        return Column(kind, name, TokenTracker(encoding=name))
    tracker = TokenTracker(model=name)
    if not tracker.is_exact and tracker.context_window is None:
        raise UsageError(
            f"unknown model {name!r}: no known encoding and no known family to estimate with "
            "(give --encoding NAME to count with an encoding)"
        )
    return Column(kind, name, tracker)


@dataclass
class Row:
    label: str
    tokens: list[int]

    def ratios(self) -> list[float | None]:
        first = self.tokens[0]
        return [t / first if first else None for t in self.tokens]


def _ratio_text(ratio: float | None) -> str:
    return "(–)" if ratio is None else f"({ratio:.2f}×)"


def _cells(row: Row, columns: list[Column]) -> list[str]:
    cells: list[str] = []
    for k, (tokens, ratio) in enumerate(zip(row.tokens, row.ratios(), strict=True)):
        mark = "" if columns[k].exact else ESTIMATE_MARK
        cells.append(f"{mark}{tokens:,}" + ("" if k == 0 else f" {_ratio_text(ratio)}"))
    return cells


def render_table(rows: list[Row], columns: list[Column], out: TextIO) -> None:
    header = ["input"] + [c.name for c in columns]
    body = [[r.label, *_cells(r, columns)] for r in rows]
    if len(rows) > 1:
        total = Row("total", [sum(r.tokens[k] for r in rows) for k in range(len(columns))])
        body.append([total.label, *_cells(total, columns)])
    table = [header, *body]
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out.write("\n".join(line(cells) for cells in table) + "\n")
    estimates = [c for c in columns if not c.exact]
    if estimates:
        out.write("\n")
        for c in estimates:
            out.write(f"{ESTIMATE_MARK} {c.name}: {c.tracker.method}, not exact\n")


def render_json(rows: list[Row], columns: list[Column], out: TextIO) -> None:
    doc: dict[str, Any] = {
        "columns": [c.as_dict() for c in columns],
        "inputs": [{"input": r.label, "tokens": r.tokens, "ratios": r.ratios()} for r in rows],
    }
    total = Row("total", [sum(r.tokens[k] for r in rows) for k in range(len(columns))])
    doc["total"] = {"tokens": total.tokens, "ratios": total.ratios()}
    out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def run_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    columns = [column_of(kind, name) for kind, name in (args.columns or DEFAULT_COLUMNS)]
    rows: list[Row] = []
    failed = False
    for source in sources_of(args.text, args.file):
        got = read_source(source, args.undecodable)
        if isinstance(got, FileIssue):
            note(err, got)
            failed = failed or got.is_failure
            continue
        rows.append(Row(source.label, [c.tracker.count_tokens(got.text) for c in columns]))
    if args.json:
        render_json(rows, columns, out)
    else:
        render_table(rows, columns, out)
    out.flush()
    return 1 if failed else 0
