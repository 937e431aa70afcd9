"""Text without any model: the same prompt and settings give the same text everywhere.

Everything derives from a SHA-256 digest of the prompt and the sampling settings (never
Python's ``hash()``, which changes from process to process), so CI runs are repeatable.
The text quotes the start of the prompt and continues with sentences made of the
prompt's own words, so tests can see which prompt produced it. ``max_tokens`` (counted
with the cl100k_base encoding of the core) cuts the text, and a shorter limit gives a
prefix of the longer one's text; stop strings cut it too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from devsynth.application.offline.settings import GenerationSettings
from devsynth.domain.llm import Message
from devsynth.tokens import Encoding, get_encoding

ENCODING = "cl100k_base"
_QUOTED_WORDS = 12
_FALLBACK_WORDS = ("offline", "deterministic", "response", "text")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class DeterministicText:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "length" when max_tokens cut it, else "stop"


@lru_cache(maxsize=1)
def encoding() -> Encoding:
    return get_encoding(ENCODING)


def generate_deterministic(
    prompt: str, settings: GenerationSettings, context: Sequence[Message] = ()
) -> DeterministicText:
    """The text for ``prompt`` under ``settings``; earlier chat ``context`` changes it too."""
    digest = _digest(prompt, settings, context)
    text = _full_text(prompt, digest)
    finish = "stop"
    tokens = encoding().encode_ordinary(text)
    if len(tokens) > settings.max_tokens:
        text = _prefix_within(tokens, settings.max_tokens)
        finish = "length"
    hits = [i for stop in settings.stop if (i := text.find(stop)) >= 0]
    if hits:
        text, finish = text[: min(hits)], "stop"
    return DeterministicText(
        text=text,
        prompt_tokens=encoding().count_ordinary(prompt),
        completion_tokens=encoding().count_ordinary(text),
        finish_reason=finish,
    )


def chunks(text: str) -> Iterator[str]:
    """``text`` in word-sized pieces (with their leading spaces) that join back to it."""
    start = 0
    for match in re.finditer(r"\s+\S+", text):
        if match.start() > start:
            yield text[start : match.start()]
        yield match.group()
        start = match.end()
    if start < len(text):
        yield text[start:]


def _digest(prompt: str, settings: GenerationSettings, context: Sequence[Message]) -> bytes:
    # max_tokens and stop only cut the text, so they stay out: a shorter limit gives a prefix.
    key: dict[str, Any] = {
        "prompt": prompt,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k,
        "seed": settings.seed,
    }
    if context:
        key["context"] = [[str(m.get("role")), str(m.get("content"))] for m in context]
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).digest()


def _stream(digest: bytes) -> Iterator[int]:
    """Endless pseudo-random bytes from the digest (SHA-256 in counter mode)."""
    counter = 0
    while True:
        yield from hashlib.sha256(digest + counter.to_bytes(8, "big")).digest()
        counter += 1


def _full_text(prompt: str, digest: bytes) -> str:
    words = _WORD.findall(prompt)
    quoted = " ".join(words[:_QUOTED_WORDS]) + (" ..." if len(words) > _QUOTED_WORDS else "")
    vocabulary = list(dict.fromkeys(w.lower() for w in words)) or list(_FALLBACK_WORDS)
    randomness = _stream(digest)
    sentences = [f'Offline response {digest.hex()[:8]} to "{quoted}".']
    for _ in range(3 + next(randomness) % 4):
        size = 4 + next(randomness) % 6
        picked = [vocabulary[next(randomness) % len(vocabulary)] for _ in range(size)]
        sentences.append(" ".join(picked).capitalize() + ".")
    return " ".join(sentences)


def _prefix_within(tokens: list[int], limit: int) -> str:
    """The longest prefix of the tokens' text, in whole characters, within ``limit`` tokens."""
    enc = encoding()
    for size in range(limit, -1, -1):
        text = enc.decode_bytes(tokens[:size]).decode("utf-8", errors="ignore")
        if enc.count_ordinary(text) <= limit:
            return text
    return ""
