"""The inputs of ``show``, ``encode`` and ``compare``: TEXT given as an argument, files given
with ``--file``, or standard input (``-``, or nothing at all), read whole with the rules of
``count`` (unreadable paths, binary files, bytes that are not UTF-8)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from devsynth.cli.options import UsageError
from devsynth.cli.render import display
from devsynth.tokens.files import FileIssue, FileText, Undecodable, read_text

#: How long a TEXT argument may be before its label in a table is shortened.
LABEL_CHARS = 24


@dataclass(frozen=True)
class Source:
    """Where an input comes from: literal text, a file path, or standard input (``-``)."""

    text: str | None = None
    path: str | None = None

    @property
    def label(self) -> str:
        """How the input is named in output: the path, ``-``, or the text quoted."""
        if self.path is not None:
            return display(self.path)
        assert self.text is not None
        text = self.text if len(self.text) <= LABEL_CHARS else self.text[: LABEL_CHARS - 1] + "…"
        return repr(text)


def argument_text(arg: str) -> str:
    """A TEXT argument as text: bytes of the command line that are not UTF-8 (surrogate escapes
    in ``sys.argv``) become U+FFFD, as in files."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def sources_of(texts: Sequence[str], files: Sequence[str]) -> list[Source]:
    """TEXT arguments (``-`` is standard input) then ``--file`` paths; standard input alone
    when there are none. Standard input may be read once."""
    out = [Source(path="-") if t == "-" else Source(text=argument_text(t)) for t in texts]
    out += [Source(path=f) for f in files]
    if not out:
        out.append(Source(path="-"))
    if sum(1 for s in out if s.path == "-") > 1:
        raise UsageError("standard input (-) can be read only once")
    return out


def read_source(source: Source, undecodable: Undecodable) -> FileText | FileIssue:
    if source.path is None:
        assert source.text is not None
        return FileText(source.label, source.text, len(source.text.encode("utf-8")))
    if source.path == "-":
        if sys.stdin is None:
            return FileIssue("-", "unreadable", "standard input is closed")
        return read_text("-", stream=sys.stdin.buffer, undecodable=undecodable)
    return read_text(source.path, undecodable=undecodable)


def single_source(args: argparse.Namespace) -> Source:
    """The one input of ``show`` or ``encode``: TEXT or ``--file``, not both."""
    if args.text is not None and args.file is not None:
        raise UsageError("give TEXT or --file, not both")
    texts = [args.text] if args.text is not None else []
    return sources_of(texts, [args.file] if args.file is not None else [])[0]
