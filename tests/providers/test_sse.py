"""The SSE decoder: events survive any split of the byte stream."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from devsynth.application.llm.sse import SSEDecoder, SSEEvent

STREAM = (
    ": a comment the server sends as a keep-alive\r\n"
    "event: greeting\r\n"
    "data: héllo wörld 🌍\r\n"
    "data: second line\r\n"
    "\r\n"
    "data: plain LF\n"
    "\n"
    "data: only CR\r"
    "\r"
    "id: 7\n"
    "retry: 1500\n"
    "data:no space after colon\n"
    "\n"
    ":ping\n\n"
    "data: 日本語のテキスト\r\n\r\n"
).encode()

EXPECTED = [
    SSEEvent(data="héllo wörld 🌍\nsecond line", event="greeting"),
    SSEEvent(data="plain LF"),
    SSEEvent(data="only CR"),
    SSEEvent(data="no space after colon", id="7", retry=1500),
    SSEEvent(data="日本語のテキスト", id="7"),
]


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events + decoder.close()


def test_whole_stream_in_one_chunk() -> None:
    assert decode([STREAM]) == EXPECTED


def test_every_single_split_point_gives_the_same_events() -> None:
    # Covers CR|LF of a CRLF split apart, UTF-8 sequences split mid-character, split fields.
    for cut in range(1, len(STREAM)):
        assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_byte_by_byte() -> None:
    assert decode([bytes([b]) for b in STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    assert decode([STREAM[a:b] for a, b in itertools.pairwise(points)]) == EXPECTED


def test_cr_at_chunk_end_followed_by_lf_is_one_line_break() -> None:
    # "data: a\r" + "\ndata: b\r\n\r\n": had the CR and LF counted twice, the empty line
    # between them would dispatch "a" alone.
    assert decode([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [SSEEvent(data="a\nb")]


def test_unterminated_last_event_is_discarded() -> None:
    assert decode([b"data: complete\n\ndata: cut off"]) == [SSEEvent(data="complete")]


def test_comments_and_event_without_data_dispatch_nothing() -> None:
    assert decode([b": ping\n\nevent: nothing\n\n"]) == []


def test_leading_bom_is_ignored() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent(data="x")]


def test_empty_data_line_dispatches_empty_data() -> None:
    assert decode([b"data:\n\n"]) == [SSEEvent(data="")]


def test_pending_cr_survives_a_chunk_that_decodes_to_nothing() -> None:
    # A chunk that is empty, or only the first byte of a character, must not make the
    # decoder forget that the last chunk ended in CR (the LF that follows belongs to it).
    assert decode([b"data: a\r", b"", b"\ndata: b\n\n"]) == [SSEEvent(data="a\nb")]
    assert decode([b"data: a\r", b"\xc3", b"\xa9\ndata: b\n\n"]) == [SSEEvent(data="a\nb")]
