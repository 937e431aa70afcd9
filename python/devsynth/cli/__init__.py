"""The command line: ``devsynth tokens count|show|encode|decode|compare`` (also
``python -m devsynth``).

One module per job: ``args`` parses, ``options`` and ``inputs`` hold what the commands share
(the encoding, special tokens, reading TEXT/files/stdin); ``count`` runs the count command,
``render`` writes its table, JSON or JSON Lines, ``progress`` draws its progress bar; ``show``
draws tokens with ``visible`` (how a token looks), ``terminal_view`` and ``html_view``;
``codec`` runs encode and decode; ``compare`` the comparison table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from devsynth.cli.args import parser


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
    """Runs a command; returns the exit status (0 ok, 1 some input failed, 2 usage error,
    130 interrupted)."""
    args = parser().parse_args(argv)
    from devsynth.cli.options import UsageError

    try:
        return _command(args.action)(args, sys.stdout, sys.stderr)
    except UsageError as e:
        sys.stderr.write(f"devsynth: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        # Ctrl-C reaches here within a tenth of a second, the Rust threads stopped.
        sys.stderr.write("devsynth: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 1


__all__ = ["run"]
