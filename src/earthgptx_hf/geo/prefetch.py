"""Scene I/O off the model's critical path (issue 36): windows are read ahead of the model, masks written behind it.

- `read_ahead(read, items, depth)`: `read(item)` runs in one background thread, up to `depth` items ahead of the
  consumer, in order. Reading a window (GDAL's decompression, the stretch) releases the GIL for most of its time, so
  it overlaps the model's forward, which runs in the calling thread. One thread, so the raster's dataset handle is
  never used by two threads at once (GDAL handles are not thread-safe).
- `WriteBehind(writer)`: `writer.write(...)` calls run in order in one background thread (at most `depth` waiting:
  memory stays bounded if the disk is slower than the model); leaving it (or `close()`) waits for them and leaves the
  writer as its own context manager does; an error of any write is raised (at the latest on leaving).

Both use `concurrent.futures`; the predictor reads `READ_AHEAD_BATCHES` batches ahead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

READ_AHEAD_BATCHES = 2  # windows read ahead of the model, in batches (0: read in the calling thread)
WRITE_BEHIND = 64  # mask writes that may wait for the writer thread


def read_ahead(read: Callable[[T], R], items: Iterable[T], depth: int) -> Iterator[tuple[T, R]]:
    """`(item, read(item))` for every item, in order, each `read` run in a background thread up to `depth` items
    ahead of the consumer (`depth` 0: in the calling thread, one at a time). An exception of `read` is raised here,
    at its item; closing the iterator early cancels the reads not started."""
    if depth < 1:
        for item in items:
            yield item, read(item)
        return
    pending: deque[tuple[T, Future]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="earthgptx-read-ahead") as pool:
        try:
            for item in items:
                pending.append((item, pool.submit(read, item)))
                if len(pending) > depth:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


class WriteBehind:
    """A writer (anything with `write(...)` and `close()`) whose writes run in one background thread, in order.

    Use it as the writer it wraps (also as a context manager); the arguments of `write` must not change after the
    call (the predictor passes each mask once)."""

    def __init__(self, writer, depth: int = WRITE_BEHIND):
        self.writer, self.depth = writer, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earthgptx-write-behind")
        self._pending: deque[Future] = deque()
        self._failed = False

    def _write(self, args, kwargs) -> None:
        if self._failed:  # the writes queued after a failed one are not made
            return
        try:
            self.writer.write(*args, **kwargs)
        except BaseException:
            self._failed = True
            raise

    def write(self, *args, **kwargs) -> None:
        self._pending.append(self._pool.submit(self._write, args, kwargs))
        while self._pending and (len(self._pending) > self.depth or self._pending[0].done()):
            self._pending.popleft().result()  # waits when too many are queued; raises a failed write's error

    def close(self) -> None:
        """Waits for the queued writes, then closes the writer; a failed write's error is raised (and the writer is
        left as its context manager leaves it on an error, e.g. `MaskWriter` deletes its partial file)."""
        self.__exit__(None, None, None)

    def _stop(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def _exit_writer(self, exc_type, exc, traceback) -> None:
        if hasattr(self.writer, "__exit__"):
            self.writer.__exit__(exc_type, exc, traceback)
        else:
            self.writer.close()

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            while exc_type is None and self._pending:
                self._pending.popleft().result()
        except BaseException as error:
            self._stop()
            self._exit_writer(type(error), error, error.__traceback__)
            raise
        self._stop()
        self._exit_writer(exc_type, exc, traceback)


__all__ = ["READ_AHEAD_BATCHES", "WRITE_BEHIND", "WriteBehind", "read_ahead"]
