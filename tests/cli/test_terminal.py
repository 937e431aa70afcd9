"""`devsynth tokens show` on a real terminal: run in a tmux pane, read back with
``capture-pane -e`` (the text with the colours the terminal holds for each cell)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from devsynth.cli import palette
from devsynth.tokens import get_encoding
from tests.support import ansi
from tests.support.tools import require

SAMPLE = "def greet(name):\n    return f'Hello, {name}!'\n"
WIDTH = 120


def run_in_tmux(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs ``devsynth ARGS`` in a fresh tmux server's pane (a real terminal, WIDTH columns)
    and returns what the pane shows, with its colours as escape sequences."""
    tmux = require("tmux")
    socket = str(tmp_path / "tmux.sock")
    base = [tmux, "-S", socket, "-f", os.devnull]
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    command = (
        f"env -u NO_COLOR TERM=xterm-256color {settings} "
        f"{shlex.quote(sys.executable)} -m devsynth {shlex.join(args)}; "
        f"{shlex.quote(tmux)} -S {shlex.quote(socket)} wait-for -S shown; sleep 600"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(
        [*base, "new-session", "-d", "-s", "t", "-x", str(WIDTH), "-y", "40", command],
        check=True,
        env=environ,
        timeout=30,
    )
    try:
        subprocess.run([*base, "wait-for", "shown"], check=True, timeout=120)
        shown = subprocess.run(
            [*base, "capture-pane", "-p", "-e", "-t", "t"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    finally:
        subprocess.run([*base, "kill-server"], check=False, timeout=30)
    return shown.rstrip("\n")


def token_groups(runs: list[ansi.Run]) -> list[tuple[int, str, int]]:
    """Runs grouped by background colour: (colour, text, first column), one per token."""
    groups: list[tuple[int, str, int]] = []
    column = 0
    for run in runs:
        if run.style.bg is not None:
            if groups and groups[-1][0] == run.style.bg:
                bg, text, start = groups[-1]
                groups[-1] = (bg, text + run.text, start)
            else:
                groups.append((run.style.bg, run.text, column))
        column += len(run.text)
    return groups


def drawn(token: str) -> str:
    return token.replace(" ", "·").replace("\n", "⏎")


def test_tokens_are_drawn_on_cycling_backgrounds_on_a_real_terminal(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    shown = run_in_tmux(tmp_path, "tokens", "show", "-f", str(sample))
    enc = get_encoding("o200k_base")
    tokens = enc.encode(SAMPLE)
    lines = ansi.parse(shown)
    # Two lines of code, a blank line, the summary: the text's own line breaks are kept.
    assert ansi.plain(shown).split("\n") == [
        "def·greet(name):⏎",
        "····return·f'Hello,·{name}!'⏎",
        "",
        f"{len(tokens)} tokens, {len(SAMPLE)} chars, {len(SAMPLE)} bytes, "
        f"{len(SAMPLE) / len(tokens):.2f} bytes/token (o200k_base)",
    ]
    groups = token_groups(lines[0]) + token_groups(lines[1])
    assert [text for _, text, _ in groups] == [drawn(enc.decode([t])) for t in tokens]
    assert [bg for bg, _, _ in groups] == [palette.token_background(i) for i in range(len(tokens))]
    # Black text, grey whitespace marks; the summary dim, on the terminal's own background.
    for runs in lines[:2]:
        for run in runs:
            marks_only = set(run.text) <= {"·", "⏎"}
            assert run.style.fg == (palette.MARK if marks_only else palette.TEXT), run
    assert all(run.style.bg is None and run.style.dim for run in lines[3])


def test_ids_are_written_under_their_tokens_on_a_real_terminal(tmp_path: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    shown = run_in_tmux(tmp_path, "tokens", "show", "--ids", text)
    lines = ansi.parse(shown)
    groups = token_groups(lines[0])
    ids_line = ansi.plain(shown).split("\n")[1]
    tokens = get_encoding("o200k_base").encode(text)
    assert [int(x) for x in ids_line.split()] == tokens
    id_columns = [
        k for k, ch in enumerate(ids_line) if ch != " " and (k == 0 or ids_line[k - 1] == " ")
    ]
    assert [start for _, _, start in groups] == id_columns
    assert all(run.style.fg == palette.TOKEN_ID for run in lines[1] if run.text.strip())


def test_no_color_gives_the_bracketed_form_on_a_terminal(tmp_path: Path) -> None:
    shown = run_in_tmux(tmp_path, "tokens", "show", "hello world", env={"NO_COLOR": "1"})
    assert "\x1b" not in shown
    assert shown.split("\n")[0] == "[hello][·world]"
