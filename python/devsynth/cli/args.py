"""The command line's arguments."""

from __future__ import annotations

import argparse

COUNT_HELP = """\
Count the tokens of files, directory trees, or standard input (-), read and counted in
parallel on Rust threads, files of any size in bounded memory. Text is counted as ordinary
text (a special token spelled in a file is just text).

Directories are walked recursively in name order; hidden files and directories are left out
unless --hidden. A glob without '/' matches names (*.py, node_modules), one with '/' the path
relative to the directory given (src/**/*.rs). Files named explicitly are always counted.
Binary files (a NUL byte in their first 8 KiB) are skipped with a note.

Exit status: 0 when every input was counted (or skipped on purpose), 1 when an input could
not be read or a JSONL line was invalid (unless --skip-invalid), 2 on a usage error, 130 when
interrupted (Ctrl-C stops the Rust threads within a tenth of a second)."""


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="devsynth", description="DevSynth LLM tools.")
    sub = p.add_subparsers(dest="command", required=True)
    tokens = sub.add_parser("tokens", help="token tools").add_subparsers(
        dest="action", required=True
    )
    count = tokens.add_parser(
        "count",
        help="count the tokens of files, directories or stdin",
        description=COUNT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    count.add_argument("paths", nargs="*", default=["-"], help="files, directories, or - for stdin")
    pick = count.add_mutually_exclusive_group()
    pick.add_argument("--encoding", default=None, help="encoding name (default o200k_base)")
    pick.add_argument("--model", default=None, help="model name; picks its encoding")
    walk = count.add_argument_group("walking directories")
    walk.add_argument(
        "--include", action="append", default=[], metavar="GLOB", help="count only matching files"
    )
    walk.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out matching files and directories",
    )
    walk.add_argument("--hidden", action="store_true", help="walk hidden files and directories")
    records = count.add_argument_group("JSON Lines input")
    what = records.add_mutually_exclusive_group()
    what.add_argument("--field", metavar="NAME", help="count this string field of each line")
    what.add_argument(
        "--chat",
        action="store_true",
        help="count the 'messages' array of each line with the chat formula",
    )
    records.add_argument(
        "--skip-invalid",
        action="store_true",
        help="exit 0 even if some lines are not JSON or lack the field (they are still reported)",
    )
    out = count.add_argument_group("output")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json", dest="format", action="store_const", const="json", help="one JSON document"
    )
    fmt.add_argument(
        "--jsonl",
        dest="format",
        action="store_const",
        const="jsonl",
        help="one JSON object per file (per record with --field/--chat)",
    )
    out.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr: auto shows it on a terminal for long runs (default)",
    )
    count.add_argument(
        "--undecodable",
        choices=["replace", "skip"],
        default="replace",
        help="bytes that are not UTF-8: count U+FFFD in their place (default) or skip the file",
    )
    count.add_argument(
        "--threads",
        type=_positive,
        default=None,
        metavar="N",
        help="Rust threads (default: all cores)",
    )
    count.set_defaults(format="table")
    return p
