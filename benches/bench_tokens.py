"""pytest-benchmark suites for the tokenizer and the chat functions, each beside tiktoken where
tiktoken has the same operation (compare within a group: absolute times are noisy here).

    pytest benches/bench_tokens.py --benchmark-group-by=group --benchmark-columns=mean,ops
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from devsynth.application.embeddings import hash_embedding, hash_embeddings
from devsynth.application.utils.token_tracker import TokenTracker
from devsynth.tokens import get_encoding
from tests.support import corpus
from tests.support.reference import tiktoken_encoding

SIZE = 300_000
TEXTS = {
    "prose": corpus.english_prose(SIZE),
    "code": corpus.source_code(SIZE),
    "multilingual": corpus.multilingual(SIZE),
}
DOCS = corpus.short_documents(2_000)
IMPLS: dict[str, Callable[[str], Any]] = {"devsynth": get_encoding, "tiktoken": tiktoken_encoding}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", TEXTS)
def test_encode(benchmark: Any, impl: str, kind: str) -> None:
    benchmark.group = f"encode o200k {kind}"
    enc = IMPLS[impl]("o200k_base")
    benchmark(enc.encode_ordinary, TEXTS[kind])


@pytest.mark.parametrize("kind", TEXTS)
def test_count(benchmark: Any, kind: str) -> None:
    benchmark.group = f"encode o200k {kind}"
    benchmark(get_encoding("o200k_base").count_ordinary, TEXTS[kind])


@pytest.mark.parametrize("impl", IMPLS)
def test_encode_batch_short_documents(benchmark: Any, impl: str) -> None:
    benchmark.group = "batch of 2,000 short documents"
    enc = IMPLS[impl]("o200k_base")
    if impl == "devsynth":
        benchmark(enc.encode_ordinary_batch, DOCS, num_threads=2)
    else:
        benchmark(enc.encode_ordinary_batch, DOCS)


def test_count_batch_short_documents(benchmark: Any) -> None:
    benchmark.group = "batch of 2,000 short documents"
    benchmark(get_encoding("o200k_base").count_batch, DOCS, num_threads=2)


@pytest.mark.parametrize("impl", IMPLS)
def test_decode(benchmark: Any, impl: str) -> None:
    benchmark.group = "decode o200k prose"
    enc = IMPLS[impl]("o200k_base")
    tokens = enc.encode_ordinary(TEXTS["prose"])
    benchmark(enc.decode, tokens)


@pytest.mark.parametrize("module", ["devsynth.tokens", "tiktoken"])
def test_load_in_a_fresh_process(benchmark: Any, module: str) -> None:
    benchmark.group = "import + get_encoding + first encode"
    code = f"import {module} as m; m.get_encoding('o200k_base').encode('hello')"
    benchmark.pedantic(
        subprocess.run, args=([sys.executable, "-c", code],), kwargs={"check": True}, rounds=5
    )


CONVERSATION = [{"role": "system", "content": "You are a careful assistant."}] + [
    {"role": "user" if i % 2 else "assistant", "content": DOCS[i % len(DOCS)][:200]}
    for i in range(100_000)
]


def test_prune_100k_messages(benchmark: Any) -> None:
    benchmark.group = "prune a 100,000-message conversation to 8,192 tokens"
    tracker = TokenTracker(model="gpt-4o")
    benchmark(tracker.prune_conversation, CONVERSATION, 8_192)


def test_prune_100k_messages_python_loop_over_tiktoken(benchmark: Any) -> None:
    """What an application does without the core: count from the newest back with tiktoken."""
    benchmark.group = "prune a 100,000-message conversation to 8,192 tokens"
    enc = tiktoken_encoding("o200k_base")

    def prune(conversation: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
        system = [m for m in conversation if m["role"] == "system"]
        total = 3 + sum(
            3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"]))
            for m in system
        )
        kept: list[dict[str, str]] = []
        for m in reversed(conversation):
            if m["role"] == "system":
                continue
            cost = 3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"]))
            if total + cost > budget:
                break
            total += cost
            kept.append(m)
        return system + kept[::-1]

    benchmark(prune, CONVERSATION, 8_192)


def test_prune_100k_messages_counting_every_message_with_tiktoken(benchmark: Any) -> None:
    """The reference document's strategy as applications usually write it: count every
    message, then drop the oldest non-system ones until the rest fits."""
    benchmark.group = "prune a 100,000-message conversation to 8,192 tokens"
    enc = tiktoken_encoding("o200k_base")

    def prune(conversation: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
        costs = [
            3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"]))
            for m in conversation
        ]
        total = 3 + sum(costs)
        keep = [True] * len(conversation)
        for i, m in enumerate(conversation):
            if total <= budget:
                break
            if m["role"] != "system":
                keep[i] = False
                total -= costs[i]
        return [m for m, k in zip(conversation, keep, strict=True) if k]

    benchmark.pedantic(prune, args=(CONVERSATION, 8_192), rounds=3)


def test_count_conversation_10k_messages(benchmark: Any) -> None:
    benchmark.group = "count a 10,000-message conversation"
    tracker = TokenTracker(model="gpt-4o")
    benchmark(tracker.count_conversation_tokens, CONVERSATION[:10_000])


def test_hash_embedding_single(benchmark: Any) -> None:
    benchmark.group = "hash embeddings"
    benchmark(hash_embedding, DOCS[0])


def test_hash_embeddings_batch_2000(benchmark: Any) -> None:
    benchmark.group = "hash embeddings"
    benchmark(hash_embeddings, DOCS, num_threads=2)
