"""Property tests: for every Python str, our tokens and decodings equal unmodified tiktoken 0.14's,
for all seven encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth.tokens import get_encoding, list_encoding_names
from tests.support.reference import tiktoken_encoding

ENCODINGS = list_encoding_names()

# Fragments that stress each part of the patterns: contractions (with U+017F, which folds to
# "s"), every kind of whitespace, digits of several scripts, letters of every case class,
# combining marks, CJK, emoji sequences, and pieces of special tokens.
FRAGMENTS = [
    "'s",
    "'S",
    "'ſ",
    "'t",
    "'ll",
    "'LL",
    "'Ve",
    "'re",
    "'m",
    "'d",
    "'",
    "''",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    " \n",
    "\x0b",
    "\x0c",
    "\x85",
    "\u2028",
    "\u3000",
    "\xa0",
    "\u200b",
    "0",
    "12",
    "123",
    "4567",
    "١٢٣",
    "²",
    "Ⅻ",
    "٣",
    "a",
    "hello",
    "World",
    "ABC",
    "aBc",
    "ǅ",
    "ǈx",
    "ʰ",
    "é",
    "É",
    "e\u0301",
    "\u0301",
    "\u0301\u0301",
    "ß",
    "İ",
    "ﬀ",
    "日本語",
    "テスト",
    "한국어",
    "中文",
    "ー",
    "𠀋",
    "😀",
    "👍🏽",
    "👩\u200d💻",
    "🇫🇷",
    "\ufe0f",
    ".",
    ",",
    "!",
    "?",
    "/",
    "//",
    "->",
    "::",
    "{",
    "}",
    "#",
    "@",
    "$",
    "%",
    "_",
    "<|",
    "|>",
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|endofprompt|>",
    "<|im_start|>",
    "<|start|>",
    "<|reserved_200100|>",
    "\ud800",
    "\udfff",
    "\ud83d\ude00",
]

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
mixed_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.characters(codec=None, exclude_categories=())),
    max_size=40,
).map("".join)
long_runs = st.tuples(
    st.sampled_from([" ", "\n", "a", "1", "!", "日", "😀", "\u0301", "\r\n", " \t"]),
    st.integers(min_value=1, max_value=300),
    st.sampled_from(["", "x", " y", "\n", "Z", "'s"]),
).map(lambda t: t[0] * t[1] + t[2])
texts = st.one_of(any_text, fragment_text, mixed_text, long_runs)


def fixed(text: str) -> str:
    """What tiktoken feeds its core after its surrogate fix-up (and so should we)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@pytest.mark.parametrize("name", ENCODINGS)
@given(text=texts)
def test_encode_ordinary_equals_tiktoken(name: str, text: str) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    expected = ref.encode_ordinary(text)
    assert ours.encode_ordinary(text) == expected
    assert ours.count_ordinary(text) == len(expected)
    assert ours.decode(expected) == ref.decode(expected)
    assert ours.decode_bytes(expected) == ref.decode_bytes(expected)
    assert ours.decode_bytes(expected) == fixed(text).encode("utf-8")


@pytest.mark.parametrize("name", ENCODINGS)
@given(text=texts)
def test_encode_with_all_specials_allowed_equals_tiktoken(name: str, text: str) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    expected = ref.encode(text, allowed_special="all")
    assert ours.encode(text, allowed_special="all") == expected
    assert ours.count(text, allowed_special="all") == len(expected)
    if name != "o200k_harmony":  # see test_harmony_shared_rank_decodes_to_its_first_name
        assert ours.decode(expected) == ref.decode(expected)


@pytest.mark.parametrize("name", ENCODINGS)
@given(text=texts)
def test_default_encode_refuses_the_same_texts_as_tiktoken(name: str, text: str) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    try:
        expected = ref.encode(text)
    except ValueError:
        with pytest.raises(ValueError):
            ours.encode(text)
        with pytest.raises(ValueError):
            ours.count(text)
        return
    assert ours.encode(text) == expected
    assert ours.count(text) == len(expected)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_harmony", "p50k_edit"])
@given(
    text=fragment_text,
    allowed=st.sets(st.sampled_from(["<|endoftext|>", "<|fim_prefix|>", "<|start|>"])),
    disallowed=st.sets(st.sampled_from(["<|endofprompt|>", "<|reserved_200100|>", "hello"])),
)
def test_mixed_allowed_and_disallowed_sets_equal_tiktoken(
    name: str, text: str, allowed: set[str], disallowed: set[str]
) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    try:
        expected = ref.encode(text, allowed_special=allowed, disallowed_special=disallowed)
    except ValueError:
        with pytest.raises(ValueError):
            ours.encode(text, allowed_special=allowed, disallowed_special=disallowed)
        return
    got = ours.encode(text, allowed_special=allowed, disallowed_special=disallowed)
    assert got == expected


@pytest.mark.parametrize("name", ENCODINGS)
@given(data=st.lists(texts, max_size=8), threads=st.sampled_from([None, 1, 2, 3]))
def test_batches_equal_tiktoken(name: str, data: list[str], threads: int | None) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    expected = [ref.encode_ordinary(t) for t in data]
    assert ours.encode_ordinary_batch(data, num_threads=threads) == expected
    assert ours.count_batch(data, num_threads=threads, disallowed_special=()) == [
        len(e) for e in expected
    ]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base", "r50k_base"])
@given(piece=st.binary(min_size=1, max_size=200))
def test_single_piece_bpe_equals_tiktoken(name: str, piece: bytes) -> None:
    ours, ref = get_encoding(name), tiktoken_encoding(name)
    assert ours._encode_single_piece(piece) == ref._encode_single_piece(piece)
