"""devsynth.tokens side by side with tiktoken 0.14 and every exact tokenizer on PyPI (fastokens,
gigatoken, toktok-rs, bpe-openai, rs-bpe), on the same inputs in the same processes.

    pip install -e '.[bench]'                      # the peers; never a runtime dependency
    python benches/compare.py                      # the full comparison (tens of minutes)
    python benches/compare.py --quick              # smaller inputs, few rounds: checks the script
    python benches/compare.py --only o200k_base --peers fastokens,toktok

Single-thread figures come from a worker process this script starts pinned to one core
(taskset) with every tokenizer's thread settings at 1; batch figures from one pinned to two
cores with the settings at 2. In each worker all tokenizers are loaded together and timed in
alternating rounds on inputs no round has seen; a tokenizer's time counts only where its output
equalled tiktoken's (see benches/comparison/workloads.py). Cold start and memory are measured
in fresh interpreters. Writes benches/results/compare-latest.{md,json,svg} (and .png when
rsvg-convert or ImageMagick is there) and prints the markdown.

The corpus is real text already on the machine (tests/support/corpus.py): license texts
(English prose), the Python standard library (code), the translation catalogues of every
language under /usr/share/locale (multilingual).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benches.comparison import chart, peers, report, workloads  # noqa: E402
from tests.support.reference import prepare_cache  # noqa: E402

ENCODINGS = ["o200k_base", "cl100k_base"]
TEXTS = {"English prose": "english.txt", "source code": "code.txt", "multilingual": "multi.txt"}


@dataclass(frozen=True)
class Plan:
    """Sizes and rounds of one run."""

    text_bytes: int
    hostile_bytes: int
    documents: int
    text_rounds: int
    hostile_rounds: int
    batch_rounds: int
    large_rounds: int
    startup_runs: int
    memory_runs: int


# Hostile inputs take 5 rounds: with 3, one slow round moved the median of a row whose
# leader is within 1.1-1.2x (base64: 0.91x in one run, 1.14-1.24x over 9 rounds alone).
# Text takes 25: on a busy day (four runs of 15 rounds) near half the rounds of both devsynth
# and fastokens ran 15% or more slower than their best, and a median of 15 fell on either side.
FULL = Plan(1_000_000, 1_000_000, 10_000, 25, 5, 7, 5, 5, 3)
QUICK = Plan(100_000, 100_000, 1_000, 3, 2, 3, 2, 2, 1)
SMOKE = Plan(20_000, 20_000, 200, 2, 2, 2, 2, 1, 1)  # for the test: does every path run


HOSTILE = ["'a' * n", "random letters", "base64 blob", "CJK run", "one emoji repeated"]


def hostile_input(label: str, size: int, seed: str) -> str:
    """A text without whitespace, one huge piece (base64: long pieces between its digits and
    signs), where BPE can go quadratic. Each seed gives a different text: random content is
    drawn anew, and a constant run gets a random head glued to it (letters before the 'a's,
    signs before the emoji, which the patterns put in the same piece), so neither a text cache
    nor a piece cache has seen it."""
    rng = random.Random(seed)
    lower = "abcdefghijklmnopqrstuvwxyz"
    if label == "'a' * n":
        head = "".join(rng.choices(lower, k=8))
        return head + "a" * (size - len(head))
    if label == "random letters":
        return "".join(rng.choices(lower, k=size))
    if label == "base64 blob":
        return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()[:size]
    if label == "CJK run":
        return "".join(chr(c) for c in rng.choices(range(0x4E00, 0x9FFF), k=size // 3))
    if label == "one emoji repeated":
        head = "".join(rng.choices("!#$%&*+-<=>?@^_~", k=8))
        return head + "😀" * ((size - len(head)) // 4)
    raise ValueError(label)


class Prefixed:
    """The text behind the round's prefix: a new string object per call."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, prefix: str) -> str:
        return prefix + self.text


class RoundInputs:
    """The hostile text of each round, drawn once and handed out as a new object per call."""

    def __init__(self, label: str, size: int) -> None:
        self.label, self.size = label, size
        self.prefix, self.text = "", ""

    def __call__(self, prefix: str) -> str:
        if prefix != self.prefix:
            self.prefix, self.text = prefix, hostile_input(self.label, self.size, prefix)
        return self.text[:1] + self.text[1:]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


# ---------------------------------------------------------------- workers


def load_all(names: list[str], encoding: str, threads: int) -> dict[str, peers.Tokenizer]:
    from devsynth.tokens import rank_file_path

    path = str(rank_file_path(encoding))
    return {name: peers.load(name, encoding, threads, path) for name in names}


