"""Whole-corpus parity on real text: every language's translation catalogues, English prose and
the standard library's source, compared token for token with tiktoken."""

from __future__ import annotations

import pytest

from devsynth.tokens import get_encoding, list_encoding_names
from tests.support import corpus
from tests.support.reference import tiktoken_encoding

CORPUS_BYTES = 1_500_000


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {
        "multilingual": corpus.multilingual(CORPUS_BYTES),
        "code": corpus.source_code(CORPUS_BYTES),
        "prose": corpus.english_prose(CORPUS_BYTES // 3),
    }


def test_corpus_covers_many_languages() -> None:
    assert len(corpus.catalogue_strings(per_language_bytes=500)) >= 50


@pytest.mark.parametrize("name", list_encoding_names())
@pytest.mark.parametrize("kind", ["multilingual", "code", "prose"])
def test_corpus_tokens_equal_tiktoken(name: str, kind: str, texts: dict[str, str]) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    text = texts[kind]
    expected = ref.encode_ordinary(text)
    got = ours.encode_ordinary(text)
    if got != expected:  # point at the first difference, not a million-element diff
        i = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        context = ref.decode(expected[max(0, i - 5) : i + 5])
        pytest.fail(f"first difference at token {i}, near {context!r}")
    assert ours.count_ordinary(text) == len(expected)
    # Line by line too: many short inputs end in whitespace, which the patterns treat apart.
    lines = text.splitlines(keepends=True)[:3000]
    assert ours.encode_ordinary_batch(lines) == [ref.encode_ordinary(x) for x in lines]
