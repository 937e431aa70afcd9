"""Token ids to text chunks: whole characters only, stop strings cut, nothing lost."""

from __future__ import annotations

from tokenizers import Tokenizer

from devsynth.application.offline.text_stream import REPLACEMENT, TextAssembler
from tests.support.tiny_decoder import TinyModel

TEXT = "naïve café: 日本語 and 🙂🚀!"


def pieces_decoder(pieces: list[str]):  # ids index a list of strings
    return lambda ids: "".join(pieces[i] for i in ids)


def push_all(assembler: TextAssembler, ids: list[int]) -> list[str]:
    chunks = [assembler.push(i) for i in ids]
    chunks.append(assembler.finish())
    return chunks


def byte_tokens(tokenizer: Tokenizer, text: str) -> list[int]:
    """``text`` as single-byte tokens, so every multi-byte character is split."""
    alphabet = _byte_level_alphabet()
    return [tokenizer.token_to_id(alphabet[b]) for b in text.encode("utf-8")]


def _byte_level_alphabet() -> list[str]:
    # GPT-2's byte-to-character table: printable bytes map to themselves.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def test_characters_split_across_tokens_are_released_whole(tiny_model: TinyModel) -> None:
    tokenizer = tiny_model.tokenizer
    ids = byte_tokens(tokenizer, TEXT)
    assert None not in ids
    decode = lambda part: tokenizer.decode(part)  # noqa: E731
    # Decoding token by token breaks characters: the naive stream would show U+FFFD.
    assert REPLACEMENT in "".join(decode([i]) for i in ids)
    assembler = TextAssembler(decode)
    chunks = push_all(assembler, ids)
    assert not any(REPLACEMENT in chunk for chunk in chunks)
    assert "".join(chunks) == TEXT == assembler.text


def test_merged_tokens_stream_to_the_decoded_text(tiny_model: TinyModel) -> None:
    tokenizer = tiny_model.tokenizer
    ids = tokenizer.encode(TEXT).ids
    chunks = push_all(TextAssembler(tokenizer.decode), ids)
    assert "".join(chunks) == tokenizer.decode(ids) == TEXT
    assert len([c for c in chunks if c]) > 5  # released as it goes, not at the end


def test_an_unfinished_character_at_the_end_stays_as_the_decoder_gives_it(
    tiny_model: TinyModel,
) -> None:
    tokenizer = tiny_model.tokenizer
    ids = byte_tokens(tokenizer, "ok 🙂")[:-2]  # two of the emoji's four bytes
    assembler = TextAssembler(tokenizer.decode)
    chunks = push_all(assembler, ids)
    assert chunks[-1].startswith(REPLACEMENT)
    assert "".join(chunks) == tokenizer.decode(ids)


def test_text_stops_before_a_stop_string_spanning_tokens() -> None:
    pieces = ["he", "llo ", "wor", "ld S", "TO", "P more", " and more"]
    assembler = TextAssembler(pieces_decoder(pieces), stop=["STOP"])
    chunks = [assembler.push(i) for i in range(4)]
    assert chunks == ["he", "llo ", "wor", "ld "]  # "S" could start STOP: held back
    assert assembler.push(4) == ""
    assert assembler.push(5) == ""
    assert assembler.stopped
    assert assembler.push(6) == ""
    assert assembler.finish() == ""
    assert assembler.text == "hello world "


def test_held_back_text_is_released_when_it_is_not_a_stop_string() -> None:
    assembler = TextAssembler(pieces_decoder(["a S", "x", " b S"]), stop=["ST"])
    assert assembler.push(0) == "a "
    assert assembler.push(1) == "Sx"
    assert assembler.push(2) == " b "
    assert assembler.finish() == "S"
    assert not assembler.stopped
    assert assembler.text == "a Sx b S"


def test_the_earliest_of_several_stop_strings_wins() -> None:
    assembler = TextAssembler(pieces_decoder(["one two three"]), stop=["three", "two"])
    assert assembler.push(0) == "one "
    assert assembler.stopped
