"""Counting the records of JSON Lines files: one text field per line, or one chat conversation
per line (a ``messages`` array, and the ``tools`` it defines) with the chat formula of a
:class:`ConversationCounter` (a :class:`~devsynth.tokens.chat.ChatCounter`, or a
``TokenTracker``).

Lines are read one at a time (memory stays bounded whatever the file's size) and counted in
batches on Rust threads. A line that is not JSON, is not an object, or lacks the field (or
holds no valid ``messages``) becomes a :class:`FileIssue` of kind ``"invalid"`` with its line
number, and the rest goes on. Blank lines are skipped.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import orjson

from devsynth.tokens.core import Encoding
from devsynth.tokens.files import (
    SNIFF_BYTES,
    FileIssue,
    Undecodable,
    binary_issue,
    undecodable_issue,
)


class ConversationCounter(Protocol):
    """What counts a conversation: ``TokenTracker`` and ``ChatCounter`` both do."""

    def count_conversation_tokens(
        self,
        conversation: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int: ...


BATCH_RECORDS = 2048
BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class RecordCount:
    """Tokens of one JSONL record (``line`` counts from 1)."""

    path: str
    line: int
    tokens: int
    bytes: int


@dataclass(frozen=True)
class RecordSource:
    """What to count in each record: a top-level string field, or a chat conversation."""

    field: str | None = None
    chat: ConversationCounter | None = None

    def __post_init__(self) -> None:
        if (self.field is None) == (self.chat is None):
            raise ValueError("give exactly one of field= or chat=")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _conversation_of(record: object) -> tuple[list[Any], Any]:
    """(messages, tools) of a record: an array of messages, or an object with ``messages``
    and optionally ``tools``."""
    if isinstance(record, list):
        return record, None
    if isinstance(record, dict):
        messages = record.get("messages")
        if isinstance(messages, list):
            return messages, record.get("tools")
        if messages is None:
            raise ValueError("no 'messages' array")
        raise ValueError(f"'messages' is not an array (got {_type_name(messages)})")
    raise ValueError(f"not a JSON object or array (got {_type_name(record)})")


def _undecodable_at(stream: BinaryIO) -> int | None:
    """Offset of the first byte that is not UTF-8, reading the stream to its end."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    while block := stream.read(1 << 20):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as e:
            return offset + e.start
        offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        return offset + e.start
    return None


def count_records(
    stream: BinaryIO,
    encoding: Encoding,
    source: RecordSource,
    *,
    path: str = "-",
    undecodable: Undecodable = "replace",
    progress: Callable[[int], object] | None = None,
) -> Iterator[RecordCount | FileIssue]:
    """Counts each record of a JSONL stream; yields counts and issues in line order.
    ``progress(bytes_read)`` is called after each batch. A binary stream (a NUL byte in its
    first 8 KiB) gives one ``binary`` issue; with ``undecodable="skip"`` a stream with bytes
    that are not UTF-8 gives one ``undecodable`` issue (a seekable stream is checked before any
    record is counted; another stops at the bad line)."""
    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(stream, "peek") else b""
    seekable = stream.seekable()
    if seekable and not head:
        head = stream.read(SNIFF_BYTES)
        stream.seek(0)
    if b"\0" in head:
        yield binary_issue(path)
        return
    if undecodable == "skip" and seekable:
        bad = _undecodable_at(stream)
        stream.seek(0)
        if bad is not None:
            yield undecodable_issue(path, bad)
            return
    errors = "strict" if undecodable == "skip" else "replace"
    batch = _Batch(encoding, source, path)
    read = 0
    for number, raw in enumerate(stream, start=1):
        read += len(raw)
        try:
            line = raw.decode("utf-8", errors)
        except UnicodeDecodeError as e:
            yield from batch.flush()
            yield FileIssue(
                path,
                "undecodable",
                f"not UTF-8 (first bad byte at offset {read - len(raw) + e.start}); "
                "the rest of the stream is skipped",
                number,
            )
            return
        if line.strip():
            batch.add(number, line, len(raw))
        if batch.full():
            yield from batch.flush()
            if progress is not None:
                progress(read)
    yield from batch.flush()
    if progress is not None:
        progress(read)


class _Batch:
    """Records parsed and waiting to be counted together, issues kept in line order."""

    def __init__(self, encoding: Encoding, source: RecordSource, path: str) -> None:
        self.encoding = encoding
        self.source = source
        self.path = path
        self.items: list[tuple[int, int, Any] | FileIssue] = []
        self.size = 0

    def add(self, number: int, line: str, nbytes: int) -> None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            self.items.append(FileIssue(self.path, "invalid", f"not JSON ({e})", number))
            return
        try:
            value = self._value(record)
        except ValueError as e:
            self.items.append(FileIssue(self.path, "invalid", str(e), number))
            return
        self.items.append((number, nbytes, value))
        self.size += nbytes

    def _value(self, record: object) -> Any:
        name = self.source.field
        if name is None:
            return _conversation_of(record)
        if not isinstance(record, dict):
            raise ValueError(f"not a JSON object (got {_type_name(record)})")
        if name not in record:
            raise ValueError(f"no field {name!r}")
        value = record[name]
        if not isinstance(value, str):
            raise ValueError(f"field {name!r} is not a string (got {_type_name(value)})")
        return value

    def full(self) -> bool:
        return len(self.items) >= BATCH_RECORDS or self.size >= BATCH_BYTES

    def flush(self) -> Iterator[RecordCount | FileIssue]:
        items, self.items, self.size = self.items, [], 0
        records = [item for item in items if not isinstance(item, FileIssue)]
        counts = iter(self._count([value for _, _, value in records]))
        for item in items:
            if isinstance(item, FileIssue):
                yield item
                continue
            number, nbytes, _ = item
            tokens = next(counts)
            if isinstance(tokens, str):
                yield FileIssue(self.path, "invalid", tokens, number)
            else:
                yield RecordCount(self.path, number, tokens, nbytes)

    def _count(self, values: list[Any]) -> list[int | str]:
        """Counts of the values in order; a message (str) for a conversation that is invalid."""
        if not values:
            return []
        tracker = self.source.chat
        if tracker is None:
            return list(self.encoding.count_batch(values, disallowed_special=()))
        out: list[int | str] = []
        for messages, tools in values:
            try:
                out.append(tracker.count_conversation_tokens(messages, tools))
            except (TypeError, ValueError) as e:
                out.append(f"invalid messages: {e}")
        return out
