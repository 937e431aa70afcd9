"""The markdown of a comparison: one table per encoding (each tokenizer's MB/s and its multiple
of tiktoken, and devsynth against the fastest exact peer), the hostile inputs, start-up and
memory, and whether each target of issue 14 is met."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, TypeGuard

from benches.comparison.peers import NAMES

# Targets of issue 14.
LEAD = 1.25  # encode, count and batch: at least this multiple of the fastest exact peer
HOSTILE_VS_ENGLISH = 3.0  # hostile time per byte at most this multiple of our English time
COLD_START_MS = 50.0
MEMORY_MB = 60.0

OP_LABELS = {
    "encode": "encode",
    "count": "count",
    "batch": "batch → lists",
    "flat": "batch → flat ids + offsets",
    "count_batch": "batch → counts",
}


def median(result: dict[str, Any]) -> float | None:
    times = result.get("times") or []
    return float(statistics.median(times)) if times else None


def best(result: dict[str, Any]) -> float | None:
    times = result.get("times") or []
    return float(min(times)) if times else None


def seconds(result: dict[str, Any]) -> float:
    """The median of a result known to be timed."""
    return float(statistics.median(result["times"]))


def usable(result: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Timed, without error, and exact: a figure that may be shown and ranked."""
    return (
        result is not None
        and result.get("error") is None
        and bool(result.get("exact"))
        and bool(result.get("times"))
    )


