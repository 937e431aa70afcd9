"""Files are read on several Rust threads at once, with the GIL released: two named pipes that
can only be filled in the opposite order of the walk prove it (read one at a time, in order,
the first pipe would wait for ever on a writer that waits for the second)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from devsynth.tokens.files import FileCount, count_found

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")


def _open_writer(path: Path, deadline: float) -> int | None:
    """Opens a pipe for writing once a reader has it open; None if none comes in time."""
    while time.monotonic() < deadline:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.01)
    return None


@pytest.mark.parametrize("num_threads", [2, 4])
def test_files_are_read_in_parallel_with_the_gil_released(tmp_path: Path, num_threads: int) -> None:
    first, second = tmp_path / "a.fifo", tmp_path / "b.fifo"
    os.mkfifo(first)
    os.mkfifo(second)
    order: list[str] = []

    def writer() -> None:
        texts = {first: b"first pipe words", second: b"second pipe"}
        # The second pipe first: only a reader that is not stuck on the first one opens it.
        fd = _open_writer(second, time.monotonic() + 20)
        if fd is None:
            # Read one at a time: fill them in walk order so the run ends and the test fails.
            order.append("timeout")
            pipes = [first, second]
        else:
            order.append(second.name)
            os.set_blocking(fd, True)
            os.write(fd, texts[second])
            os.close(fd)
            pipes = [first]
        for path in pipes:
            fd = os.open(path, os.O_WRONLY)
            order.append(path.name)
            os.write(fd, texts[path])
            os.close(fd)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    results = count_found([(str(first), 0), (str(second), 0)], num_threads=num_threads)
    t.join(timeout=30)
    assert order == ["b.fifo", "a.fifo"]
    assert results == [FileCount(str(first), 3, 16), FileCount(str(second), 2, 11)]
