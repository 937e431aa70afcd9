"""``devsynth tokens count``: inputs in the order given; runs of paths are walked and counted
together on Rust threads; ``-`` is standard input; with ``--field``/``--chat`` each input is
read as JSON Lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, TextIO

from devsynth.cli.options import UsageError, encoding_of
from devsynth.cli.progress import ProgressBar, open_progress
from devsynth.cli.render import FileTotal, Renderer, note, total_of
from devsynth.tokens.core import Encoding
from devsynth.tokens.files import (
    FileCount,
    FileIssue,
    count_found,
    count_stream,
    find_files,
)
from devsynth.tokens.jsonl import RecordCount, RecordSource, count_records

if TYPE_CHECKING:
    from devsynth.application.utils.token_tracker import TokenTracker


def _tracker(args: argparse.Namespace, enc: Encoding) -> TokenTracker:
    from devsynth.application.utils.token_tracker import TokenTracker

    if args.model:
        return TokenTracker(model=args.model)
    return TokenTracker(encoding=enc.name)


def _groups(paths: list[str]) -> Iterator[list[str]]:
    """Runs of paths between the ``-`` arguments, each ``-`` alone."""
    run: list[str] = []
    for p in paths:
        if p == "-":
            if run:
                yield run
                run = []
            yield ["-"]
        else:
            run.append(p)
    if run:
        yield run


class CountCommand:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.err = err
        self.enc = encoding_of(args)
        self.source: RecordSource | None = None
        if args.field is not None:
            self.source = RecordSource(field=args.field)
        elif args.chat:
            self.source = RecordSource(chat=_tracker(args, self.enc))
        self.render = Renderer(args.format, out, self.enc.name, records=self.source is not None)
        self.failed = False
        self.bar: ProgressBar | None = None

    def run(self) -> int:
        for group in _groups(self.args.paths):
            if group == ["-"]:
                self._stdin()
            else:
                self._paths(group)
        self.render.finish()
        return 1 if self.failed else 0

    # ------------------------------------------------------------------ outcomes

    def _issue(self, issue: FileIssue) -> None:
        if self.bar is not None:
            self.bar.write_around(lambda: note(self.err, issue))
        else:
            note(self.err, issue)
        self.render.issue(issue)
        if issue.is_failure and not (issue.kind == "invalid" and self.args.skip_invalid):
            self.failed = True

    def _progress(self, total_bytes: int, total_files: int) -> ProgressBar | None:
        self.bar = open_progress(self.args.progress, self.err, total_bytes, total_files)
        return self.bar

    def _close_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # ------------------------------------------------------------------ inputs

    def _paths(self, paths: list[str]) -> None:
        try:
            found, problems = find_files(
                paths,
                include=self.args.include,
                exclude=self.args.exclude,
                hidden=self.args.hidden,
            )
        except ValueError as e:
            raise UsageError(str(e)) from e
        for problem in problems:
            self._issue(problem)
        bar = self._progress(sum(size for _, size in found), len(found))
        try:
            if self.source is None:
                results = count_found(
                    found,
                    self.enc,
                    undecodable=self.args.undecodable,
                    num_threads=self.args.threads,
                    progress=bar.update if bar else None,
                )
                self._close_progress()
                for r in results:
                    if isinstance(r, FileCount):
                        self.render.file(total_of(r))
                    else:
                        self._issue(r)
            else:
                for k, (path, _) in enumerate(found):
                    try:
                        with open(path, "rb") as f:
                            self._records(f, path, bar, files_done=k)
                    except OSError as e:
                        self._issue(FileIssue(path, "unreadable", e.strerror or str(e)))
                    if bar:
                        bar.next_batch()
        finally:
            self._close_progress()

    def _stdin(self) -> None:
        if sys.stdin is None:
            self._issue(FileIssue("-", "unreadable", "standard input is closed"))
            return
        stream: BinaryIO = sys.stdin.buffer
        bar = self._progress(0, 0)
        try:
            if self.source is None:
                r = count_stream(
                    stream,
                    self.enc,
                    undecodable=self.args.undecodable,
                    progress=bar.update if bar else None,
                )
                self._close_progress()
                if isinstance(r, FileCount):
                    self.render.file(total_of(r))
                else:
                    self._issue(r)
            else:
                self._records(stream, "-", bar, files_done=0)
        finally:
            self._close_progress()

    def _records(
        self, stream: BinaryIO, path: str, bar: ProgressBar | None, files_done: int
    ) -> None:
        assert self.source is not None
        total = FileTotal(path, 0, 0, 0)

        def read_so_far(nbytes: int) -> None:
            total.bytes = nbytes
            if bar:
                bar.update(files_done, nbytes)

        for r in count_records(
            stream,
            self.enc,
            self.source,
            path=path,
            undecodable=self.args.undecodable,
            progress=read_so_far,
        ):
            if isinstance(r, RecordCount):
                total.tokens += r.tokens
                total.records = (total.records or 0) + 1
                self.render.record(r)
            else:
                self._issue(r)
                if r.line is None or r.kind == "undecodable":
                    return
        self.render.file(total)


def run_count(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        return CountCommand(args, out, err).run()
    except UsageError as e:
        err.write(f"devsynth: error: {e}\n")
        return 2
