"""The command line: ``devsynth tokens count|show|encode|decode|compare`` (also
``python -m devsynth``).

One module per job: ``args`` parses, ``options`` and ``inputs`` hold what the commands share
(the encoding, special tokens, reading TEXT/files/stdin); ``count`` runs the count command,
``render`` writes its table, JSON or JSON Lines, ``progress`` draws its progress bar; ``show``
draws tokens with ``visible`` (how a token looks), ``terminal_view`` and ``html_view``;
``codec`` runs encode and decode; ``compare`` the comparison table; ``output`` guards the
standard streams.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from devsynth.cli.args import parser

#: Exit status of a run stopped by a reader that went away (``| head``): what a shell reports
#: for a process that SIGPIPE ended, as ``cat`` ends.
BROKEN_PIPE_STATUS = 128 + 13


def _command(action: str) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    """The function running ``devsynth tokens ACTION`` (imported only when run)."""
    if action == "count":
        from devsynth.cli.count import run_count

        return run_count
    if action == "show":
        from devsynth.cli.show import run_show

        return run_show
    if action == "encode":
        from devsynth.cli.codec import run_encode

        return run_encode
    if action == "decode":
        from devsynth.cli.codec import run_decode

        return run_decode
    from devsynth.cli.compare import run_compare

    return run_compare


def run(argv: Sequence[str]) -> int:
    """Runs a command; returns the exit status (0 ok, 1 some input could not be read or the
    output could not be written, 2 usage error, 130 interrupted, 141 output pipe closed)."""
    args = parser().parse_args(argv)
    from devsynth.cli.output import OutputError, guarded, say, silence

    err = guarded(sys.stderr, "standard error")
    try:
        if sys.stdout is None:
            say(err, "error: standard output is closed")
            return 1
        from devsynth.cli.options import UsageError

        out = guarded(sys.stdout, "standard output")
        try:
            status = _command(args.action)(args, out, err)
            out.flush()
            return status
        except UsageError as e:
            say(err, f"error: {e}")
            return 2
        except OutputError as e:
            # Whatever is still buffered must not fail again when Python exits.
            silence(sys.stdout)
            if e.broken_pipe:
                # The reader went away (`| head`): stop quietly, as Unix tools do.
                silence(sys.stderr)
                return BROKEN_PIPE_STATUS
            say(err, f"error: {e}")
            return 1
    except KeyboardInterrupt:
        # Ctrl-C reaches here within a tenth of a second, the Rust threads stopped.
        say(err, "interrupted")
        return 130


__all__ = ["run"]
