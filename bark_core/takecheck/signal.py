"""Signal checks on a take: clipping, long silences inside, length against the text, level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.02  # analysis frames of 20 ms
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
SILENCE_FLOOR_DBFS = -50.0  # a frame quieter than this is silent ...
SILENCE_BELOW_PEAK_DB = 35.0  # ... and so is one this far below the take's loudest frame


@dataclass(frozen=True)
class SignalStats:
    """Measurements of one take (all plain floats, JSON-ready)."""

    duration_s: float
    speech_s: float  # from the first to the last non-silent frame
    clipped_fraction: float  # share of samples at full scale
    level_dbfs: float  # RMS of the non-silent frames, dBFS (-inf for a silent take)
    peak_dbfs: float
    longest_silence_s: float  # longest silence between the first and last non-silent frame
    longest_silence_at_s: float  # where it starts


def _db(x: float) -> float:
    return float(20 * np.log10(x)) if x > 0 else float("-inf")


def measure(audio: np.ndarray, sample_rate: int) -> SignalStats:
    """Measure a mono float take (samples in [-1, 1])."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = len(x)
    duration = n / sample_rate
    if n == 0:
        return SignalStats(0.0, 0.0, 0.0, float("-inf"), float("-inf"), 0.0, 0.0)
    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
    peak = float(np.max(np.abs(x)))
    hop = max(1, int(FRAME_S * sample_rate))
    m = n // hop
    if m == 0:
        frames = x[None, :]
    else:
        frames = x[: m * hop].reshape(m, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    floor = max(SILENCE_FLOOR_DBFS, float(db.max()) - SILENCE_BELOW_PEAK_DB)
    active = db > floor
    if not active.any():
        return SignalStats(duration, 0.0, clipped, float("-inf"), _db(peak), 0.0, 0.0)
    first, last = int(np.argmax(active)), len(active) - 1 - int(np.argmax(active[::-1]))
    level = _db(float(np.sqrt(np.mean(rms[active] ** 2))))
    longest, longest_at, run, run_start = 0, 0, 0, 0
    for i in range(first, last + 1):
        if active[i]:
            run = 0
            continue
        if run == 0:
            run_start = i
        run += 1
        if run > longest:
            longest, longest_at = run, run_start
    step = hop / sample_rate
    return SignalStats(
        duration_s=round(duration, 3),
        speech_s=round((last - first + 1) * step, 3),
        clipped_fraction=round(clipped, 6),
        level_dbfs=round(level, 1),
        peak_dbfs=round(_db(peak), 1),
        longest_silence_s=round(longest * step, 2),
        longest_silence_at_s=round(longest_at * step, 2),
    )