def workload(
    group: str, op: str, input_label: str, nbytes: int, threads: int, outcomes: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"{op} {input_label}",
        "group": group,
        "op": op,
        "input": input_label,
        "bytes": nbytes,
        "threads": threads,
        "results": {name: o.to_json() for name, o in outcomes.items()},
        **extra,
    }


def single_thread_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Encode and count of each text, then the hostile inputs, on one core."""
    data = Path(spec["data"])
    toks = load_all(spec["names"], spec["encoding"], threads=1)
    out = []
    for label, filename in TEXTS.items():
        text = (data / filename).read_text("utf-8")
        for op, check in (("encode", workloads.same_ids), ("count", workloads.same_count)):
            calls = {name: getattr(tok, op) for name, tok in toks.items()}
            outcomes = workloads.alternate(
                calls, Prefixed(text), check, spec["text_rounds"], f"{op} {label}"
            )
            out.append(workload("text", op, label, utf8_len(text), 1, outcomes))
    for label in HOSTILE:
        calls = {name: tok.encode for name, tok in toks.items()}
        size = spec["hostile_bytes"]
        outcomes = workloads.alternate(
            calls, RoundInputs(label, size), workloads.same_ids, spec["hostile_rounds"], label
        )
        nbytes = utf8_len(hostile_input(label, size, "size"))
        out.append(workload("hostile", "encode", label, nbytes, 1, outcomes))
    return {"workloads": out, "notes": sorted({n for t in toks.values() for n in t.notes})}


def first_call_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The first encode of one text in a process that has encoded nothing yet."""
    toks = load_all(spec["names"], spec["encoding"], threads=1)
    text = (Path(spec["data"]) / TEXTS[spec["text"]]).read_text("utf-8")
    calls = {name: tok.encode for name, tok in toks.items()}
    outcomes = workloads.first_calls(calls, text, workloads.same_ids)
    return {"cold": {name: o.to_json() for name, o in outcomes.items()}}


def two_thread_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Batches of short documents and one large text, on two cores."""
    data = Path(spec["data"])
    threads = spec["threads"]
    toks = load_all(spec["names"], spec["encoding"], threads=threads)
    docs: list[str] = json.loads((data / "docs.json").read_text("utf-8"))
    nbytes = sum(utf8_len(d) for d in docs)
    rounds = spec["batch_rounds"]

    def batch_input(prefix: str) -> list[str]:
        return [prefix + d for d in docs]

    out = []
    label = f"{len(docs)} short docs"
    calls: dict[str, Any] = {name: tok.batch for name, tok in toks.items()}
    outcomes = workloads.alternate(calls, batch_input, workloads.same_lists, rounds, "batch, lists")
    out.append(workload("batch", "batch", label, nbytes, threads, outcomes))

    flat = {name: tok.flat for name, tok in toks.items() if tok.flat is not None}
    calls = {workloads.REFERENCE: toks[workloads.REFERENCE].batch, **flat, **extras(toks, "flat")}
    outcomes = workloads.alternate(calls, batch_input, workloads.same_flat, rounds, "batch, flat")
    out.append(
        workload("batch", "flat", label, nbytes, threads, outcomes, baseline_only=["tiktoken"])
    )

    calls = {name: tok.count_batch for name, tok in toks.items()}
    outcomes = workloads.alternate(
        calls, batch_input, workloads.same_counts, rounds, "batch, counts"
    )
    out.append(workload("batch", "count_batch", label, nbytes, threads, outcomes))

    big = "".join((data / filename).read_text("utf-8") for filename in TEXTS.values())
    calls = {name: tok.large for name, tok in toks.items()}
    calls.update(extras(toks, "large"))
    outcomes = workloads.alternate(
        calls, Prefixed(big), workloads.same_ids, spec["large_rounds"], "one large text"
    )
    out.append(
        workload(
            "large",
            "encode",
            f"one {utf8_len(big) / 1e6:.1f} MB text",
            utf8_len(big),
            threads,
            outcomes,
        )
    )
    return {"workloads": out, "notes": sorted({n for t in toks.values() for n in t.notes})}


def extras(toks: dict[str, peers.Tokenizer], op: str) -> dict[str, Any]:
    return {label: fn for tok in toks.values() for label, fn in tok.extras.get(op, {}).items()}


WORKERS = {
    "single": single_thread_worker,
    "first": first_call_worker,
    "two": two_thread_worker,
}


def run_worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text("utf-8"))
    result = WORKERS[spec["kind"]](spec)
    result["affinity"] = sorted(os.sched_getaffinity(0))
    result["os_threads"] = os_threads()
    Path(spec["result"]).write_text(json.dumps(result), "utf-8")


def os_threads() -> int:
    """Threads this process has now: what the tokenizers started (all share the pinned cores)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- the parent


