"""Audio tools for a take or a joined long-form: trim silence, fades, loudness (ITU-R BS.1770), peak limiting.

    post = PostProcess(trim_silence=True, fade_in_ms=10, fade_out_ms=50, normalize_lufs=-16.0, limit_db=-1.0)
    audio = apply(audio, 24000, post)            # or process(...) for the audio plus notes and figures

Audio is float, shaped (samples,) (mono, as the engine makes it) or (samples, channels) (as soundfile
reads files). Every function returns a new float32 array; none changes its input. The order inside
``process`` is fixed: trim -> fades -> loudness normalisation -> peak limiting, so the loudness is
measured on the faded audio and the limiter runs last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

MIN_LUFS, MAX_LUFS = -60.0, -5.0  # loudness targets a user could mean (EBU R128 -23, podcasts -16, music -9)
MIN_CEILING_DB, MAX_CEILING_DB = -20.0, 0.0
MAX_FADE_MS = 60_000.0
LOUDNESS_BLOCK_S = 0.4  # BS.1770 gating block: shorter audio has no integrated loudness
SILENCE_LUFS = -70.0  # BS.1770 absolute gate
AUTO_LIMIT_DB = -1.0  # used when normalising would push peaks over full scale and no limit was set
TRIM_FRAME_MS = 10.0
DEFAULT_TRIM_DB = -40.0


# --------------------------------------------------------------------------- checks


def _number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(float(x))


def check_sample_rate(sr) -> int:
    """The sample rate as an int; ValueError unless it is a whole number of Hz in 1000..768000."""
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 1000 <= int(sr) <= 768_000:
        raise ValueError(f"The sample rate must be a whole number of Hz between 1000 and 768000, got {sr!r}.")
    return int(sr)


def check_audio(audio, what: str = "The audio") -> np.ndarray:
    """``audio`` as float32, (samples,) or (samples, channels); ValueError if empty, non-finite or badly shaped."""
    try:
        a = np.asarray(audio)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"{what} must be an array of samples ({e}).") from None
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold numbers (samples), got {a.dtype}.")
    if a.ndim not in (1, 2) or (a.ndim == 2 and not 1 <= a.shape[1] <= 8):
        raise ValueError(f"{what} must be shaped (samples,) or (samples, channels) with 1-8 channels, got {a.shape}.")
    if a.shape[0] == 0:
        raise ValueError(f"{what} is empty (no samples).")
    if a.dtype.kind in "iu":  # integer PCM: scale to [-1, 1)
        scale = float(2 ** (8 * a.dtype.itemsize - 1))
        a = (a.astype(np.float64) - (scale if a.dtype.kind == "u" else 0.0)) / scale
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{what} holds {bad} sample(s) that are not numbers (NaN or infinity).")
    return a


def ms_to_samples(ms: float, sr: int, what: str = "A length") -> int:
    """``ms`` milliseconds as a whole number of samples at ``sr`` (rounded); ValueError if negative or absurd."""
    if not _number(ms) or ms < 0:
        raise ValueError(f"{what} must be a non-negative number of milliseconds, got {ms!r}.")
    if ms > MAX_FADE_MS:
        raise ValueError(f"{what} must be at most {MAX_FADE_MS:.0f} ms (a minute), got {ms!r}.")
    return int(round(float(ms) * sr / 1000.0))


def _check_lufs(target) -> float:
    if not _number(target) or not MIN_LUFS <= target <= MAX_LUFS:
        raise ValueError(
            f"The loudness target must be between {MIN_LUFS:.0f} and {MAX_LUFS:.0f} LUFS "
            f"(e.g. -23 broadcast, -16 podcasts, -14 streaming), got {target!r}."
        )
    return float(target)


def _check_ceiling(ceiling_db) -> float:
    if not _number(ceiling_db) or not MIN_CEILING_DB <= ceiling_db <= MAX_CEILING_DB:
        raise ValueError(
            f"The peak limit must be between {MIN_CEILING_DB:.0f} and {MAX_CEILING_DB:.0f} dBFS, got {ceiling_db!r}."
        )
    return float(ceiling_db)


def _peak(a: np.ndarray) -> np.ndarray:
    """Per-sample peak across channels, (samples,)."""
    return np.abs(a) if a.ndim == 1 else np.max(np.abs(a), axis=1)


def peak_db(audio) -> float:
    """The sample peak in dBFS (-inf for digital silence)."""
    p = float(np.max(np.abs(check_audio(audio))))
    return 20.0 * math.log10(p) if p > 0 else -math.inf


# --------------------------------------------------------------------------- trimming


def silent_edges(audio, sr: int, threshold_db: float = DEFAULT_TRIM_DB) -> tuple[int, int]:
    """The kept span ``[start, end)`` after dropping silent leading and trailing samples.

    Activity is found in 10 ms frames: a frame is active when its RMS is within ``threshold_db`` dB of
    the loudest frame's (so a constant hiss well below the speech counts as silence, and one stray
    sample does not stop the trim). Inside the first and last active frames the edge is then placed
    at the exact sample: the first (last) sample whose magnitude reaches the same absolute level. So
    silence + tone + silence keeps exactly the tone's samples. ValueError if nothing is active.
    """
    a = check_audio(audio)
    sr = check_sample_rate(sr)
    if not _number(threshold_db) or not -120.0 <= threshold_db < 0.0:
        raise ValueError(f"The silence threshold must be a negative number of dB (down to -120), got {threshold_db!r}.")
    mag = _peak(a).astype(np.float64)
    hop = max(1, int(round(TRIM_FRAME_MS * sr / 1000.0)))
    n = len(mag)
    frames = -(-n // hop)
    padded = np.zeros(frames * hop)
    padded[:n] = mag * mag
    counts = np.full(frames, hop, dtype=np.float64)
    counts[-1] = n - (frames - 1) * hop
    rms = np.sqrt(padded.reshape(frames, hop).sum(axis=1) / counts)
    loudest = float(rms.max())
    if loudest <= 0.0:
        raise ValueError("The audio is silent throughout; trimming would leave nothing.")
    level = loudest * 10.0 ** (threshold_db / 20.0)
    active = np.flatnonzero(rms >= level)
    f0, f1 = int(active[0]), int(active[-1])
    first = mag[f0 * hop: min(n, (f0 + 1) * hop)]
    last = mag[f1 * hop: min(n, (f1 + 1) * hop)]
    start = f0 * hop + int(np.flatnonzero(first >= level)[0])  # exists: RMS <= max of the frame
    end = f1 * hop + int(np.flatnonzero(last >= level)[-1]) + 1
    return start, end


def trim_silence(audio, sr: int, threshold_db: float = DEFAULT_TRIM_DB, keep_ms: float = 0.0) -> np.ndarray:
    """Drop silent leading and trailing samples (see ``silent_edges``), keeping ``keep_ms`` of margin each side."""
    a = check_audio(audio)
    start, end = silent_edges(a, sr, threshold_db)
    keep = ms_to_samples(keep_ms, sr, "The margin kept around trimmed audio")
    return a[max(0, start - keep): min(len(a), end + keep)].copy()


# --------------------------------------------------------------------------- fades


def fade(audio, sr: int, fade_in_ms: float = 0.0, fade_out_ms: float = 0.0) -> np.ndarray:
    """Raised-cosine fade in over the first ``fade_in_ms`` and out over the last ``fade_out_ms``.

    Lengths are ``round(ms * sr / 1000)`` samples, at most the whole audio; the first (last) sample
    becomes exactly 0 and every sample outside the fades is unchanged.
    """
    a = check_audio(audio).copy()
    sr = check_sample_rate(sr)
    n_in = min(len(a), ms_to_samples(fade_in_ms, sr, "The fade-in"))
    n_out = min(len(a), ms_to_samples(fade_out_ms, sr, "The fade-out"))
    if n_in:
        ramp = fade_curve(n_in)
        a[:n_in] *= ramp if a.ndim == 1 else ramp[:, None]
    if n_out:
        ramp = fade_curve(n_out)[::-1]
        a[len(a) - n_out:] *= ramp if a.ndim == 1 else ramp[:, None]
    return a


def fade_curve(n: int) -> np.ndarray:
    """Gains rising from exactly 0 towards 1 over ``n`` samples (raised cosine; gain 1 is the sample after)."""
    return (0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)


# --------------------------------------------------------------------------- loudness


def measure_loudness(audio, sr: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 via pyloudnorm); -inf for silence.

    ValueError for audio shorter than BS.1770's 0.4 s gating block.
    """
    import pyloudnorm  # scipy underneath: imported only when loudness is asked for

    a = check_audio(audio)
    sr = check_sample_rate(sr)
    if a.ndim == 2 and a.shape[1] > 5:
        raise ValueError(f"Loudness can be measured on at most 5 channels (BS.1770 up to 5.0 surround); this audio has {a.shape[1]}.")
    if len(a) < LOUDNESS_BLOCK_S * sr:
        raise ValueError(
            f"Loudness needs at least {LOUDNESS_BLOCK_S} s of audio (BS.1770's gating block); "
            f"this is {len(a) / sr:.2f} s."
        )
    value = float(pyloudnorm.Meter(sr).integrated_loudness(a.astype(np.float64)))
    return value if value >= SILENCE_LUFS else -math.inf


