"""The command line: ``devsynth tokens count [PATH ...]`` (also ``python -m devsynth``).

One module per job: ``args`` parses, ``count`` runs the count command, ``render`` writes the
table, JSON or JSON Lines, ``progress`` draws the progress bar on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from devsynth.cli.args import parser


def run(argv: Sequence[str]) -> int:
    """Runs a command; returns the exit status (0 ok, 1 some input failed, 2 usage error,
    130 interrupted)."""
    args = parser().parse_args(argv)
    from devsynth.cli.count import run_count

    try:
        return run_count(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        # Ctrl-C reaches here within a tenth of a second, the Rust threads stopped.
        sys.stderr.write("devsynth: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 1


__all__ = ["run"]
