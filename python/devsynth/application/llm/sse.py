"""An incremental Server-Sent Events decoder: bytes in, events out.

Network chunks split anywhere: inside a UTF-8 character, between the CR and LF of a CRLF, in
the middle of a field. The decoder keeps what it cannot finish yet and carries on with the
next chunk. Lines end with CR, LF or CRLF; ``data:`` lines of one event are joined with LF;
lines starting with ``:`` are comments (keep-alive pings) and are dropped. An event is
dispatched at a blank line; one still open when the stream ends is discarded, as the SSE
specification says (a provider notices the missing terminator).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event. ``event`` is ``"message"`` when the server named none."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it bytes with :meth:`feed`; it returns the events those bytes completed."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_cr = False  # the last chunk ended in CR: a following LF belongs to it
        self._started = False
        self._data: list[str] = []
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
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        return self._lines(self._buffer + text)

    def close(self) -> list[SSEEvent]:
        """End of stream: an unterminated last line still counts, an open event does not."""
        events = self._lines(self._buffer + self._utf8.decode(b"", final=True) + "\n")
        self._reset_event()
        return events

    def _lines(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        start = 0
        length = len(text)
        while True:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            if cr < 0 and lf < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                end, next_start = cr, cr + 1
                if next_start < length and text[next_start] == "\n":
                    next_start += 1
                elif next_start == length:
                    self._pending_cr = True  # the LF, if any, comes with the next chunk
            else:
                end, next_start = lf, lf + 1
            event = self._line(text[start:end])
            if event is not None:
                events.append(event)
            start = next_start
        self._buffer = text[start:]
        return events

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
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry" and value.isdigit():
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
        self._event = ""
        self._retry = None


__all__ = ["SSEDecoder", "SSEEvent"]
