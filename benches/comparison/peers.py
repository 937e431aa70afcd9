"""Every tokenizer in the comparison, loaded the way its documentation says, each behind the same
calls: encode and count one text, a batch returning lists, a flat batch where one exists.

Each call is the tokenizer's fastest exact API that gives a Python list of ints (or an int for
count), with tiktoken's `encode_ordinary` semantics (special-token text is ordinary text). What
each peer offers was read from its installed source and stubs (site-packages):

- fastokens 0.3.5: `Tokenizer.from_tiktoken(path, encoding=name)`; `encode_ordinary(text)` gives
  an Encoding whose `.ids` is a new list and whose `len()` is the count (no count API);
  `encode_batch(..., split_special_tokens=True)` is the ordinary batch; `encode_batch_flat`
  gives (uint32 ids, uint64 offsets) as bytes. Threads: FASTOKENS_BPE_THREADS and rayon's
  RAYON_NUM_THREADS (one large text is split across them).
- gigatoken 0.10.0: `Tokenizer.from_tiktoken(path).as_tiktoken()` is tiktoken-shaped;
  `encode_ordinary_batch(num_threads=1)` runs on the calling thread, any other value on rayon's
  global pool (RAYON_NUM_THREADS). No count API.
- toktok-rs 0.3.0: `toktok._encoding(name)` has `encode_ordinary`, `count` (ordinary text),
  `encode_batch(texts, threads)` giving flat buffers (it has no batch returning lists: the lists
  are cut from its buffers in Python), `encode_batch_to_numpy`, `count_batch`.
- bpe-openai 0.1.4: `bpe_openai._bindings.tokenizer_for_encoding(name)` has `encode` and `count`
  (the tiktoken-shaped `Encoding` refuses texts of 1M characters). Its batch is a Python thread
  pool that holds the GIL and is slower than a plain loop, so the loop is timed.
- rs-bpe 0.1.0: `rs_bpe.bpe.openai.o200k_base()` / `cl100k_base()` (the `rs_bpe.openai` wrapper
  module fails to import); `encode`, `count`, `encode_batch(texts)` and
  `encode_batch_parallel(texts, ParallelOptions(min_batch_size, chunk_size, max_threads))`,
  both returning a tuple whose first item is the lists.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# Display order: ours, the reference, then the peers.
NAMES = ["devsynth", "tiktoken", "fastokens", "gigatoken", "toktok", "bpe-openai", "rs-bpe"]

# name -> (distribution on PyPI, module that must import)
DISTRIBUTIONS = {
    "devsynth": ("devsynth-llm", "devsynth.tokens"),
    "tiktoken": ("tiktoken", "tiktoken"),
    "fastokens": ("fastokens", "fastokens"),
    "gigatoken": ("gigatoken", "gigatoken"),
    "toktok": ("toktok-rs", "toktok"),
    "bpe-openai": ("bpe-openai", "bpe_openai"),
    "rs-bpe": ("rs_bpe", "rs_bpe"),
}

# Variables a peer reads that would change what is measured: dropped from the workers'
# environment so every peer runs with its defaults.
PEER_SETTINGS = ("FASTOKENS_SEGMENT_CACHE", "FASTOKENS_INPUT_CACHE", "FASTOKENS_SPIN_US")


def thread_env(threads: int) -> dict[str, str]:
    """Environment that holds every tokenizer (and any numeric library) to `threads` threads."""
    n = str(threads)
    return {
        "RAYON_NUM_THREADS": n,  # gigatoken, fastokens, rs-bpe (rayon's global pool)
        "FASTOKENS_BPE_THREADS": n,  # fastokens' own worker threads
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "TOKENIZERS_PARALLELISM": "false",
    }


def available(name: str) -> bool:
    return importlib.util.find_spec(DISTRIBUTIONS[name][1]) is not None


def version(name: str) -> str:
    try:
        return metadata.version(DISTRIBUTIONS[name][0])
    except metadata.PackageNotFoundError:
        return "source tree"


def flat_pair(result: Any) -> tuple[list[int], list[int]]:
    """(ids, offsets) as lists from any flat batch output: a pair of arrays or buffers, an
    object or mapping with `ids` and `offsets`, or an Arrow list array."""
    if isinstance(result, dict):
        ids, offsets = result["ids"], result["offsets"]
    elif hasattr(result, "ids") and hasattr(result, "offsets"):
        ids, offsets = result.ids, result.offsets
    elif hasattr(result, "values") and hasattr(result, "offsets"):  # an Arrow list array
        ids, offsets = result.values, result.offsets
    else:
        ids, offsets = result
    return _ints(ids), _ints(offsets)


def _ints(values: Any) -> list[int]:
    if hasattr(values, "tolist"):  # numpy, pyarrow
        return [int(v) for v in values.tolist()]
    return [int(v) for v in values]


@dataclass
class Tokenizer:
    """One tokenizer, loaded for one encoding at one thread setting."""

    name: str
    encode: Callable[[str], list[int]]
    count: Callable[[str], int]
    # Batches of short documents returning one list per document, on `threads` threads.
    batch: Callable[[list[str]], list[list[int]]]
    count_batch: Callable[[list[str]], list[int]]
    # One text with every allowed thread (the single-text encode when there is no such option).
    large: Callable[[str], list[int]]
    flat: Callable[[list[str]], Any] | None = None
    notes: list[str] = field(default_factory=list)
    # More variants timed beside the others, by workload ("flat", "large"): label -> call.
    extras: dict[str, dict[str, Callable[[Any], Any]]] = field(default_factory=dict)


def load(name: str, encoding: str, threads: int, rank_path: str) -> Tokenizer:
    return _LOADERS[name](encoding, threads, rank_path)


def _lens(batch: Callable[[list[str]], list[list[int]]]) -> Callable[[list[str]], list[int]]:
    return lambda docs: [len(ids) for ids in batch(docs)]


def _devsynth(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    from devsynth.tokens import get_encoding

    enc = get_encoding(encoding)
    # The flat outputs and num_threads on one text are newer than the rest: each is probed, so
    # the comparison runs (and says what is missing) against a checkout without them.
    probe: Any = enc
    notes = []
    extras: dict[str, dict[str, Callable[[Any], Any]]] = {}

    flat: Callable[[list[str]], Any] | None = None
    try:
        probe.encode_ordinary_batch(["probe"], num_threads=1, output="numpy")
    except TypeError:
        notes.append("devsynth's encode_ordinary_batch has no output='numpy' yet")
    else:

        def flat(docs: list[str]) -> Any:
            return probe.encode_ordinary_batch(docs, num_threads=threads, output="numpy")

    try:
        probe.encode_ordinary_batch(["probe"], num_threads=1, output="arrow")
    except (TypeError, ValueError, ImportError):
        pass  # no Arrow output, or no pyarrow: the numpy form is the one compared
    else:

        def arrow(docs: list[str]) -> Any:
            return probe.encode_ordinary_batch(docs, num_threads=threads, output="arrow")

        extras["flat"] = {"devsynth, output='arrow'": arrow}

    large: Callable[[str], list[int]] = enc.encode_ordinary
    try:
        probe.encode_ordinary("probe", num_threads=1)
    except TypeError:
        notes.append("devsynth's encode_ordinary has no num_threads yet: one text is one thread")
    else:

        def on_threads(text: str) -> list[int]:
            return probe.encode_ordinary(text, num_threads=threads)  # type: ignore[no-any-return]

        large = on_threads
        extras["large"] = {"devsynth, 1 thread": enc.encode_ordinary}

    def batch(docs: list[str]) -> list[list[int]]:
        return enc.encode_ordinary_batch(docs, num_threads=threads)

    def count_batch(docs: list[str]) -> list[int]:
        return enc.count_batch(docs, num_threads=threads)

    return Tokenizer(
        "devsynth",
        enc.encode_ordinary,
        enc.count_ordinary,
        batch,
        count_batch,
        large,
        flat,
        notes,
        extras,
    )


def _tiktoken(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    from tests.support.reference import tiktoken_encoding

    enc = tiktoken_encoding(encoding)

    def batch(docs: list[str]) -> list[list[int]]:
        return enc.encode_ordinary_batch(docs, num_threads=threads)  # type: ignore[no-any-return]

    def count(text: str) -> int:
        return len(enc.encode_ordinary(text))

    return Tokenizer(
        "tiktoken", enc.encode_ordinary, count, batch, _lens(batch), enc.encode_ordinary
    )


def _fastokens(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    import fastokens
    import numpy as np

    tok = fastokens.Tokenizer.from_tiktoken(rank_path, encoding=encoding)

    def encode(text: str) -> list[int]:
        return tok.encode_ordinary(text).ids  # type: ignore[no-any-return]

    def count(text: str) -> int:
        return len(tok.encode_ordinary(text))

    def batch(docs: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch(docs, split_special_tokens=True)]

    def count_batch(docs: list[str]) -> list[int]:
        return [len(e) for e in tok.encode_batch(docs, split_special_tokens=True)]

    def flat(docs: list[str]) -> tuple[Any, Any]:
        ids, offsets = tok.encode_batch_flat(docs, split_special_tokens=True)
        return np.frombuffer(ids, np.uint32), np.frombuffer(offsets, np.uint64)

    return Tokenizer("fastokens", encode, count, batch, count_batch, encode, flat)


def _gigatoken(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    import gigatoken

    enc = gigatoken.Tokenizer.from_tiktoken(rank_path).as_tiktoken()

    def count(text: str) -> int:
        return len(enc.encode_ordinary(text))

    def batch(docs: list[str]) -> list[list[int]]:
        return enc.encode_ordinary_batch(docs, num_threads=threads)

    return Tokenizer(
        "gigatoken", enc.encode_ordinary, count, batch, _lens(batch), enc.encode_ordinary
    )


def _toktok(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    import toktok

    enc = toktok._encoding(encoding)

    def batch(docs: list[str]) -> list[list[int]]:
        ids, offsets = enc.encode_batch(docs, threads, False)
        flat = memoryview(ids).cast("I").tolist()
        bounds = memoryview(offsets).cast("q").tolist()
        return [flat[a:b] for a, b in itertools.pairwise(bounds)]

    def count_batch(docs: list[str]) -> list[int]:
        return enc.count_batch(docs, threads, False)  # type: ignore[no-any-return]

    def flat(docs: list[str]) -> Any:
        return enc.encode_batch_to_numpy(docs, threads, False)

    return Tokenizer(
        "toktok",
        enc.encode_ordinary,
        enc.count,
        batch,
        count_batch,
        enc.encode_ordinary,
        flat,
        ["toktok's batch lists are cut in Python from its flat buffers (it has no list batch)"],
    )


def _bpe_openai(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    from bpe_openai import _bindings

    tok = _bindings.tokenizer_for_encoding(encoding)

    def batch(docs: list[str]) -> list[list[int]]:
        return [tok.encode(d) for d in docs]

    def count_batch(docs: list[str]) -> list[int]:
        return [tok.count(d) for d in docs]

    return Tokenizer(
        "bpe-openai",
        tok.encode,
        tok.count,
        batch,
        count_batch,
        tok.encode,
        notes=["bpe-openai's batch is a loop on one thread (its thread pool holds the GIL)"],
    )


def _rs_bpe(encoding: str, threads: int, rank_path: str) -> Tokenizer:
    from rs_bpe.bpe import openai

    loaders = {"o200k_base": openai.o200k_base, "cl100k_base": openai.cl100k_base}
    tok = loaders[encoding]()
    options = openai.ParallelOptions(min_batch_size=1, chunk_size=100, max_threads=threads)

    def batch(docs: list[str]) -> list[list[int]]:
        if threads == 1:
            return tok.encode_batch(docs)[0]  # type: ignore[no-any-return]
        return tok.encode_batch_parallel(docs, options)[0]  # type: ignore[no-any-return]

    return Tokenizer("rs-bpe", tok.encode, tok.count, batch, _lens(batch), tok.encode)


_LOADERS: dict[str, Callable[[str, int, str], Tokenizer]] = {
    "devsynth": _devsynth,
    "tiktoken": _tiktoken,
    "fastokens": _fastokens,
    "gigatoken": _gigatoken,
    "toktok": _toktok,
    "bpe-openai": _bpe_openai,
    "rs-bpe": _rs_bpe,
}


def startup_code(name: str, encoding: str, rank_path: str) -> str:
    """Python that imports the tokenizer, loads the encoding and binds `encode` (one text to a
    list of ids): what a fresh process does before its first encode."""
    return {
        "devsynth": (
            "from devsynth.tokens import get_encoding\n"
            f"encode = get_encoding({encoding!r}).encode_ordinary\n"
        ),
        # TIKTOKEN_CACHE_DIR holds the rank files already: nothing is downloaded.
        "tiktoken": (
            f"import tiktoken\nencode = tiktoken.get_encoding({encoding!r}).encode_ordinary\n"
        ),
        "fastokens": (
            "import fastokens\n"
            f"_tok = fastokens.Tokenizer.from_tiktoken({rank_path!r}, encoding={encoding!r})\n"
            "encode = lambda text: _tok.encode_ordinary(text).ids\n"
        ),
        "gigatoken": (
            "import gigatoken\n"
            f"encode = gigatoken.Tokenizer.from_tiktoken({rank_path!r}).as_tiktoken()"
            ".encode_ordinary\n"
        ),
        "toktok": f"import toktok\nencode = toktok._encoding({encoding!r}).encode_ordinary\n",
        "bpe-openai": (
            "from bpe_openai import _bindings\n"
            f"encode = _bindings.tokenizer_for_encoding({encoding!r}).encode\n"
        ),
        "rs-bpe": f"from rs_bpe.bpe import openai\nencode = openai.{encoding}().encode\n",
    }[name]


def check_list(result: object, reference: Sequence[int]) -> bool:
    return type(result) is list and result == reference
