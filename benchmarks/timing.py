"""The one timing rule of the benchmarks: one warm-up call, then the median wall time of `repeats` calls."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