def rivals(work: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The exact peers devsynth is ranked against on this workload."""
    skip = {"devsynth", *work.get("baseline_only", [])}
    return {
        name: r
        for name, r in work["results"].items()
        if name in NAMES and name not in skip and usable(r)
    }


def lead_over_peers(work: dict[str, Any], figure: Any = median) -> tuple[float, str] | None:
    """(fastest exact peer's time / devsynth's time, that peer), or None when either is
    missing; devsynth not exact gives None too (it is never ranked then)."""
    ours = work["results"].get("devsynth")
    field = {name: r for name, r in rivals(work).items() if figure(r) is not None}
    if not usable(ours) or figure(ours) is None or not field:
        return None
    peer, result = min(field.items(), key=lambda kv: figure(kv[1]))
    return figure(result) / figure(ours), peer


def paired_lead(work: dict[str, Any]) -> float | None:
    """The median over rounds of (fastest exact peer's time in that round / devsynth's): a
    round runs every tokenizer back to back, so a spell of a slower machine (a shared host)
    slows them alike and cancels out, where it can move one median and not another. None when
    `lead_over_peers` is, or when the rounds do not line up."""
    if lead_over_peers(work) is None:
        return None
    ours = work["results"]["devsynth"]["times"]
    field = [r["times"] for r in rivals(work).values() if len(r["times"]) == len(ours)]
    if not field or not ours:
        return None
    ratios: list[float] = [min(t[i] for t in field) / ours[i] for i in range(len(ours))]
    return statistics.median(ratios)


def cell(work: dict[str, Any], name: str, figure: Any = median) -> str:
    result = work["results"].get(name)
    if result is None:
        return "–"
    if result.get("error"):
        return "error"
    if not result.get("exact"):
        return "**not exact**"
    seconds = figure(result)
    if seconds is None:
        return "–"
    rate = work["bytes"] / seconds / 1e6
    ref = work["results"].get("tiktoken")
    text = f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"
    if ref and figure(ref):
        text += f" ({figure(ref) / seconds:.1f}x)"
    if name in work.get("baseline_only", []):
        text += " lists"
    return text


def lead_cell(work: dict[str, Any], figure: Any = median) -> str:
    ours = work["results"].get("devsynth")
    if ours is not None and ours.get("times") and not ours.get("exact"):
        return "**devsynth NOT EXACT**"
    lead = lead_over_peers(work, figure)
    if lead is None:
        return "–"
    ratio, peer = lead
    return f"**{ratio:.2f}x** ({peer})"


def row_label(work: dict[str, Any]) -> str:
    if work["group"] in ("text", "hostile"):
        return f"{work['op']} {work['input']}"
    if work["group"] == "large":
        return f"encode {work['input']}, {work['threads']} threads"
    return f"{OP_LABELS[work['op']]}, {work['input']}, {work['threads']} threads"


def table(works: list[dict[str, Any]], names: list[str], figure: Any = median) -> list[str]:
    lines = [
        "| workload | " + " | ".join(names) + " | devsynth / fastest exact peer |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for work in works:
        cells = [cell(work, n, figure) for n in names]
        lines.append(
            f"| {row_label(work)} | " + " | ".join(cells) + f" | {lead_cell(work, figure)} |"
        )
    return lines


def english_seconds_per_byte(works: list[dict[str, Any]]) -> float | None:
    for work in works:
        if work["group"] == "text" and work["op"] == "encode" and work["input"] == "English prose":
            ours = work["results"].get("devsynth")
            if usable(ours):
                return seconds(ours) / float(work["bytes"])
    return None


def hostile_table(works: list[dict[str, Any]], names: list[str]) -> list[str]:
    english = english_seconds_per_byte(works)
    lines = [
        "| input | "
        + " | ".join(names)
        + " | devsynth / fastest exact peer | ours per byte vs our English |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for work in works:
        if work["group"] != "hostile":
            continue
        ours = work["results"].get("devsynth")
        versus = "–"
        if english and usable(ours):
            ratio = seconds(ours) / work["bytes"] / english
            versus = f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"
        cells = [cell(work, n) for n in names]
        lines.append(
            f"| {work['input']} | " + " | ".join(cells) + f" | {lead_cell(work)} | {versus} |"
        )
    return lines


def large_text_note(works: list[dict[str, Any]]) -> str | None:
    for work in works:
        if work["group"] != "large":
            continue
        two = work["results"].get("devsynth")
        one = work["results"].get("devsynth, 1 thread")
        if usable(two) and usable(one):
            rate = work["bytes"] / 1e6
            return (
                f"One large text ({work['input'].removeprefix('one ')}): devsynth "
                f"`encode_ordinary(text, num_threads=1)` {rate / seconds(one):.0f} MB/s, "
                f"`num_threads={work['threads']}` {rate / seconds(two):.0f} MB/s "
                f"(**{seconds(one) / seconds(two):.2f}x**)."
            )
    return None


def _floor(ratio: float) -> str:
    """Two decimals rounded down, so a ratio shown as meeting a target does meet it."""
    return f"{math.floor(ratio * 100) / 100:.2f}"


def variant_notes(works: list[dict[str, Any]]) -> list[str]:
    """A line for each variant timed beside the tokenizers (devsynth's Arrow output, ...)."""
    lines = []
    for work in works:
        ref = work["results"].get("tiktoken")
        for label, result in work["results"].items():
            if label in NAMES or label == "devsynth, 1 thread":
                continue
            if not usable(result):
                state = "error" if result.get("error") else "**not exact**"
                lines.append(f"- {row_label(work)}: {label} {state}.")
                continue
            rate = work["bytes"] / seconds(result) / 1e6
            versus = f" ({seconds(ref) / seconds(result):.1f}x tiktoken)" if usable(ref) else ""
            lines.append(f"- {row_label(work)}: {label} {rate:.0f} MB/s{versus}.")
    return lines


@dataclass
class Target:
    name: str
    ok: bool | None  # None: not measured in this run
    detail: str


def _ratio_target(
    name: str, rows: list[tuple[str, dict[str, Any] | None]], minimum: float
) -> Target:
    parts, ok = [], True
    for label, work in rows:
        lead = lead_over_peers(work) if work else None
        if lead is None:
            return Target(name, None, f"{label}: not measured (or devsynth not exact)")
        paired = paired_lead(work) if work else None
        shown = f" (paired {_floor(paired)}x)" if paired is not None else ""
        parts.append(f"{label} {_floor(lead[0])}x{shown}")
        ok = ok and lead[0] >= minimum
    return Target(name, ok, ", ".join(parts))


def targets(full: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    encodings = full["encodings"]

    def find(encoding: str, group: str, op: str, input_label: str | None = None) -> Any:
        for work in encodings[encoding]["workloads"]:
            if (work["group"], work["op"]) == (group, op) and input_label in (None, work["input"]):
                return work
        return None

    text_labels = ["English prose", "source code", "multilingual"]
    for op in ("encode", "count"):
        rows = [
            (f"{enc.split('_')[0]} {label.split()[0]}", find(enc, "text", op, label))
            for enc in encodings
            for label in text_labels
        ]
        out.append(_ratio_target(f"{op} ≥ {LEAD}x the fastest exact peer", rows, LEAD))
    rows = [(enc.split("_")[0], find(enc, "batch", "batch")) for enc in encodings]
    out.append(_ratio_target(f"batch → lists ≥ {LEAD}x the fastest peer", rows, LEAD))

    parts, ok = [], True
    measured = True
    for enc in encodings:
        works = encodings[enc]["workloads"]
        english = english_seconds_per_byte(works)
        for work in works:
            if work["group"] != "hostile":
                continue
            lead = lead_over_peers(work)
            ours = work["results"].get("devsynth")
            if lead is None or english is None or not usable(ours):
                measured = False
                continue
            per_byte = seconds(ours) / work["bytes"] / english
            good = lead[0] > 1.0 and per_byte <= HOSTILE_VS_ENGLISH
            ok = ok and good
            if not good:
                parts.append(
                    f"{enc.split('_')[0]} {work['input']}: {_floor(lead[0])}x the fastest peer, "
                    f"{per_byte:.1f}x our English time per byte"
                )
    out.append(
        Target(
            f"hostile inputs: fastest and ≤ {HOSTILE_VS_ENGLISH:.0f}x our English time per byte",
            ok if measured else None,
            "; ".join(parts) if parts else ("all inputs" if measured else "not measured"),
        )
    )

    for key, limit, unit, name in (
        ("cold_start_s", COLD_START_MS, "ms", f"cold start ≤ {COLD_START_MS:.0f} ms"),
        ("rss_mb", MEMORY_MB, "MB", f"memory ≤ {MEMORY_MB:.0f} MB"),
    ):
        values = {
            enc: encodings[enc].get("startup", {}).get("devsynth", {}).get(key) for enc in encodings
        }
        if any(v is None for v in values.values()):
            out.append(Target(name, None, "not measured"))
            continue
        scale = 1e3 if unit == "ms" else 1.0
        shown = {enc: float(v) * scale for enc, v in values.items()}
        out.append(
            Target(
                name,
                all(v <= limit for v in shown.values()),
                ", ".join(f"{enc.split('_')[0]} {v:.0f} {unit}" for enc, v in shown.items()),
            )
        )
    return out


def startup_table(full: dict[str, Any], names: list[str]) -> list[str]:
    encodings = [e for e in full["encodings"] if full["encodings"][e].get("startup")]
    if not encodings:
        return []
    head = "| tokenizer | " + " | ".join(
        f"cold start {e} | memory {e} | after 3 texts" for e in encodings
    )
    lines = [head + " |", "|---|" + "---:|" * (3 * len(encodings))]
    for name in names:
        cells = []
        for e in encodings:
            s = full["encodings"][e]["startup"].get(name)
            if s is None:
                cells += ["–", "–", "–"]
            else:
                cells += [
                    f"{s['cold_start_s'] * 1e3:.0f} ms",
                    f"{s['rss_mb']:.0f} MB",
                    f"{s['rss_after_texts_mb']:.0f} MB",
                ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render(full: dict[str, Any]) -> str:
    meta = full["meta"]
    names = [n for n in NAMES if n in meta["versions"]]
    lines = ["## devsynth and every exact tokenizer, side by side", ""]
    if meta["quick"]:
        lines += [
            "> **Quick run** (`--quick` or `--smoke`): small inputs and few rounds, to check "
            "the script; its figures are not the comparison.",
            "",
        ]
    versions = ", ".join(f"{n} {meta['versions'][n]}" for n in names)
    plan = meta["plan"]
    lines += [
        f"`{meta['command']}`, {meta['date']}, Python {meta['python']}, {meta['machine']}; "
        f"{meta['seconds']} s.",
        "",
        f"Tokenizers: {versions}."
        + (f" Not installed: {', '.join(meta['missing'])}." if meta["missing"] else ""),
        "",
        f"Inputs: {meta['corpus']}; {plan['text_bytes'] / 1e6:g} MB of each; "
        f"{meta['documents']} short documents ({meta['documents_bytes'] / 1e6:.1f} MB); "
        f"hostile inputs of {plan['hostile_bytes'] / 1e6:g} MB. Medians of "
        f"{plan['text_rounds']} alternating rounds (hostile {plan['hostile_rounds']}, batches "
        f"{plan['batch_rounds']}, large text {plan['large_rounds']}). Cells: MB/s "
        "(multiple of tiktoken); **not exact** where any output differed from tiktoken's.",
        "",
        "### Targets (issue 14)",
        "",
        "Verdicts are on the ratio of medians; beside each, paired: the median over rounds of "
        "the fastest exact peer's time in that round over ours (steadier on a shared machine).",
        "",
    ]
    for t in targets(full):
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[t.ok]
        lines.append(f"- **{verdict}** {t.name}: {t.detail}")
    lines.append("")

    for encoding, enc in full["encodings"].items():
        works = enc["workloads"]
        main = [w for w in works if w["group"] != "hostile"]
        lines += [f"### {encoding}", ""]
        if "affinity" in enc and "os_threads" in enc:
            lines += [
                f"Workers pinned to core {_cores(enc['affinity']['single'])} (one thread) and "
                f"cores {_cores(enc['affinity']['two'])} (two threads); OS threads in them at "
                f"the end: {enc['os_threads']['single']} and {enc['os_threads']['two']}.",
                "",
            ]
        lines += table(main, names)
        lines.append("")
        note = large_text_note(works)
        if note:
            lines += [note, ""]
        variants = variant_notes(works)
        if variants:
            lines += [*variants, ""]
        lines += [
            "Hostile inputs (no whitespace: long pieces), one thread:",
            "",
            *hostile_table(works, names),
            "",
            "<details><summary>Best round (minimum) and cold first call</summary>",
            "",
            "Best round, MB/s (multiple of tiktoken's best):",
            "",
            *table(works, names, best),
            "",
            "First encode of each text in a fresh process (piece caches cold), MB/s:",
            "",
            *table(
                [w for w in works if w["group"] == "text" and w["op"] == "encode"],
                names,
                _cold,
            ),
            "",
            "</details>",
            "",
        ]
        for note in enc.get("notes", []):
            lines.append(f"- {note}")
        lines.append("")

    start = startup_table(full, names)
    if start:
        lines += [
            "### Start-up and memory (fresh interpreter, one core)",
            "",
            "Cold start: import + load + first encode, best of "
            f"{plan['startup_runs']} (tiktoken reads its rank files from a filled cache: "
            "nothing is downloaded). Memory: resident memory added over the bare interpreter "
            "after the first encode, and after encoding the three texts (caches grown).",
            "",
            *start,
            "",
        ]
    return "\n".join(lines)


def _cores(cpus: list[int]) -> str:
    return ", ".join(map(str, cpus))


def _cold(result: dict[str, Any]) -> float | None:
    cold = result.get("cold")
    return None if cold is None else float(cold)
