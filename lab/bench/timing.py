"""The one timing rule of the bench scripts: the median of `repeats` calls after `warmup` calls
(no torch import, so an ONNX Runtime process stays free of it)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, warmup: int, repeats: int) -> float:
    """Seconds per call of fn(): the median of `repeats` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
