"""Reading what a terminal shows: text with SGR escape sequences (as ``tmux capture-pane -e``
writes it) parsed into runs of one style, and drawn as HTML (for the README's terminal
screenshot: ``python -m tests.support.ansi < capture.txt > capture.html``)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from html import escape

from devsynth.cli.palette import xterm_hex

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_OTHER_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-ln-z]|\][^\x07]*\x07|[()][A-Z0-9])")


@dataclass(frozen=True)
class Style:
    fg: int | None = None  # xterm colour index; None: the terminal's default
    bg: int | None = None
    bold: bool = False
    dim: bool = False
    underline: bool = False


@dataclass(frozen=True)
class Run:
    text: str
    style: Style


def _apply(style: Style, params: str) -> Style:
    codes = [int(c) if c else 0 for c in re.split(r"[;:]", params)] if params else [0]
    k = 0
    while k < len(codes):
        c = codes[k]
        if c == 0:
            style = Style()
        elif c == 1:
            style = replace(style, bold=True)
        elif c == 2:
            style = replace(style, dim=True)
        elif c == 4:
            style = replace(style, underline=True)
        elif c == 22:
            style = replace(style, bold=False, dim=False)
        elif c == 24:
            style = replace(style, underline=False)
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style = replace(style, fg=c - 30 if c < 90 else c - 90 + 8)
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style = replace(style, bg=c - 40 if c < 100 else c - 100 + 8)
        elif c in (38, 48) and k + 2 < len(codes) and codes[k + 1] == 5:
            style = replace(style, **{"fg" if c == 38 else "bg": codes[k + 2]})
            k += 2
        elif c == 39:
            style = replace(style, fg=None)
        elif c == 49:
            style = replace(style, bg=None)
        k += 1
    return style


def parse(text: str) -> list[list[Run]]:
    """Each line as runs of text in one style (the style carries over line ends, as on a
    terminal); runs of the same style are merged."""
    style = Style()
    lines: list[list[Run]] = []
    for raw in text.split("\n"):
        runs: list[Run] = []
        pos = 0
        raw = _OTHER_ESCAPE.sub("", raw)
        for m in [*_SGR.finditer(raw), None]:
            chunk = raw[pos : m.start() if m else len(raw)]
            if chunk:
                if runs and runs[-1].style == style:
                    runs[-1] = Run(runs[-1].text + chunk, style)
                else:
                    runs.append(Run(chunk, style))
            if m:
                style = _apply(style, m.group(1))
                pos = m.end()
        lines.append(runs)
    return lines


def plain(text: str) -> str:
    """The text without its escape sequences."""
    return _OTHER_ESCAPE.sub("", _SGR.sub("", text))


def to_html(text: str, *, title: str = "terminal") -> str:
    """A page drawing ``text`` as a dark terminal would (xterm colours)."""
    out: list[str] = []
    for runs in parse(text.rstrip("\n")):
        for run in runs:
            css: list[str] = []
            if run.style.fg is not None:
                css.append(f"color:{xterm_hex(run.style.fg)}")
            if run.style.bg is not None:
                css.append(f"background:{xterm_hex(run.style.bg)}")
            if run.style.bold:
                css.append("font-weight:bold")
            if run.style.dim:
                css.append("opacity:.65")
            if run.style.underline:
                css.append("text-decoration:underline")
            body = escape(run.text)
            out.append(f'<span style="{";".join(css)}">{body}</span>' if css else body)
        out.append("\n")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ margin: 0; background: #1d1f21; }}
pre {{ margin: 0; padding: 14px 16px; color: #d8d8d8; background: #1d1f21;
  font: 15px/1.35 "DejaVu Sans Mono", monospace; }}
</style></head>
<body><pre>{"".join(out)}</pre></body></html>
"""


if __name__ == "__main__":
    sys.stdout.write(to_html(sys.stdin.read()))
