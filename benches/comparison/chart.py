"""The comparison as a chart, SVG written by hand (no plotting library): for each encoding, grouped
bars of every tokenizer's speed as a multiple of tiktoken's (log scale, value on each bar), one
panel for the everyday workloads and one for the hostile inputs."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from benches.comparison.peers import NAMES
from benches.comparison.report import median

COLOURS = {
    "devsynth": "#d1495b",
    "fastokens": "#3d5a80",
    "gigatoken": "#5fa8d3",
    "toktok": "#57a773",
    "bpe-openai": "#9b72aa",
    "rs-bpe": "#c89f5d",
}
WIDTH = 1280
PLOT_LEFT, PLOT_RIGHT = 70, 20
PANEL_HEIGHT = 250
LABEL_SPACE = 46  # below the axis, for the group labels
PANEL_GAP = 44  # above each panel, for its title
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


def _multiple(work: dict[str, Any], name: str) -> float | str | None:
    """Speed as a multiple of tiktoken's, or why there is none ('not exact', 'error')."""
    result = work["results"].get(name)
    ref = work["results"].get("tiktoken")
    if result is None or ref is None or not ref.get("times"):
        return None
    if result.get("error"):
        return "error"
    if not result.get("exact"):
        return "not exact"
    ours, theirs = median(result), median(ref)
    if not ours or not theirs:
        return None
    return theirs / ours


def _group_label(work: dict[str, Any]) -> list[str]:
    """Two short lines under a group of bars."""
    threads = f"{work['threads']} thread" + ("s" if work["threads"] > 1 else "")
    if work["group"] == "hostile":
        return [work["input"]]
    if work["group"] == "text":
        return [work["op"], work["input"]]
    if work["group"] == "large":
        return [work["input"], threads]
    kind = {"batch": "lists", "flat": "flat", "count_batch": "counts"}[work["op"]]
    return [f"batch → {kind}", threads]


def _ticks(low: float, high: float) -> list[float]:
    ticks = []
    decade = 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        for step in (1, 2, 5):
            value = step * decade
            if low <= value <= high:
                ticks.append(value)
        decade *= 10
    return ticks


