"""Response bodies decompressed as they stream, in bounded pieces, and counted against a limit.

The transport asks for ``gzip`` and ``deflate`` only (:data:`ACCEPT_ENCODING`) and reads raw
bytes; :class:`Inflater` turns them into pieces of at most :data:`PIECE` bytes however well
they compress, so a gzip bomb is stopped by :class:`SizeLimit` after at most one piece past
the limit instead of after it has inflated whole. Nothing here speaks HTTP.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024  # the most one step of decompression may produce


class BodyError(ValueError):
    """A body that cannot be decoded: an unknown content-encoding or corrupt data."""


class BodyTooLarge(ValueError):
    """More bytes than the limit (counted after decompression)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class _Zlib:
    """One gzip or deflate layer; ``deflate`` may be zlib-wrapped or raw, as servers differ."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(self._wbits)
        self._started = False
        self._encoding = encoding

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._inflate.decompress(data, PIECE)
            except zlib.error:
                if self._started or self._gzip or self._wbits < 0:
                    raise BodyError(f"the body is not valid {self._encoding} data") from None
                self._wbits = -zlib.MAX_WBITS  # a raw deflate stream, without the zlib header
                self._inflate = zlib.decompressobj(self._wbits)
                continue
            self._started = True
            if out:
                yield out
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:
                rest = self._inflate.unused_data
                if not (self._gzip and rest.startswith(b"\x1f\x8b")):
                    return  # padding after the end of the stream is ignored, as httpx does
                self._inflate = zlib.decompressobj(self._wbits)  # the next gzip member
                data = rest
                continue
            if not data and len(out) < PIECE:
                return  # all input used and no output held back

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")


class Inflater:
    """Undoes a response's ``content-encoding`` (none, ``gzip``, ``deflate``, or a list of
    them), yielding pieces of at most :data:`PIECE` bytes."""

    def __init__(self, content_encoding: str | None) -> None:
        names = [n.strip().lower() for n in (content_encoding or "").split(",")]
        layers: list[_Zlib] = []
        for name in reversed([n for n in names if n and n != "identity"]):  # last applied first
            if name not in ("gzip", "x-gzip", "deflate"):
                raise BodyError(f"the body is in an encoding that was not asked for: {name!r}")
            layers.append(_Zlib(name))
        self._layers = layers

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def flush(self) -> Iterator[bytes]:
        for index, layer in enumerate(self._layers):
            for piece in layer.flush():
                yield from self._through(index + 1, piece)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            if data:
                yield data[:PIECE]
                for start in range(PIECE, len(data), PIECE):
                    yield data[start : start + PIECE]
            return
        for piece in self._layers[index].feed(data):
            yield from self._through(index + 1, piece)


class SizeLimit:
    """Counts bytes against ``limit``; :meth:`add` raises :class:`BodyTooLarge` past it."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.size = 0

    def add(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.limit is not None and self.size > self.limit:
            raise BodyTooLarge(self.limit)
        return piece


__all__ = ["ACCEPT_ENCODING", "PIECE", "BodyError", "BodyTooLarge", "Inflater", "SizeLimit"]
