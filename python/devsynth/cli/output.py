"""The command line's standard streams, guarded: a write that fails (a closed or full standard
output, a reader that went away) raises one :class:`OutputError` naming the stream, whatever
command wrote, so reading errors and writing errors are never mistaken for each other."""

from __future__ import annotations

import os
from typing import Any, TextIO, cast


class OutputError(Exception):
    """Writing results or notes failed."""

    def __init__(self, stream: str, error: OSError | ValueError) -> None:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        super().__init__(f"cannot write to {stream}: {reason}")
        #: The reader went away (EPIPE, as after ``| head``).
        self.broken_pipe = isinstance(error, BrokenPipeError)


class _Guarded:
    """A text stream whose write and flush failures become OutputError."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as e:  # ValueError: the stream was closed
            raise OutputError(self._name, e) from e

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError) as e:
            raise OutputError(self._name, e) from e

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guarded(stream: TextIO | None, name: str) -> TextIO:
    """``stream`` guarded (a closed one, None, swallows what is written to it)."""
    if stream is None:
        stream = cast(TextIO, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    return cast(TextIO, _Guarded(stream, name))


def say(err: TextIO, message: str) -> None:
    """One line on stderr, if stderr can take it."""
    try:
        err.write(f"devsynth: {message}\n")
        err.flush()
    except OutputError:
        pass


def silence(stream: TextIO | None) -> None:
    """Points a stream's file descriptor at /dev/null, so the text still buffered in it is
    discarded when Python flushes it at exit, instead of failing with a traceback."""
    if stream is None:
        return
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return  # not a real file (a test's capture): nothing will flush it to a descriptor
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)