def _number(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _panel(
    title: str, works: list[dict[str, Any]], names: list[str], top: float
) -> tuple[list[str], float]:
    """One panel's SVG elements, and the y where the next panel may start."""
    out = [
        f"<text x='{PLOT_LEFT}' y='{top + 26}' {FONT} font-size='15' font-weight='bold'>"
        f"{escape(title)}</text>"
    ]
    y0, y1 = top + PANEL_GAP, top + PANEL_GAP + PANEL_HEIGHT  # plot area, top and bottom
    values = [v for w in works for n in names if isinstance(v := _multiple(w, n), float) and v > 0]
    low = min([0.5, *(v / 1.5 for v in values)])
    high = max([2.0, *(v * 1.6 for v in values)])
    span = math.log10(high) - math.log10(low)

    def y_of(value: float) -> float:
        return y1 - (math.log10(value) - math.log10(low)) / span * PANEL_HEIGHT

    x0, x1 = PLOT_LEFT, WIDTH - PLOT_RIGHT
    for tick in _ticks(low, high):
        y = y_of(tick)
        colour = "#555" if tick == 1 else "#e3e3e3"
        out.append(f"<line x1='{x0}' x2='{x1}' y1='{y:.1f}' y2='{y:.1f}' stroke='{colour}'/>")
        out.append(
            f"<text x='{x0 - 6}' y='{y + 4:.1f}' {FONT} font-size='11' text-anchor='end' "
            f"fill='#444'>{_number(tick)}x</text>"
        )
    out.append(f"<line x1='{x0}' x2='{x0}' y1='{y0}' y2='{y1}' stroke='#999'/>")

    bars = [n for n in names if n != "tiktoken"]
    group_width = (x1 - x0) / max(1, len(works))
    bar_width = min(26.0, (group_width - 14) / max(1, len(bars)))
    base = y_of(low)
    for g, work in enumerate(works):
        gx = x0 + g * group_width
        start = gx + (group_width - bar_width * len(bars)) / 2
        if g:
            out.append(f"<line x1='{gx:.1f}' x2='{gx:.1f}' y1='{y0}' y2='{y1}' stroke='#f0f0f0'/>")
        for b, name in enumerate(bars):
            value = _multiple(work, name)
            bx = start + b * bar_width
            cx = bx + bar_width / 2
            if isinstance(value, float):
                y = y_of(value)
                out.append(
                    f"<rect x='{bx + 1:.1f}' y='{y:.1f}' width='{bar_width - 2:.1f}' "
                    f"height='{max(0.5, base - y):.1f}' fill='{COLOURS[name]}'>"
                    f"<title>{escape(name)}: {value:.2f}x tiktoken</title></rect>"
                )
                label = (
                    f"<text x='{cx:.1f}' y='{y - 3:.1f}' {FONT} font-size='9.5' "
                    f"text-anchor='start' fill='#222' transform='rotate(-90 {cx + 3:.1f} "
                    f"{y - 3:.1f})'>{_number(value)}</text>"
                )
                out.append(label)
            elif value is None and name not in work["results"]:
                # Not measured here: the tokenizer has no such API (or not yet).
                out.append(
                    f"<text x='{cx:.1f}' y='{base - 4:.1f}' {FONT} font-size='9.5' "
                    f"fill='#999' transform='rotate(-90 {cx + 3:.1f} {base - 4:.1f})'>"
                    "no such API</text>"
                )
            elif isinstance(value, str):
                # Not exact or failed: no bar, a mark that says so.
                out.append(
                    f"<text x='{cx:.1f}' y='{base - 4:.1f}' {FONT} font-size='9.5' "
                    f"fill='{COLOURS[name]}' font-weight='bold' "
                    f"transform='rotate(-90 {cx + 3:.1f} {base - 4:.1f})'>"
                    f"{escape(value)}</text>"
                )
        words = _group_label(work)
        label_x = gx + group_width / 2
        for i, line in enumerate(words):
            out.append(
                f"<text x='{label_x:.1f}' y='{y1 + 16 + 13 * i:.1f}' {FONT} font-size='11' "
                f"text-anchor='middle' fill='#333'>{escape(line)}</text>"
            )
    return out, y1 + LABEL_SPACE


def render(full: dict[str, Any]) -> str:
    meta = full["meta"]
    names = [n for n in NAMES if n in meta["versions"]]
    bars = [n for n in names if n != "tiktoken"]
    body: list[str] = []
    title = "Speed as a multiple of tiktoken's (log scale; higher is faster; medians)"
    if meta["quick"]:
        title += ": QUICK RUN, small inputs"
    body.append(
        f"<text x='{PLOT_LEFT}' y='24' {FONT} font-size='17' font-weight='bold'>"
        f"{escape(title)}</text>"
    )
    # Legend.
    x = PLOT_LEFT
    for name in bars:
        body.append(f"<rect x='{x}' y='36' width='14' height='14' fill='{COLOURS[name]}'/>")
        label = f"{name} {meta['versions'][name]}"
        body.append(f"<text x='{x + 19}' y='48' {FONT} font-size='12'>{escape(label)}</text>")
        x += 30 + 7 * len(label)
    body.append(f"<line x1='{x}' x2='{x + 22}' y1='43' y2='43' stroke='#555' stroke-width='2'/>")
    label = f"tiktoken {meta['versions']['tiktoken']} = 1x"
    body.append(f"<text x='{x + 28}' y='48' {FONT} font-size='12'>{escape(label)}</text>")
    top = 56.0
    for encoding, enc in full["encodings"].items():
        works = enc["workloads"]
        panels = (
            (
                f"{encoding}: text (one thread), batches and one large text",
                [w for w in works if w["group"] != "hostile"],
            ),
            (
                f"{encoding}: encode hostile inputs (no whitespace), one thread",
                [w for w in works if w["group"] == "hostile"],
            ),
        )
        for title, chosen in panels:
            if chosen:
                elements, top = _panel(title, chosen, names, top)
                body += elements
    footer = f"{meta['command']} · {meta['date']} · Python {meta['python']} · {meta['machine']}"
    body.append(
        f"<text x='{PLOT_LEFT}' y='{top + 8:.0f}' {FONT} font-size='11' fill='#666'>"
        f"{escape(footer)}</text>"
    )
    height = top + 20
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height:.0f}' "
        f"viewBox='0 0 {WIDTH} {height:.0f}'>\n"
        f"<rect width='100%' height='100%' fill='white'/>\n" + "\n".join(body) + "\n</svg>\n"
    )


def to_png(svg: Path) -> Path | None:
    """The SVG as PNG beside it, with rsvg-convert or ImageMagick when either is installed."""
    png = svg.with_suffix(".png")
    if shutil.which("rsvg-convert"):
        command = ["rsvg-convert", "-o", str(png), str(svg)]
    elif shutil.which("convert"):
        command = ["convert", "-density", "110", str(svg), str(png)]
    else:
        return None
    done = subprocess.run(command, capture_output=True)
    return png if done.returncode == 0 and png.exists() else None
