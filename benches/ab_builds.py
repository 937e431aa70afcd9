"""Two builds of the extension side by side in one process: the way to see a change of a few
per cent on a shared machine, where two separate runs differ by more than that.

    cp python/devsynth/_core.abi3.so /tmp/before.so     # the build before the change
    # ... change rust/, then: cargo build --release --features python
    taskset -c 1 python benches/ab_builds.py /tmp/before.so target/release/libdevsynth_core.so \\
        --workloads "count multilingual,encode base64 blob" --rounds 30

Both files are loaded as extension modules (each keeps its own statics and per-thread caches)
and timed in alternating order on the same inputs, each round's text new to both (a unique
prefix, or a new hostile draw), so no cache answers from an earlier round. Every output is
checked equal between the builds before its time counts. Prints, per workload, the median and
best time of each build and the median of the per-round ratios (B's time over A's: below 1 is
faster).
"""

from __future__ import annotations

import argparse
import functools
import importlib.machinery
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benches.compare import HOSTILE, hostile_input  # noqa: E402
from tests.support import corpus  # noqa: E402

TEXTS: dict[str, Callable[[int], str]] = {
    "English prose": corpus.english_prose,
    "source code": corpus.source_code,
    "multilingual": corpus.multilingual,
}
DEFAULT_WORKLOADS = [f"{op} {name}" for name in TEXTS for op in ("encode", "count")] + [
    f"encode {name}" for name in HOSTILE
]


def load_build(path: str) -> ModuleType:
    """The extension module in `path`, loaded under the package's module name."""
    name = "devsynth._core"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise SystemExit(f"{path}: not an extension module")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def inputs(label: str, size: int) -> Callable[[int], str]:
    """Round number -> that round's text for a workload's input label."""
    if label in TEXTS:
        base = TEXTS[label](size)
        return lambda r: f"round {r} of the A/B comparison\n{base}"
    if label in HOSTILE:
        return lambda r: hostile_input(label, size, f"ab round {r}")
    raise SystemExit(f"unknown input {label!r}: one of {sorted(TEXTS) + HOSTILE}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="the first build (an extension module file)")
    parser.add_argument("b", help="the second build")
    parser.add_argument("--encoding", default="cl100k_base")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--bytes", type=int, default=1_000_000, help="size of each input")
    args = parser.parse_args(argv)

    builds = [load_build(args.a), load_build(args.b)]
    encodings = [m.CoreEncoding.builtin(args.encoding) for m in builds]
    specials = [e.prepare_specials(frozenset(), frozenset()) for e in encodings]
    print(
        f"A = {args.a}\nB = {args.b}\n{args.encoding}, {args.rounds} rounds of {args.bytes:,} bytes"
    )
    for workload in args.workloads.split(","):
        op, _, label = workload.strip().partition(" ")
        if op not in ("encode", "count"):
            raise SystemExit(f"{workload!r}: a workload is 'encode LABEL' or 'count LABEL'")
        text_of = inputs(label, args.bytes)
        calls: list[Callable[[str], Any]] = [
            functools.partial(lambda f, s, t: f(t, s, None), getattr(e, op), s)
            for e, s in zip(encodings, specials, strict=True)
        ]
        times: list[list[float]] = [[], []]
        for r in range(args.rounds + 1):
            text = text_of(r)
            order = (0, 1) if r % 2 == 0 else (1, 0)
            outs: list[Any] = [None, None]
            for k in order:
                fresh = text[:-1] + text[-1:]  # a new str: nothing cached by the other call
                start = time.perf_counter()
                outs[k] = calls[k](fresh)
                elapsed = time.perf_counter() - start
                if r > 0:  # the first round only warms both builds up
                    times[k].append(elapsed)
            if outs[0] != outs[1]:
                raise SystemExit(f"{workload}: the builds disagree in round {r}")
        ratios = [b / a for a, b in zip(times[0], times[1], strict=True)]
        a_med, b_med = (statistics.median(t) * 1e3 for t in times)
        a_min, b_min = (min(t) * 1e3 for t in times)
        print(
            f"{workload:28} A {a_med:8.2f} ms (best {a_min:7.2f})  B {b_med:8.2f} ms"
            f" (best {b_min:7.2f})  B/A median {statistics.median(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
