"""Timing that is fair to every tokenizer in one process.

- Alternating rounds: each round calls every tokenizer once, so a change of load on the machine
  hits all of them alike; the order rotates between rounds (the reference always goes first,
  its output being what the others are checked against). An untimed warm-up round comes first.
  Medians are reported, minima kept.
- Unique inputs: each round's texts carry a new prefix (`"{round}-{random} "`), so a cache of
  whole texts can never answer from memory; caches of pieces stay warm, as they would in use.
  Each tokenizer gets its own copy of the round's text: CPython caches a string's UTF-8 form
  inside the object, and the first tokenizer to ask for it must not pay for the others.
- Exactness gate: every timed output is compared with tiktoken's output in the same round, on
  the same input. A tokenizer that differs once is marked not exact for the whole workload.
- The garbage collector is off during a timed call (as in timeit) and collected between calls,
  so no tokenizer pays for another's garbage. What was alive before the rounds (the loaded
  tokenizers and libraries) is frozen out of those collections: a full walk of it before every
  call (7 ms with every tokenizer loaded) left the next call slower, the more so the shorter the
  call. Count of 1 MB of code (o200k), medians of 15 rounds with every peer loaded, in two
  processes each way: devsynth 453-478 -> 527-531 MB/s, fastokens 323-332 -> 352-354, toktok
  167-175 -> 176-177, gigatoken 92-93 -> 94-95. No real program walks its whole heap before
  each call.
"""

from __future__ import annotations

import gc
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from benches.comparison.peers import flat_pair

REFERENCE = "tiktoken"

Check = Callable[[Any, Any], bool]


@dataclass
class Outcome:
    """One tokenizer on one workload."""

    times: list[float] = field(default_factory=list)
    exact: bool = True
    error: str | None = None
    # Seconds of the first call on this input in a process that had seen nothing (piece
    # caches cold); set by `first_calls` in a fresh worker.
    cold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def round_prefix(round_index: int) -> str:
    return f"{round_index}-{secrets.token_hex(4)} "


def _timed(fn: Callable[[Any], Any], arg: Any) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn(arg)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed, out


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Objects alive on entry are left out of collections until exit (then nothing is frozen,
    whatever was before)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def alternate(
    calls: dict[str, Callable[[Any], Any]],
    make_input: Callable[[str], Any],
    check: Check,
    rounds: int,
    label: str = "",
) -> dict[str, Outcome]:
    """Times every call once per round on `make_input(prefix)` (a new object per call)."""
    if REFERENCE not in calls:
        raise ValueError(f"{REFERENCE} is the reference and must be among the calls")
    outcomes = {name: Outcome() for name in calls}
    others = [name for name in calls if name != REFERENCE]
    with _frozen_heap():
        # Round -1 is a warm-up, checked but not timed: lazy set-up (a regex compiled on first
        # use, tables paged in) is the cold figure's business, not the warm one's.
        for r in range(-1, rounds):
            prefix = round_prefix(r)
            shift = r % max(1, len(others))
            elapsed, reference = _timed(calls[REFERENCE], make_input(prefix))
            if r >= 0:
                outcomes[REFERENCE].times.append(elapsed)
            for name in others[shift:] + others[:shift]:
                outcome = outcomes[name]
                if outcome.error is not None:
                    continue
                try:
                    elapsed, out = _timed(calls[name], make_input(prefix))
                except Exception as exc:  # a peer refusing an input is a result, not a crash
                    outcome.error = _failure(exc)
                    continue
                if r >= 0:
                    outcome.times.append(elapsed)
                if outcome.exact and not check(out, reference):
                    outcome.exact = False
                del out
            del reference
            if label and r >= 0:
                print(f"  {label}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    return outcomes


def first_calls(
    calls: dict[str, Callable[[Any], Any]], text: str, check: Check
) -> dict[str, Outcome]:
    """One call each on `text` behind a new prefix, in a process where nothing was encoded
    yet: the figure for a text never seen, with every cache cold."""
    outcomes = {name: Outcome() for name in calls}
    prefix = round_prefix(0)
    elapsed, reference = _timed(calls[REFERENCE], prefix + text)
    outcomes[REFERENCE].cold = elapsed
    for name, fn in calls.items():
        if name == REFERENCE:
            continue
        try:
            elapsed, out = _timed(fn, prefix + text)
        except Exception as exc:
            outcomes[name].error = _failure(exc)
            continue
        outcomes[name].cold = elapsed
        outcomes[name].exact = check(out, reference)
    return outcomes


# ---------------------------------------------------------------- the checks


def same_ids(out: Any, reference: list[int]) -> bool:
    return type(out) is list and out == reference


def same_count(out: Any, reference: int) -> bool:
    return type(out) is int and out == reference


def same_lists(out: Any, reference: list[list[int]]) -> bool:
    return (
        type(out) is list
        and len(out) == len(reference)
        and all(type(ids) is list for ids in out)
        and out == reference
    )


def same_counts(out: Any, reference: list[int]) -> bool:
    return list(out) == reference


def same_flat(out: Any, reference: list[list[int]]) -> bool:
    """A flat (ids, offsets) output against the reference's lists. Offsets may be the n + 1
    bounds (starting at 0) or the n ends."""
    ids, offsets = flat_pair(out)
    bounds = [0]
    for doc in reference:
        bounds.append(bounds[-1] + len(doc))
    return offsets in (bounds, bounds[1:]) and ids == [i for doc in reference for i in doc]
