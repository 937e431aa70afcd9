"""The SSE decoder: events survive any split of the byte stream, agree with a plain reading
of the specification on any bytes, and cost linear time with a bounded event size."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsynth.application.llm.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    EventTooLargeError,
    SSEDecoder,
    SSEEvent,
)

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


def test_digits_that_are_not_ascii_are_no_retry_value() -> None:
    # "²".isdigit() is true but int("²") fails: the field is ignored, not a crash.
    assert decode([b"retry: \xc2\xb2\ndata: x\n\n"]) == [SSEEvent(data="x")]


def test_a_line_end_alone_at_the_stream_end_dispatches_nothing() -> None:
    # "data: x\r" then the end: the event never got its blank line.
    assert decode([b"data: x\r"]) == []


# -- a plain reading of the specification, as an oracle -------------------------------------


def reference(raw: bytes) -> list[SSEEvent]:
    """The whole stream at once: decode, split into lines, interpret each line."""
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the piece after the last line end is no line
    events: list[SSEEvent] = []
    data: list[str] = []
    kind, last_id, retry = "", None, None
    for line in lines:
        if line == "":
            if data:
                events.append(SSEEvent("\n".join(data), kind or "message", last_id, retry))
                retry = None
            data, kind = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    return events


def split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(raw) + 1) for c in cuts), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(points)]


_LINES = st.sampled_from(
    [
        "data: x",
        "data:y",
        "data: é🌍",
        "data",
        "data:",
        "event: e",
        "event:",
        "id: 1",
        "id: a\0b",
        "retry: 15",
        "retry: 1x",
        "retry: \u00b2",
        ": ping",
        ":",
        "",
        "",
        "\ufeffdata: bom",
        "unknown: field",
    ]
)
_ENDS = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_LINES, _ENDS), max_size=30))
    text = "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text = "\ufeff" + text
    if draw(st.booleans()):
        text += draw(_LINES)  # an unterminated tail
    return text.encode()


@settings(max_examples=400, deadline=None)
@given(event_streams(), st.lists(st.integers(min_value=0), max_size=20))
def test_event_shaped_streams_agree_with_the_reference_under_any_chunking(
    raw: bytes, cuts: list[int]
) -> None:
    assert decode(split(raw, cuts)) == reference(raw)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_agree_with_the_reference_under_any_chunking(
    raw: bytes, cuts: list[int]
) -> None:
    assert decode(split(raw, cuts)) == reference(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"data: ", b"x", b"\n", b"\r", b"\xc3", b"\xa9", b":", b"\xf0"])),
    st.lists(st.integers(min_value=0), max_size=20),
)
def test_only_line_ends_colons_and_broken_utf8(pieces: list[bytes], cuts: list[int]) -> None:
    raw = b"".join(pieces)
    assert decode(split(raw, cuts)) == reference(raw)


# -- linear time and a bounded event ----------------------------------------------------------


def test_one_long_line_in_small_chunks_takes_linear_time() -> None:
    # 12 MiB in 16 KiB chunks: quadratic re-joining took seconds here; linear takes a blink.
    size, step = 12 * 1024 * 1024, 16 * 1024
    raw = b"data: " + b"a" * size + b"\n\n"
    decoder = SSEDecoder()
    started = time.perf_counter()
    events: list[SSEEvent] = []
    for i in range(0, len(raw), step):
        events += decoder.feed(raw[i : i + step])
    elapsed = time.perf_counter() - started
    assert [len(e.data) for e in events] == [size]
    assert elapsed < 1.5, f"{elapsed:.2f} s"


def test_a_line_over_the_limit_raises_without_buffering_it_all() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    decoder.feed(b"data: " + b"a" * 900)
    with pytest.raises(EventTooLargeError, match="1000 characters"):
        decoder.feed(b"a" * 200)


def test_an_event_of_many_lines_over_the_limit_raises() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: 0123456789\n" * 100)


def test_a_long_comment_line_is_bounded_too() -> None:
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(EventTooLargeError):
        for _ in range(10):
            decoder.feed(b": " + b"p" * 20)


def test_events_under_the_limit_pass_and_the_count_restarts_after_each() -> None:
    decoder = SSEDecoder(max_event_size=100)
    events = decoder.feed(b"data: " + b"a" * 80 + b"\n\n")
    events += decoder.feed(b"data: " + b"b" * 80 + b"\n\n")
    assert [len(e.data) for e in events] == [80, 80]
    assert DEFAULT_MAX_EVENT_SIZE >= 1024 * 1024
