"""The engine's public data types: settings, requests, voices, results, progress."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .constants import SAMPLE_RATE

STAGES = ("semantic", "coarse", "fine", "decode")
MAX_TAKES = 8
MAX_SEED = 2**32 - 1


class GenerationCancelled(Exception):
    """Raised inside a generation when its ``should_stop`` callback says so."""


class GPUOutOfMemory(RuntimeError):
    """The GPU ran out of memory; the message says what to change. Memory has been released."""


@dataclass(frozen=True)
class Voice:
    """A history prompt: the tokens of a piece of audio in the voice to continue.

    semantic (T,), coarse (2, N), fine (8, N); all int64.
    """

    semantic: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray
    name: str = ""

    def as_npz_dict(self) -> dict[str, np.ndarray]:
        return {"semantic_prompt": self.semantic, "coarse_prompt": self.coarse, "fine_prompt": self.fine}

    @property
    def seconds(self) -> float:
        return self.fine.shape[1] / 75.0


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation needs. Defaults are Bark's."""

    text: str
    voice: Optional[Voice] = None
    semantic_temp: float = 0.7
    coarse_temp: float = 0.7
    fine_temp: float = 0.5
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    min_eos_p: float = 0.2
    early_stop: bool = True
    max_seconds: Optional[float] = None
    max_coarse_history: int = 630
    sliding_window_len: int = 60
    seed: Optional[int] = None
    takes: int = 1
    long_form: bool = True
    segment_pause_s: float = 0.25
    decode: bool = True

    def validate(self) -> None:
        """Raise ValueError with a user-facing sentence for any unusable value."""
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("Please enter some text to speak.")
        for name, label in (("semantic_temp", "Semantic"), ("coarse_temp", "Coarse"), ("fine_temp", "Fine")):
            t = getattr(self, name)
            if not _finite(t) or not 0.0 < t <= 5.0:
                raise ValueError(f"{label} temperature must be a number in (0, 5], got {t!r}.")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 1):
            raise ValueError(f"Top-k must be a whole number of at least 1, got {self.top_k!r}.")
        if self.top_p is not None and (not _finite(self.top_p) or not 0.0 < self.top_p <= 1.0):
            raise ValueError(f"Top-p must be in (0, 1], got {self.top_p!r}.")
        if not _finite(self.min_eos_p) or not 0.0 <= self.min_eos_p <= 1.0:
            raise ValueError(f"Min EOS probability must be in [0, 1], got {self.min_eos_p!r}.")
        if self.max_seconds is not None and (not _finite(self.max_seconds) or self.max_seconds <= 0):
            raise ValueError(f"Max seconds must be a positive number, got {self.max_seconds!r}.")
        if not 60 <= self.max_coarse_history <= 630:
            raise ValueError("Max coarse history must be between 60 and 630.")
        if not 1 <= self.sliding_window_len or self.max_coarse_history + self.sliding_window_len > 768:
            raise ValueError("Sliding window length must be at least 1 and, with the coarse history, at most 768.")
        if self.seed is not None and (not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED):
            raise ValueError(f"Seed must be a whole number in 0..{MAX_SEED}, got {self.seed!r}.")
        if not isinstance(self.takes, int) or not 1 <= self.takes <= MAX_TAKES:
            raise ValueError(f"Takes must be between 1 and {MAX_TAKES}, got {self.takes!r}.")
        if not _finite(self.segment_pause_s) or not 0.0 <= self.segment_pause_s <= 10.0:
            raise ValueError("Pause between segments must be between 0 and 10 seconds.")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Progress:
    """One progress report: ``step`` of ``total`` in ``stage`` of segment ``segment`` (1-based) of ``segments``."""

    stage: str
    step: int
    total: int
    segment: int = 1
    segments: int = 1

    @property
    def fraction(self) -> float:
        """Overall completion in [0, 1], stages weighted roughly by their cost."""
        weights = {"semantic": 0.3, "coarse": 0.5, "fine": 0.15, "decode": 0.05}
        done = sum(weights[s] for s in STAGES[: STAGES.index(self.stage)])
        within = weights[self.stage] * (self.step / self.total if self.total else 1.0)
        return ((self.segment - 1) + done + within) / max(1, self.segments)


ProgressCallback = Callable[[Progress], None]
StopCallback = Callable[[], bool]


@dataclass
class Take:
    """One take: its audio (samples,) float32 at 24 kHz (None with ``decode=False``) and its tokens."""

    audio: Optional[np.ndarray]
    voice: Voice

    @property
    def seconds(self) -> float:
        if self.audio is not None:
            return len(self.audio) / SAMPLE_RATE
        return self.voice.seconds


@dataclass
class Generation:
    """The result of ``Engine.generate``."""

    takes: list[Take]
    seed: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, plus "total"
    warnings: list[str] = field(default_factory=list)
    sample_rate: int = SAMPLE_RATE

    @property
    def audio(self) -> np.ndarray:
        """(takes, samples) float32, shorter takes zero-padded at the end."""
        n = max((len(t.audio) for t in self.takes if t.audio is not None), default=0)
        out = np.zeros((len(self.takes), n), dtype=np.float32)
        for i, t in enumerate(self.takes):
            if t.audio is not None:
                out[i, : len(t.audio)] = t.audio
        return out
