"""Helpers the bench scripts share (each script puts this folder on sys.path, as Python does for a script)."""

from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], n: int) -> float:
    """The fastest of ``n`` timed calls of ``fn``, in seconds, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
