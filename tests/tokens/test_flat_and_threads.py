"""Beyond tiktoken: flat batch output (NumPy, Arrow) with no Python object per token, and one
large text encoded on several threads, both giving exactly tiktoken's tokens."""

from __future__ import annotations

import gc
import itertools
import sys
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth import tokens
from tests.support import corpus
from tests.support.reference import tiktoken_encoding

NAMES = ["o200k_base", "cl100k_base", "r50k_base"]


@pytest.fixture(scope="module")
def large_text() -> str:
    # Over 64 KiB a part for two and four threads, with prose, code and many scripts.
    return (
        corpus.english_prose(120_000) + corpus.source_code(120_000) + corpus.multilingual(120_000)
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("threads", [2, 4])
def test_one_large_text_on_several_threads_equals_tiktoken(
    name: str, threads: int, large_text: str
) -> None:
    enc, ref = tokens.get_encoding(name), tiktoken_encoding(name)
    expected = ref.encode_ordinary(large_text)
    assert enc.encode_ordinary(large_text, num_threads=threads) == expected
    assert enc.encode(large_text, num_threads=threads) == expected
    assert enc.count_ordinary(large_text, num_threads=threads) == len(expected)
    assert enc.count(large_text, num_threads=threads) == len(expected)


def test_lists_filled_on_threads_count_their_references_exactly() -> None:
    # The pool's threads store the ints of a large text's list; the small ints CPython shares
    # are counted afterwards, once per token, so each list holds exactly its references.
    # The collector stays off: freeing other tests' garbage would change the counts.
    gc.collect()
    gc.disable()
    try:
        check_reference_counts_of_lists_filled_on_threads()
    finally:
        gc.enable()


def check_reference_counts_of_lists_filled_on_threads() -> None:
    enc = tokens.get_encoding("cl100k_base")
    text = "Numbers 0 1 2 3, commas, dots. And (parens)!\n" * 4_000
    # Made first: the reference's own tables hold references to small ints too.
    expected = tiktoken_encoding("cl100k_base").encode_ordinary(text)
    first = enc.encode_ordinary(text, num_threads=2)
    small = sorted({t for t in first if t <= 256})
    assert len(small) > 5

    def refs() -> list[int]:
        return [sys.getrefcount(t) for t in small]

    before = refs()
    assert first == expected
    assert all(sys.getrefcount(t) > 2**31 for t in first if t > 256)

    def held_and_given_back(make: Callable[[int], list[int]], threads: int) -> None:
        held = make(threads)
        assert held == first
        if sys.version_info < (3, 12):  # from 3.12 small ints are immortal, their count fixed
            assert refs() == [b + first.count(t) for b, t in zip(before, small, strict=True)]
        del held
        assert refs() == before

    lines = text.splitlines(keepends=True)

    def whole(threads: int) -> list[int]:
        return enc.encode_ordinary(text, num_threads=threads)

    def batched(threads: int) -> list[int]:
        lists = enc.encode_ordinary_batch(lines, num_threads=threads)
        return list(itertools.chain.from_iterable(lists))

    # On two threads the pool's threads store the ints; on one, the calling thread stores and
    # tallies them the same way. A batch's lists are filled the same way too.
    for threads in (2, 1):
        for make in (whole, batched):
            held_and_given_back(make, threads)


def test_threads_keep_the_special_token_check() -> None:
    enc = tokens.get_encoding("o200k_base")
    text = "word " * 40_000 + "<|endoftext|>" + " more" * 40_000
    with pytest.raises(ValueError, match="endoftext"):
        enc.encode(text, num_threads=2)
    with pytest.raises(ValueError, match="endoftext"):
        enc.count(text, num_threads=2)
    # Allowed specials take the single-thread path and still work.
    ref = tiktoken_encoding("o200k_base")
    assert enc.encode(text, allowed_special="all", num_threads=2) == ref.encode(
        text, allowed_special="all"
    )


def test_a_text_with_no_safe_cut_is_encoded_whole_on_threads() -> None:
    enc, ref = tokens.get_encoding("o200k_base"), tiktoken_encoding("o200k_base")
    text = "ab" * 150_000  # one piece: no cut can be proved safe
    assert enc.encode_ordinary(text, num_threads=4) == ref.encode_ordinary(text)


def test_bad_thread_counts_are_refused_clearly() -> None:
    enc = tokens.get_encoding("o200k_base")
    with pytest.raises((ValueError, OverflowError, TypeError)):
        enc.encode_ordinary("x " * 100_000, num_threads=0)


@pytest.mark.parametrize("name", NAMES)
def test_flat_numpy_batch_equals_the_lists(name: str) -> None:
    enc = tokens.get_encoding(name)
    docs = [*corpus.short_documents(300), "", "é", "  \n"]
    lists = enc.encode_ordinary_batch(docs, num_threads=2)
    ids, offsets = enc.encode_ordinary_batch(docs, num_threads=2, output="numpy")
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64
    assert len(offsets) == len(docs) + 1 and offsets[0] == 0 and offsets[-1] == len(ids)
    rebuilt = [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(docs))]
    assert rebuilt == lists
    ids[:1] = 0  # writable, as arrays users build themselves are


@pytest.mark.parametrize("name", NAMES)
def test_flat_arrow_batch_equals_the_lists(name: str) -> None:
    enc = tokens.get_encoding(name)
    docs = corpus.short_documents(100)
    arrow = enc.encode_ordinary_batch(docs, output="arrow")
    assert isinstance(arrow, pa.LargeListArray)
    assert arrow.type == pa.large_list(pa.uint32())
    assert arrow.to_pylist() == enc.encode_ordinary_batch(docs)


def test_flat_encode_batch_keeps_special_token_rules() -> None:
    enc = tokens.get_encoding("cl100k_base")
    docs = ["a <|endoftext|> b", "plain"]
    ids, offsets = enc.encode_batch(docs, allowed_special="all", output="numpy")
    assert ids[offsets[0] : offsets[1]].tolist() == enc.encode(docs[0], allowed_special="all")
    with pytest.raises(ValueError, match="endoftext"):
        enc.encode_batch(docs, output="numpy")
    with pytest.raises(ValueError, match="output"):
        enc.encode_batch(docs, output="tensor")  # type: ignore[call-overload]


def test_empty_batches_are_flat_too() -> None:
    enc = tokens.get_encoding("o200k_base")
    ids, offsets = enc.encode_ordinary_batch([], output="numpy")
    assert ids.size == 0 and offsets.tolist() == [0]
    assert len(enc.encode_ordinary_batch([], output="arrow")) == 0


@given(st.text(max_size=300))
def test_encode_to_numpy_equals_encode(text: str) -> None:
    enc = tokens.get_encoding("o200k_base")
    array = enc.encode_to_numpy(text, disallowed_special=())
    assert array.dtype == np.uint32
    assert array.tolist() == enc.encode(text, disallowed_special=())
