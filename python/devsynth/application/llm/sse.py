"""An incremental Server-Sent Events decoder: bytes in, events out, in linear time.

Network chunks split anywhere: inside a UTF-8 character, between the CR and LF of a CRLF, in
the middle of a field. The decoder keeps what it cannot finish yet and carries on with the
next chunk. Lines end with CR, LF or CRLF; ``data:`` lines of one event are joined with LF;
lines starting with ``:`` are comments (keep-alive pings) and are dropped. An event is
dispatched at a blank line; one still open when the stream ends is discarded, as the SSE
specification says (a provider notices the missing terminator).

Each byte is decoded and scanned once: an unfinished line is kept as a list of pieces and
joined when its end arrives, so one long line costs what its length costs. A line or an event
larger than ``max_event_size`` characters raises :class:`EventTooLargeError` instead of
growing without bound.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024  # characters; an event is a few KiB in practice

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event. ``event`` is ``"message"`` when the server named none."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class EventTooLargeError(ValueError):
    """A line or an event longer than the decoder's ``max_event_size``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a server-sent event exceeded {limit} characters")
        self.limit = limit


class SSEDecoder:
    """Feed it bytes with :meth:`feed`; it returns the events those bytes completed."""

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be positive")
        self.max_event_size = max_event_size
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pieces: list[str] = []  # the unfinished line, in the pieces it arrived in
        self._pending = 0  # characters in _pieces
        self._pending_cr = False  # the last text ended in CR: a following LF belongs to it
        self._started = False
        self._data: list[str] = []
        self._data_size = 0  # characters in _data, with the LFs that will join them
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._utf8.decode(chunk)
        if not text:  # an empty chunk, or part of a character: a pending CR stays pending
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        start = 0
        if self._pending_cr and text.startswith("\n"):
            start = 1
        self._pending_cr = False
        events: list[SSEEvent] = []
        for end in _LINE_END.finditer(text, start):
            line = text[start : end.start()]
            if self._pieces:
                self._pieces.append(line)
                line = "".join(self._pieces)
                self._pieces.clear()
                self._pending = 0
            self._check(len(line))
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = end.end()
        if start < len(text):
            rest = text[start:]
            self._check(self._pending + len(rest))
            self._pieces.append(rest)
            self._pending += len(rest)
        elif text.endswith("\r"):
            self._pending_cr = True  # the LF, if any, comes with the next chunk
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an event without its blank line is discarded, as is a last line
        without its line end (it could only have added to that event)."""
        self._utf8.decode(b"", final=True)
        self._pieces.clear()
        self._pending = 0
        self._reset_event()
        return []

    def _check(self, line_size: int) -> None:
        if line_size + self._data_size > self.max_event_size:
            raise EventTooLargeError(self.max_event_size)

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._id,
            retry=self._retry,
        )
        self._reset_event()
        return event

    def _reset_event(self) -> None:
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry = None


__all__ = ["DEFAULT_MAX_EVENT_SIZE", "EventTooLargeError", "SSEDecoder", "SSEEvent"]
