"""A progress bar on stderr (tqdm) for long runs on a terminal; nothing when stderr is not a
terminal (output piped or redirected), unless asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TextIO

#: The bar appears only once a run has lasted this long.
PROGRESS_DELAY_S = 0.5


class ProgressBar:
    """Bytes read against the bytes to read, and files done."""

    def __init__(self, bar: Any, total_files: int) -> None:
        self._bar = bar
        self._total_files = total_files
        self._base = 0

    def update(self, files_done: int, bytes_done: int) -> None:
        """Progress within the current batch of work (see :meth:`next_batch`)."""
        done = self._base + bytes_done
        if done > self._bar.n:
            self._bar.update(done - self._bar.n)
        if self._total_files:
            self._bar.set_postfix_str(f"{files_done}/{self._total_files} files", refresh=False)

    def next_batch(self) -> None:
        """Later updates count from here (a new call that counts bytes from 0)."""
        self._base = self._bar.n

    def close(self) -> None:
        self._bar.close()

    def write_around(self, write: Callable[[], object]) -> None:
        """Runs ``write`` (a note on the bar's stream) with the bar cleared, then redraws it."""
        with self._bar.external_write_mode(file=self._bar.fp):
            write()


def open_progress(
    mode: str, stream: TextIO, total_bytes: int, total_files: int
) -> ProgressBar | None:
    """A bar for ``total_bytes`` when ``mode`` is "always", or "auto" on a terminal."""
    if mode == "never" or (mode == "auto" and not _is_terminal(stream)):
        return None
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency; be quiet without it
        return None
    bar = tqdm(
        total=total_bytes or None,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="counting",
        file=stream,
        delay=PROGRESS_DELAY_S,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.1,
    )
    return ProgressBar(bar, total_files)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
