"""``devsynth tokens show``: a text's tokens drawn on the terminal (or as plain brackets when
piped), or written as an HTML page with ``--html``."""

from __future__ import annotations

import argparse
import shutil
from typing import TextIO

from devsynth.cli.html_view import render_page
from devsynth.cli.inputs import read_source, single_source
from devsynth.cli.options import encode_input, encoding_of, special_options
from devsynth.cli.render import display, note
from devsynth.cli.terminal_view import render_view, use_color
from devsynth.cli.visible import summary_line
from devsynth.tokens.files import FileIssue
from devsynth.tokens.spans import spans_of_tokens


def run_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    enc = encoding_of(args)
    special_options(enc, args)  # usage errors before reading anything
    source = single_source(args)
    got = read_source(source, args.undecodable)
    if isinstance(got, FileIssue):
        note(err, got)
        return 1 if got.is_failure else 0
    tokens = encode_input(enc, args, got, err)
    if tokens is None:
        return 1
    view = spans_of_tokens(enc, tokens, got.text.encode("utf-8"))
    if args.html is None:
        width = shutil.get_terminal_size().columns
        render_view(view, out, color=use_color(args.color, out), ids=args.ids, width=width)
        out.flush()
        return 0
    page = render_page(view, title=source.label, ids=args.ids)
    if args.html == "-":
        out.write(page)
        out.flush()
        return 0
    try:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        err.write(f"devsynth: cannot write {display(args.html)}: {e.strerror or e}\n")
        return 1
    err.write(f"devsynth: wrote {display(args.html)}: {summary_line(view)}\n")
    return 0
