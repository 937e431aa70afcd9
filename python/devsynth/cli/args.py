"""The command line's arguments."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devsynth.cli.options import ColumnKind

COUNT_HELP = """\
Count the tokens of files, directory trees, or standard input (-), read and counted in
parallel on Rust threads, files of any size in bounded memory. Text is counted as ordinary
text (a special token spelled in a file is just text).

Directories are walked recursively in name order; hidden files and directories are left out
unless --hidden. A glob without '/' matches names (*.py, node_modules), one with '/' the path
relative to the directory given (src/**/*.rs). Files named explicitly are always counted.
Binary files (a NUL byte in their first 8 KiB) are skipped with a note.

Named pipes and devices are read when named explicitly (a pipe waits for its writer, as cat
does); met while walking a directory, they are skipped with a note.

Exit status: 0 when every input was counted (or skipped on purpose), 1 when an input could
not be read, a JSONL line was invalid (unless --skip-invalid) or the output could not be
written, 2 on a usage error, 130 when interrupted (Ctrl-C stops the Rust threads within a
tenth of a second), 141 when the output's reader went away (| head), as for cat."""


def _threads(text: str) -> int:
    from devsynth._core import MAX_THREADS

    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"expected a number of threads from 1 to {MAX_THREADS}, got {text!r}"
        )
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
    add_encoding_options(count)
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
        help="count each line's 'messages' array (and its 'tools') with the chat formula",
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
        type=_threads,
        default=None,
        metavar="N",
        help="Rust threads (default: all cores)",
    )
    count.set_defaults(format="table")
    _show(tokens)
    _encode(tokens)
    _decode(tokens)
    _compare(tokens)
    return p


def add_encoding_options(p: argparse.ArgumentParser) -> None:
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--encoding", default=None, help="encoding name (default o200k_base)")
    pick.add_argument("--model", default=None, help="model name; picks its encoding")


def add_special_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "special tokens (as encode()'s allowed_special and disallowed_special)"
    )
    group.add_argument(
        "--allowed-special",
        action="append",
        default=[],
        metavar="TOKENS",
        help="special tokens spelled in the text that become special tokens: names "
        "(repeat or separate with commas), or 'all' (default: none)",
    )
    group.add_argument(
        "--disallowed-special",
        action="append",
        default=[],
        metavar="TOKENS",
        help="special tokens whose spelling in the text is an error: names, 'all' (default: "
        "every one not allowed) or 'none' (encode them as ordinary text)",
    )


def add_undecodable_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--undecodable",
        choices=["replace", "skip"],
        default="replace",
        help="bytes that are not UTF-8: U+FFFD in their place (default) or skip the input",
    )


def add_input_options(p: argparse.ArgumentParser, *, many: bool) -> None:
    if many:
        p.add_argument("text", nargs="*", metavar="TEXT", help="texts to read (- for stdin)")
        p.add_argument(
            "-f",
            "--file",
            action="append",
            default=[],
            metavar="PATH",
            help="a file to read (repeat for several; - for stdin)",
        )
    else:
        p.add_argument(
            "text", nargs="?", metavar="TEXT", help="the text (- or nothing: standard input)"
        )
        p.add_argument("-f", "--file", metavar="PATH", help="read the text from a file")
    add_undecodable_option(p)


SHOW_HELP = """\
Show how a text splits into tokens. On a terminal each token gets its own background colour
(neighbours always differ); spaces are drawn as '·', newlines as '⏎' (the line still breaks),
tabs as '→', other control characters as their symbols. A token that holds only part of a
UTF-8 character shows those bytes as \\xNN, underlined. A summary ends the output: tokens,
characters, bytes, bytes per token.

Without a terminal (a pipe, a file) or with NO_COLOR set, each token is written in brackets
instead: [hel][lo]. --html writes a self-contained page (no scripts, no network) where the
id of each token shows on hover.

Exit status: 0 when shown (or a binary input skipped), 1 when the input could not be read or
spells a special token that is not allowed, 2 on a usage error."""


def _show(tokens: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = tokens.add_parser(
        "show",
        help="draw a text's tokens (terminal colours, brackets, or an HTML page)",
        description=SHOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_options(show, many=False)
    add_encoding_options(show)
    add_special_options(show)
    out = show.add_argument_group("output")
    out.add_argument("--ids", action="store_true", help="write each token's id under it")
    out.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colours: auto uses them on a terminal unless NO_COLOR is set (default)",
    )
    out.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML page to FILE (- for stdout)"
    )


def _encode(tokens: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    encode = tokens.add_parser(
        "encode",
        help="text to token ids",
        description="Write the token ids of a text, space-separated (or a JSON array with "
        "--json). Exit status: 0 when encoded, 1 when the input could not be read or spells a "
        "special token that is not allowed, 2 on a usage error.",
    )
    add_input_options(encode, many=False)
    add_encoding_options(encode)
    add_special_options(encode)
    encode.add_argument("--json", action="store_true", help="write a JSON array")


def _decode(tokens: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decode = tokens.add_parser(
        "decode",
        help="token ids to text",
        description="Write the text of token ids given as arguments, in a file (--file) or on "
        "standard input: separated by spaces, commas or newlines, or a JSON array. Bytes that "
        "are not UTF-8 (ids that cut a character) are written as U+FFFD with a note, or as "
        "they are with --bytes. Exit status: 0 when decoded, 1 when the input could not be "
        "read or holds something that is not a token id of the encoding (named in the "
        "message), 2 on a usage error.",
    )
    decode.add_argument("ids", nargs="*", metavar="ID", help="token ids (- or none: stdin)")
    decode.add_argument("-f", "--file", metavar="PATH", help="read the ids from a file")
    add_encoding_options(decode)
    decode.add_argument("--bytes", action="store_true", help="write the tokens' bytes as they are")


def _encoding_column(name: str) -> tuple[ColumnKind, str]:
    return ("encoding", name)


def _model_column(name: str) -> tuple[ColumnKind, str]:
    return ("model", name)


def _compare(tokens: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = tokens.add_parser(
        "compare",
        help="count the same inputs under several encodings or models",
        description="Count texts, then files, under several encodings and models, in the "
        "order given (default: --encoding o200k_base --encoding cl100k_base), as a table of tokens "
        "per input with each column's ratio to the first. Models count as TokenTracker counts "
        "them: a model without a public tokenizer (Claude) is an estimate, marked '~'. Exit "
        "status: 0 when every input was counted, 1 when one could not be read, 2 on a usage "
        "error.",
    )
    add_input_options(compare, many=True)
    compare.add_argument(
        "--encoding",
        dest="columns",
        action="append",
        type=_encoding_column,
        metavar="NAME",
        help="a column for this encoding (repeat)",
    )
    compare.add_argument(
        "--model",
        dest="columns",
        action="append",
        type=_model_column,
        metavar="NAME",
        help="a column for this model (repeat)",
    )
    compare.add_argument("--json", action="store_true", help="one JSON document")