# --------------------------------------------------------------------------- limiting


def _window_min(a: np.ndarray, w: int) -> np.ndarray:
    """out[i] = min(a[i : i + w]) for every full window (van Herk / Gil-Werman, O(n))."""
    n = len(a)
    blocks = -(-n // w)
    b = np.full(blocks * w, np.inf)
    b[:n] = a
    b = b.reshape(blocks, w)
    prefix = np.minimum.accumulate(b, axis=1).ravel()
    suffix = np.minimum.accumulate(b[:, ::-1], axis=1)[:, ::-1].ravel()
    m = n - w + 1
    return np.minimum(suffix[:m], prefix[w - 1: w - 1 + m])


def limit_peaks(audio, sr: int, ceiling_db: float = -1.0, lookahead_ms: float = 5.0, release_ms: float = 50.0) -> np.ndarray:
    """Look-ahead peak limiter: no sample's magnitude exceeds ``ceiling_db`` dBFS afterwards.

    The gain each sample needs is held for ``release_ms`` after a peak and reached ``lookahead_ms``
    before it through a linear ramp (a minimum filter then a box filter of the look-ahead length,
    which never lets the gain exceed what any sample needs). Audio already under the ceiling is
    returned unchanged. Sample peaks, not true (inter-sample) peaks.
    """
    a = check_audio(audio)
    sr = check_sample_rate(sr)
    ceiling = 10.0 ** (_check_ceiling(ceiling_db) / 20.0)
    la = max(1, ms_to_samples(lookahead_ms, sr, "The limiter look-ahead"))
    hold = ms_to_samples(release_ms, sr, "The limiter release")
    mag = _peak(a).astype(np.float64)
    if mag.max() <= ceiling:
        return a.copy()
    need = np.minimum(1.0, ceiling / np.maximum(mag, 1e-30))  # (n,)
    n = len(need)
    w = hold + la
    # g1[m] = min(need[m - hold : m + la]) for m in -(la - 1) .. n - 1 (outside the audio nothing is needed)
    padded = np.concatenate([np.ones(hold + la - 1), need, np.ones(la - 1)])
    g1 = _window_min(padded, w)[: n + la - 1]
    c = np.concatenate([[0.0], np.cumsum(g1)])
    gain = (c[la:] - c[:-la]) / la  # mean of g1 over m = n - la + 1 .. n  -> (n,), each term <= need[n]
    gain = np.minimum(gain, need)  # rounding in the running sum
    out = a * (gain if a.ndim == 1 else gain[:, None]).astype(np.float32)
    return np.clip(out, -ceiling, ceiling).astype(np.float32)


# --------------------------------------------------------------------------- all together


@dataclass(frozen=True)
class PostProcess:
    """What to do to a take, in this order: trim -> fades -> loudness -> limit. The default does nothing."""

    trim_silence: bool = False
    trim_threshold_db: float = DEFAULT_TRIM_DB  # below the loudest 10 ms frame
    trim_keep_ms: float = 0.0  # margin kept around the trimmed audio
    fade_in_ms: float = 0.0
    fade_out_ms: float = 0.0
    normalize_lufs: Optional[float] = None  # integrated loudness target, LUFS
    limit_db: Optional[float] = None  # sample-peak ceiling, dBFS; with normalize_lufs and no limit, -1 dBFS if needed

    def validate(self) -> None:
        """Raise ValueError with a user-facing sentence for any unusable value."""
        if not isinstance(self.trim_silence, bool):
            raise ValueError("trim_silence must be true or false.")
        if not _number(self.trim_threshold_db) or not -120.0 <= self.trim_threshold_db < 0.0:
            raise ValueError(f"The silence threshold must be a negative number of dB (down to -120), got {self.trim_threshold_db!r}.")
        for value, what in ((self.trim_keep_ms, "The margin kept around trimmed audio"),
                            (self.fade_in_ms, "The fade-in"), (self.fade_out_ms, "The fade-out")):
            ms_to_samples(value, 1000, what)
        if self.normalize_lufs is not None:
            _check_lufs(self.normalize_lufs)
        if self.limit_db is not None:
            _check_ceiling(self.limit_db)

    @property
    def is_identity(self) -> bool:
        return not self.trim_silence and not self.fade_in_ms and not self.fade_out_ms \
            and self.normalize_lufs is None and self.limit_db is None


@dataclass(frozen=True, eq=False)
class Processed:
    """The result of ``process``: audio, what was done (sentences), loudness and peak after."""

    audio: np.ndarray
    sample_rate: int
    notes: tuple[str, ...]
    loudness_lufs: Optional[float]  # None when the audio is shorter than 0.4 s
    peak_db: float


def _limited_to_target(a: np.ndarray, sr: int, target: float, gain_db: float, ceiling_db: float) -> tuple[np.ndarray, float]:
    """Limited audio whose loudness is as close to ``target`` as the limiter allows, and the gain used.

    The limiter lowers the loudness a little, so the gain is corrected by the secant method (the
    loudness of the limited audio grows monotonically, ever more slowly, with the gain), at most
    12 dB beyond the plain gain (more would only pump up the quiet parts).
    """
    plain = gain_db
    points: list[tuple[float, float]] = []
    best: Optional[tuple[float, np.ndarray, float]] = None
    for _ in range(8):
        limited = limit_peaks(a * np.float32(10.0 ** (gain_db / 20.0)), sr, ceiling_db)
        loud = measure_loudness(limited, sr)
        error = target - loud
        if best is None or abs(error) < best[0]:
            best = (abs(error), limited, gain_db)
        if abs(error) < 0.02:
            break
        points.append((gain_db, loud))
        slope = 1.0
        if len(points) >= 2:
            (g0, l0), (g1, l1) = points[-2], points[-1]
            if g1 != g0:
                slope = min(1.0, max(0.05, (l1 - l0) / (g1 - g0)))
        new_gain = min(plain + 12.0, gain_db + error / slope)
        if new_gain == gain_db:
            break
        gain_db = new_gain
    return best[1], best[2]


def _loudness_or_none(a: np.ndarray, sr: int) -> Optional[float]:
    return measure_loudness(a, sr) if len(a) >= LOUDNESS_BLOCK_S * sr else None


def process(audio, sr: int, post: PostProcess) -> Processed:
    """Apply ``post`` and say what was done. ValueError for bad audio or settings."""
    if not isinstance(post, PostProcess):
        raise ValueError(f"Post-processing settings must be a PostProcess, got {type(post).__name__}.")
    post.validate()
    a = check_audio(audio)
    sr = check_sample_rate(sr)
    notes: list[str] = []
    if post.trim_silence:
        before = len(a)
        start, end = silent_edges(a, sr, post.trim_threshold_db)
        keep = ms_to_samples(post.trim_keep_ms, sr)
        a = a[max(0, start - keep): min(len(a), end + keep)].copy()
        notes.append(f"Trimmed {max(0, start - keep) / sr * 1000:.0f} ms of leading and "
                     f"{(before - min(before, end + keep)) / sr * 1000:.0f} ms of trailing silence.")
    if post.fade_in_ms or post.fade_out_ms:
        a = fade(a, sr, post.fade_in_ms, post.fade_out_ms)
    ceiling_db = post.limit_db
    if post.normalize_lufs is not None:
        target = post.normalize_lufs
        before = measure_loudness(a, sr)
        if not math.isfinite(before):
            raise ValueError("The audio is silent (below -70 LUFS); there is no loudness to normalise.")
        gain_db = target - before
        scaled = a * np.float32(10.0 ** (gain_db / 20.0))
        if ceiling_db is None and float(np.max(np.abs(scaled))) > 1.0:
            ceiling_db = AUTO_LIMIT_DB
            notes.append(f"At {target:g} LUFS the peaks would pass full scale, so they were limited at {AUTO_LIMIT_DB:g} dBFS.")
        if ceiling_db is not None:
            scaled, gain_db = _limited_to_target(a, sr, target, gain_db, ceiling_db)
        a = scaled.astype(np.float32)
        after = measure_loudness(a, sr)
        notes.append(f"Loudness {before:.1f} -> {after:.1f} LUFS (gain {gain_db:+.1f} dB).")
        if abs(after - target) > 0.5:
            notes.append(f"The target {target:g} LUFS cannot be reached with peaks limited at {ceiling_db:g} dBFS "
                         f"without distortion; the audio is now {after:.1f} LUFS.")
    elif ceiling_db is not None:
        a = limit_peaks(a, sr, ceiling_db)
    if post.limit_db is not None:
        notes.append(f"Peaks limited at {post.limit_db:g} dBFS.")
    return Processed(audio=a, sample_rate=sr, notes=tuple(notes), loudness_lufs=_loudness_or_none(a, sr), peak_db=peak_db(a))


def apply(audio, sr: int, post: PostProcess) -> np.ndarray:
    """``audio`` after ``post`` (see ``process`` for the notes and figures), float32."""
    return process(audio, sr, post).audio
