"""A long non-ASCII str's UTF-8 is encoded by us from its code points (rust/py/str_data.rs) and
kept in the str as CPython keeps its own: the tokens, and what CPython then reads back, must be
exactly what CPython's own encoding gives."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth import _core, tokens
from tests.support.reference import tiktoken_encoding

ENCODING = "cl100k_base"

# One str of each width CPython keeps (1, 2, 4 bytes a code point), at lengths around the
# threshold (64 chars) and around the eight-char steps of the encoder.
SAMPLES = [
    base * n + tail
    for base in ("é", "ÿa", "€ ", "Ā", "世界 ", "😀", "aé世😀")
    for n in (1, 30, 63, 64, 65, 200)
    for tail in ("", "x", " end.")
]


def _fresh(text: str) -> str:
    # A new str object whose UTF-8 CPython has not kept yet (slicing a longer str copies).
    return ("#" + text)[1:]


@pytest.mark.parametrize("text", SAMPLES)
def test_tokens_and_the_kept_utf8_equal_cpythons(text: str) -> None:
    ours, ref = tokens.get_encoding(ENCODING), tiktoken_encoding(ENCODING)
    s = _fresh(text)
    assert ours.encode_ordinary(s) == ref.encode_ordinary(text)
    # CPython now reads the UTF-8 kept in the str (ours, where the fast path took it).
    assert s.encode("utf-8") == text.encode("utf-8")
    assert sys.getsizeof(s) >= sys.getsizeof(_fresh(text))
    assert ours.encode_ordinary(s) == ref.encode_ordinary(text)


def test_lone_surrogates_are_repaired_as_tiktoken_does() -> None:
    ours, ref = tokens.get_encoding(ENCODING), tiktoken_encoding(ENCODING)
    lone = ("é" * 70 + "\ud800" + "x" * 10, "\udc00" + "世界" * 40, "😀" * 40 + "\ud83d\ude00")
    for text in lone:
        assert ours.encode(_fresh(text)) == ref.encode(text)


def test_a_str_subclass_is_read_through_cpython() -> None:
    class Text(str):
        pass

    ours, ref = tokens.get_encoding(ENCODING), tiktoken_encoding(ENCODING)
    text = "naïve café — 世界 " * 20
    assert ours.encode_ordinary(Text(text)) == ref.encode_ordinary(text)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64")
    or sys.implementation.name != "cpython"
    or not (10 <= sys.version_info.minor <= 13),
    reason="the in-place read is for CPython 3.10-3.13 on x86-64",
)
def test_the_in_place_read_is_taken_where_it_is_known() -> None:
    flags = Path("/proc/cpuinfo").read_text() if sys.platform == "linux" else ""
    if " avx2" not in flags or " bmi2" not in flags:
        pytest.skip("no AVX2 here")
    assert _core.reads_str_in_place()


@given(st.text(min_size=64, max_size=400))
def test_any_long_text_encodes_as_tiktoken_does(text: str) -> None:
    ours, ref = tokens.get_encoding(ENCODING), tiktoken_encoding(ENCODING)
    s = _fresh(text)
    assert ours.encode_ordinary(s) == ref.encode_ordinary(text)
    if not any("\ud800" <= c <= "\udfff" for c in text):
        assert s.encode("utf-8") == text.encode("utf-8")