def child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in peers.PEER_SETTINGS}
    env.update(peers.thread_env(threads))
    return env


def pinned(cpus: list[int], argv: list[str]) -> tuple[list[str], Any]:
    """The command pinned to `cpus`: taskset when present, else the affinity set at exec."""
    cpu_list = ",".join(map(str, cpus))
    if shutil.which("taskset"):
        return ["taskset", "-c", cpu_list, *argv], None
    return argv, lambda: os.sched_setaffinity(0, cpus)


def spawn_worker(spec: dict[str, Any], cpus: list[int], tmp: Path) -> dict[str, Any]:
    spec_path = tmp / f"spec-{time.monotonic_ns()}.json"
    spec["result"] = str(spec_path.with_suffix(".out.json"))
    spec_path.write_text(json.dumps(spec), "utf-8")
    argv, preexec = pinned(cpus, [sys.executable, str(Path(__file__)), "--worker", str(spec_path)])
    subprocess.run(argv, env=child_env(len(cpus)), preexec_fn=preexec, check=True)
    result: dict[str, Any] = json.loads(Path(spec["result"]).read_text("utf-8"))
    return result


def fresh_interpreter(code: str, cpu: int) -> str:
    argv, preexec = pinned([cpu], [sys.executable, "-c", code])
    done = subprocess.run(
        argv, env=child_env(1), preexec_fn=preexec, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def startup(name: str, encoding: str, plan: Plan, cpu: int, data: Path) -> dict[str, float]:
    """Import + load + first encode in a fresh interpreter (best of runs), and the resident
    memory it adds (median of runs) after that and after encoding the three texts."""
    from devsynth.tokens import rank_file_path

    load = peers.startup_code(name, encoding, str(rank_file_path(encoding)))
    timing = (
        "import time\nt = time.perf_counter()\n"
        + load
        + "encode('hello world')\nprint(time.perf_counter() - t)\n"
    )
    files = [str(data / f) for f in TEXTS.values()]
    memory = (
        "import gc, json\n"
        f"texts = [open(p, encoding='utf-8').read() for p in {files!r}]\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "gc.collect()\n"
        "before = rss()\n" + load + "encode('hello world, ' * 1000 + 'héllo 日本語 😀')\n"
        "gc.collect()\n"
        "loaded = rss()\n"
        "for text in texts:\n"
        "    encode(text)\n"
        "gc.collect()\n"
        "print(json.dumps([(loaded - before) / 1e6, (rss() - before) / 1e6]))\n"
    )
    cold = min(float(fresh_interpreter(timing, cpu)) for _ in range(plan.startup_runs))
    rss = [json.loads(fresh_interpreter(memory, cpu)) for _ in range(plan.memory_runs)]
    return {
        "cold_start_s": cold,
        "rss_mb": statistics.median(r[0] for r in rss),
        "rss_after_texts_mb": statistics.median(r[1] for r in rss),
    }


def write_inputs(data: Path, plan: Plan) -> dict[str, Any]:
    from tests.support import corpus

    sources = {
        "English prose": corpus.english_prose,
        "source code": corpus.source_code,
        "multilingual": corpus.multilingual,
    }
    for label, filename in TEXTS.items():
        (data / filename).write_text(sources[label](plan.text_bytes), "utf-8")
    docs = corpus.short_documents(plan.documents)
    (data / "docs.json").write_text(json.dumps(docs), "utf-8")
    return {
        "corpus": (
            f"English prose from {corpus.LICENSES}, code from {corpus.STDLIB}, multilingual "
            f"from the .mo catalogues under {corpus.LOCALES}"
        ),
        "documents": len(docs),
        "documents_bytes": sum(utf8_len(d) for d in docs),
    }


def choose_cpus(requested: str | None) -> tuple[int, list[int]]:
    allowed = sorted(os.sched_getaffinity(0))
    cpus = [int(c) for c in requested.split(",")] if requested else allowed[-2:]
    if not set(cpus) <= set(allowed):
        raise SystemExit(f"--cpus {requested}: this process may only run on {allowed}")
    return cpus[-1], cpus[-2:]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, few rounds")
    parser.add_argument("--smoke", action="store_true", help="tiny inputs: checks every path runs")
    parser.add_argument(
        "--only", action="append", choices=ENCODINGS, help="one encoding (repeatable)"
    )
    parser.add_argument(
        "--peers",
        help="comma-separated peers to include (default: every one installed); "
        "devsynth and tiktoken are always in",
    )
    parser.add_argument(
        "--cpus",
        help="cores to pin to, e.g. '0,1' (default: the last two allowed; one thread: the last)",
    )
    parser.add_argument("--no-startup", action="store_true", help="skip cold start and memory")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benches" / "results", help="where results go"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def selected_names(requested: str | None) -> tuple[list[str], dict[str, str]]:
    """The tokenizers to run, and why each left out is out."""
    wanted = set(peers.NAMES)
    if requested:
        asked = {p.strip() for p in requested.split(",") if p.strip()}
        unknown = asked - set(peers.NAMES)
        if unknown:
            raise SystemExit(f"--peers: unknown {sorted(unknown)}; known: {peers.NAMES}")
        wanted = asked | {"devsynth", "tiktoken"}
    missing = {n: "not installed" for n in peers.NAMES if n in wanted and not peers.available(n)}
    for required in ("devsynth", "tiktoken"):
        if required in missing:
            raise SystemExit(f"{required} is required: pip install -e '.[bench]'")
    return [n for n in peers.NAMES if n in wanted and n not in missing], missing


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    encodings = args.only or ENCODINGS
    names, missing = selected_names(args.peers)
    single_cpu, pair = choose_cpus(args.cpus)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", prepare_cache())
    started = time.time()
    load = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="devsynth-compare-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        data.mkdir()
        inputs = write_inputs(data, plan)
        base = {
            "names": names,
            "data": str(data),
            "text_rounds": plan.text_rounds,
            "hostile_rounds": plan.hostile_rounds,
            "batch_rounds": plan.batch_rounds,
            "large_rounds": plan.large_rounds,
            "hostile_bytes": plan.hostile_bytes,
        }
        results: dict[str, Any] = {}
        for encoding in encodings:
            print(f"{encoding}: one core ({single_cpu})", file=sys.stderr, flush=True)
            one = spawn_worker({**base, "kind": "single", "encoding": encoding}, [single_cpu], tmp)
            for label in TEXTS:
                print(f"{encoding}: first call on {label}", file=sys.stderr, flush=True)
                first = spawn_worker(
                    {**base, "kind": "first", "encoding": encoding, "text": label},
                    [single_cpu],
                    tmp,
                )
                for item in one["workloads"]:
                    if (
                        item["group"] == "text"
                        and item["op"] == "encode"
                        and item["input"] == label
                    ):
                        # The first call is gated like any other: one wrong output and the
                        # tokenizer is not exact on this workload.
                        for name, cold in first["cold"].items():
                            result = item["results"][name]
                            result["exact"] = result["exact"] and cold["exact"]
                            result["error"] = result["error"] or cold["error"]
                            result["cold"] = cold["cold"]
            print(f"{encoding}: two cores ({pair})", file=sys.stderr, flush=True)
            two = spawn_worker(
                {**base, "kind": "two", "encoding": encoding, "threads": len(pair)}, pair, tmp
            )
            results[encoding] = {
                "workloads": one["workloads"] + two["workloads"],
                "notes": sorted(set(one["notes"]) | set(two["notes"])),
                "affinity": {"single": one["affinity"], "two": two["affinity"]},
                "os_threads": {"single": one["os_threads"], "two": two["os_threads"]},
            }
            if not args.no_startup:
                for name in names:
                    print(f"{encoding}: start-up of {name}", file=sys.stderr, flush=True)
                    results[encoding].setdefault("startup", {})[name] = startup(
                        name, encoding, plan, single_cpu, data
                    )

    meta = {
        "command": " ".join(
            ["python", "benches/compare.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "quick": args.quick or args.smoke,
        "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "seconds": round(time.time() - started),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the start",
        "versions": {name: peers.version(name) for name in names},
        "missing": missing,
        "plan": plan.__dict__,
        **inputs,
    }
    full = {"meta": meta, "encodings": results}
    markdown = report.render(full)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare-latest.md").write_text(markdown, "utf-8")
    (args.out / "compare-latest.json").write_text(json.dumps(full, indent=1), "utf-8")
    svg_path = args.out / "compare-latest.svg"
    svg_path.write_text(chart.render(full), "utf-8")
    png = chart.to_png(svg_path)
    print(markdown)
    print(f"\nwrote {args.out}/compare-latest.{{md,json,svg}}" + (", .png" if png else ""))


if __name__ == "__main__":
    main()
