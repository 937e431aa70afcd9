"""Token spans (devsynth.tokens.spans): where each token lies in the text, and which tokens
hold only part of a character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth.tokens import get_encoding
from devsynth.tokens.spans import Fragment, spans_of_tokens, token_spans
from tests.support.reference import tiktoken_encoding

ENCODINGS = ["o200k_base", "cl100k_base", "r50k_base"]


def fragment_bytes(f: Fragment) -> bytes:
    return f.partial if f.is_partial else f.text.encode()


def test_an_emoji_split_over_three_tokens_is_three_partial_spans() -> None:
    enc = get_encoding("o200k_base")
    view = token_spans(enc, "a 🫠")
    assert [s.token for s in view.spans] == enc.encode("a 🫠")
    assert [(s.start, s.end) for s in view.spans] == [(0, 1), (1, 4), (4, 5), (5, 6)]
    leading_space, *cut = view.spans[1].fragments
    assert leading_space == Fragment(" ")
    assert cut == [Fragment("🫠", b"\xf0\x9f")]
    assert view.spans[2].fragments == (Fragment("🫠", b"\xab"),)
    assert view.spans[3].fragments == (Fragment("🫠", b"\xa0"),)
    assert [s.is_partial for s in view.spans] == [False, True, True, True]
    assert view.spans[1].text == " \\xf0\\x9f"
    assert (view.tokens, view.chars, view.bytes, view.partial_tokens) == (4, 3, 6, 3)
    assert view.bytes_per_token == 1.5


def test_whole_characters_are_never_partial() -> None:
    view = token_spans(get_encoding("o200k_base"), "héllo wörld, 火山 and ümlauts")
    assert view.partial_tokens == 0
    assert "".join(s.text for s in view.spans) == "héllo wörld, 火山 and ümlauts"


def test_an_empty_text_has_no_tokens_and_no_ratio() -> None:
    view = token_spans(get_encoding("o200k_base"), "")
    assert (view.tokens, view.chars, view.bytes, view.bytes_per_token) == (0, 0, 0, None)


def test_special_tokens_follow_encode_arguments() -> None:
    enc = get_encoding("cl100k_base")
    with pytest.raises(ValueError, match="endoftext"):
        token_spans(enc, "x<|endoftext|>")
    allowed = token_spans(enc, "x<|endoftext|>", allowed_special="all")
    assert [s.special for s in allowed.spans] == [False, True]
    assert allowed.spans[1].text == "<|endoftext|>"
    ordinary = token_spans(enc, "x<|endoftext|>", disallowed_special=())
    assert not any(s.special for s in ordinary.spans)
    assert ordinary.tokens > 2


def test_tokens_that_do_not_spell_the_text_are_refused() -> None:
    enc = get_encoding("o200k_base")
    with pytest.raises(ValueError, match="do not spell"):
        spans_of_tokens(enc, enc.encode("hello"), b"hello world")
    with pytest.raises(ValueError, match="do not spell"):
        spans_of_tokens(enc, enc.encode("hello"), b"world")


@given(st.text(max_size=60), st.sampled_from(ENCODINGS))
def test_spans_cover_the_text_and_mark_exactly_the_cut_characters(text: str, name: str) -> None:
    enc = get_encoding(name)
    data = text.encode("utf-8")  # st.text() draws no lone surrogates
    view = token_spans(enc, text, disallowed_special=())
    assert [s.token for s in view.spans] == tiktoken_encoding(name).encode_ordinary(text)
    assert b"".join(b"".join(fragment_bytes(f) for f in s.fragments) for s in view.spans) == data
    boundaries = {i for i in range(len(data) + 1) if i == len(data) or data[i] & 0xC0 != 0x80}
    for s in view.spans:
        assert data[s.start : s.end] == enc.decode_single_token_bytes(s.token)
        cut = s.start not in boundaries or s.end not in boundaries
        assert s.is_partial == cut
        for f in s.fragments:
            if f.is_partial:
                assert len(f.text) == 1 and f.partial in f.text.encode()
    assert view.chars == len(text) and view.bytes == len(data)
