"""Chunked counting equals whole-text counting: a stream or file is cut into chunks only where a
cut cannot change the count; whatever the chunk size and however the bytes arrive (chars and
bad bytes split between reads), the total is the count of the whole text decoded at once, and
tiktoken's. The cut rules themselves are proved in rust/bulk/cut.rs and property-tested there
against the regex engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devsynth import _core
from devsynth.tokens import get_encoding, list_encoding_names
from devsynth.tokens.files import FileCount, count_found
from tests.bulk.conftest import tiktoken_count, whole_count

# Pieces that make pre-tokenizers disagree when they can: whitespace of every kind and
# length, newlines before letters, slashes (o200k takes them after newlines), contractions,
# digits after letters, punctuation after words (minified JSON), marks, CJK, emoji, and
# bytes that are not UTF-8.
TRICKY = [
    " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "/", "'s", "'LL", "'ve", "DON'T", "word",
    "Word", "x", "12345", "ab12", "9", ".", "!?", "(", "日本語", "é", "e\u0301", "\u3000",
    "\u0085", "\u00a0", "\u2028", "😀", "ſ", "Ⅻ", "١٢٣", "<|endoftext|>", '"', ":", "{",
    "},", '{"k":1,"t":"don\'t"}',
]  # fmt: skip

pieces = st.one_of(
    st.sampled_from(TRICKY).map(str.encode),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=4).map(str.encode),
    st.binary(min_size=1, max_size=3),
)
streams = st.lists(pieces, max_size=80).map(b"".join)


def count_in_pieces(data: bytes, encoding: str, chunk: int, splits: list[int]) -> int:
    counter = _core.StreamCounter(
        get_encoding(encoding)._core, chunk_bytes=chunk, skip_binary=False
    )
    at = 0
    for cut in sorted(splits):
        cut = min(max(cut, at), len(data))
        assert counter.feed(data[at:cut])
        at = cut
    assert counter.feed(data[at:])
    status, tokens, nbytes, _ = counter.finish()
    assert status == "ok"
    assert nbytes == len(data)
    return tokens


@given(
    data=streams,
    encoding=st.sampled_from(list_encoding_names()),
    chunk=st.integers(1, 48),
    splits=st.lists(st.integers(0, 600), max_size=6),
)
def test_chunked_stream_counts_equal_the_whole_text_and_tiktoken(
    data: bytes, encoding: str, chunk: int, splits: list[int]
) -> None:
    got = count_in_pieces(data, encoding, chunk, splits)
    assert got == whole_count(data, encoding)
    assert got == tiktoken_count(data, encoding)


@given(data=streams, chunk=st.integers(1, 32))
def test_chunked_files_count_as_whole_files(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int
) -> None:
    path = tmp_path_factory.mktemp("chunks") / "f.txt"
    path.write_bytes(data)
    if b"\0" in data[:8192]:
        return  # binary: skipped, tested elsewhere
    [result] = count_found([(str(path), len(data))], "cl100k_base", chunk_bytes=chunk)
    assert result == FileCount(str(path), whole_count(data, "cl100k_base"), len(data))


@pytest.mark.parametrize("encoding", list_encoding_names())
@pytest.mark.parametrize("chunk", [1, 97, 4096])
def test_real_text_counts_the_same_in_chunks(
    real_texts: dict[str, str], encoding: str, chunk: int
) -> None:
    data = "\n".join(real_texts.values()).encode()
    data = data.replace(b"\n", b"\r\n", 200)  # some CRLF lines too
    assert count_in_pieces(data, encoding, chunk, [1, 1000, 1001, 5003]) == whole_count(
        data, encoding
    )


def test_a_custom_encoding_is_counted_whole(tmp_path: Path) -> None:
    """No cut rule is known for other patterns: the text is counted in one piece, still right."""
    from devsynth.tokens import Encoding

    base = get_encoding("r50k_base")
    enc = Encoding(
        "custom",
        pat_str=r"\S+|\s+",
        mergeable_ranks=base._mergeable_ranks,
        special_tokens={},
    )
    data = ("some words, and more words\n" * 500).encode()
    counter = _core.StreamCounter(enc._core, chunk_bytes=16)
    counter.feed(data)
    assert counter.finish()[1] == enc.count_ordinary(data.decode())
