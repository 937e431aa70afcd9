"""Generated token ids to text chunks: whole characters only, cut at the first stop string.

Byte-level tokenizers split a character across tokens; decoding such a prefix ends in
U+FFFD. So text is released only once it decodes cleanly, and text that might be the
beginning of a stop string is held back until it is clearly not. The chunks released join
to exactly the final text, which is why ``generate`` is built on the same object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT = "\ufffd"


class TextAssembler:
    """Collects token ids of one sequence and releases text as it becomes safe."""

    def __init__(self, decode: Callable[[list[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = tuple(stop)
        self._ids: list[int] = []
        # Decoding restarts a few tokens back, not from the start, so a long generation
        # costs linear time; the earlier tokens give the decoder its context (a leading
        # space, say).
        self._prefix = 0  # first id of the decode window
        self._read = 0  # ids up to here are already text
        self._text = ""  # all text decoded so far
        self._released = 0  # how much of it went out
        self.stopped = False  # a stop string was found

    @property
    def text(self) -> str:
        """Everything released so far."""
        return self._text[: self._released]

    @property
    def token_ids(self) -> list[int]:
        return list(self._ids)

    def push(self, token_id: int) -> str:
        """Add one generated token; returns the text now safe to release (maybe empty)."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self._text += after[len(before) :]
            self._prefix, self._read = self._read, len(self._ids)
        return self._release(final=False)

    def finish(self) -> str:
        """The end of generation: release what was held back (an unfinished character
        stays as U+FFFD, as the decoder gives it)."""
        if not self.stopped and self._read < len(self._ids):
            before = self._decode(self._ids[self._prefix : self._read])
            self._text += self._decode(self._ids[self._prefix :])[len(before) :]
            self._read = len(self._ids)
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        start = self._released
        end = len(self._text)
        # A stop string cannot start inside text already released (it would have been
        # held back), so the search starts there.
        hits = [i for s in self._stop if (i := self._text.find(s, start)) >= 0]
        if hits:
            end = min(hits)
            self._text = self._text[:end]
            self.stopped = True
        elif not final:
            end -= _partial_stop(self._text, start, self._stop)
        self._released = end
        return self._text[start:end]


def _partial_stop(text: str, start: int, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text[start:]`` that begins some stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text) - start), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
