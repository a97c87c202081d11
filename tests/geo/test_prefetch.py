"""Scene I/O off the model's critical path (`geo/prefetch.py`, issue 36): reads ahead, writes behind, in order, with
their errors raised where the caller would have met them."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rasterio.windows import Window

from earthgptx_hf.geo import prefetch
from earthgptx_hf.geo.prefetch import WriteBehind, read_ahead


def test_read_ahead_keeps_order_reads_in_another_thread_and_at_most_depth_ahead():
    threads, started, consumed = set(), [], []

    def read(item):
        threads.add(threading.get_ident())
        started.append(item)
        assert item - len(consumed) <= 3  # at most depth (3) beyond the consumer's item
        return item * 10

    for item, value in read_ahead(read, range(20), depth=3):
        assert value == item * 10
        consumed.append(item)
        time.sleep(0.001)
    assert consumed == list(range(20)) and started == list(range(20))
    assert threads and threading.get_ident() not in threads


def test_read_ahead_depth_zero_reads_in_the_calling_thread():
    threads = []
    assert list(read_ahead(lambda i: threads.append(threading.get_ident()) or i, range(3), depth=0)) == \
        [(0, 0), (1, 1), (2, 2)]
    assert set(threads) == {threading.get_ident()}


def test_read_ahead_raises_a_failed_read_at_its_item():
    def read(item):
        if item == 4:
            raise ValueError("scene.tif could not be decoded")
        return item

    seen = []
    with pytest.raises(ValueError, match="could not be decoded"):
        for item, _ in read_ahead(read, range(10), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3]


def test_read_ahead_closed_early_stops_reading():
    started = []
    reads = read_ahead(lambda i: started.append(i) or time.sleep(0.01), range(1000), depth=4)
    next(reads)
    reads.close()
    assert len(started) <= 6


class Recorder:
    def __init__(self, fail_at=None):
        self.calls, self.threads, self.exit = [], set(), None
        self.fail_at = fail_at

    def write(self, window, mask, value):
        self.threads.add(threading.get_ident())
        if value == self.fail_at:
            raise OSError("disk full")
        time.sleep(0.001)
        self.calls.append(value)

    def __exit__(self, exc_type, *exc):
        self.exit = exc_type


def test_write_behind_writes_in_order_in_another_thread_and_waits_on_leaving():
    recorder = Recorder()
    with WriteBehind(recorder, depth=4) as writer:
        for value in range(30):
            writer.write(Window(0, 0, 2, 2), np.ones((2, 2), bool), value)
    assert recorder.calls == list(range(30)) and recorder.exit is None
    assert threading.get_ident() not in recorder.threads


def test_write_behind_raises_a_failed_write_and_leaves_the_writer_as_on_an_error():
    recorder = Recorder(fail_at=3)
    with pytest.raises(OSError, match="disk full"):
        with WriteBehind(recorder, depth=2) as writer:
            for value in range(10):
                writer.write(Window(0, 0, 1, 1), np.ones((1, 1), bool), value)
    assert recorder.calls == [0, 1, 2] and recorder.exit is OSError


def test_predictor_reads_ahead_as_configured():
    assert prefetch.READ_AHEAD_BATCHES >= 1  # ScenePredictor reads READ_AHEAD_BATCHES * batch_size windows ahead
