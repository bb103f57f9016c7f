"""The engine's public data types: settings, requests, voices, results, progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np

from .constants import SAMPLE_RATE
from .sampling import Sampling
from .settings import BY_NAME, SETTINGS
from .settings import validate as validate_settings

STAGES = ("semantic", "coarse", "fine", "decode")  # progress stages: the three models, then the codec


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


def _default(name: str):
    return BY_NAME[name].default


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation needs. Defaults and ranges are the settings table's (bark_core.settings).

    A request checks itself when it is made (``dataclasses.replace`` makes a new one, checked too):
    a bad value is a ValueError with a sentence there, and whoever receives a request trusts it.
    """

    text: str
    voice: Optional[Voice] = None
    semantic_temp: float = _default("semantic_temp")
    coarse_temp: float = _default("coarse_temp")
    fine_temp: float = _default("fine_temp")
    top_k: Optional[int] = _default("top_k")
    top_p: Optional[float] = _default("top_p")
    min_eos_p: float = _default("min_eos_p")
    early_stop: bool = _default("early_stop")
    max_seconds: Optional[float] = _default("max_seconds")
    max_coarse_history: int = _default("max_coarse_history")
    sliding_window_len: int = _default("sliding_window_len")
    seed: Optional[int] = _default("seed")
    takes: int = _default("takes")
    long_form: bool = _default("long_form")
    segment_pause_s: float = _default("segment_pause_s")
    live_preview: bool = _default("live_preview")  # hand on_preview previews (when given one); changes no token or sample
    decode: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a user-facing sentence for any unusable value (done when the request is made)."""
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("Please enter some text to speak.")
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in self.text):
            raise ValueError("The text contains an invalid character (a lone UTF-16 surrogate); "
                             "paste it again as plain text.")
        validate_settings({s.name: getattr(self, s.name) for s in SETTINGS})

    def sampling(self, stage: str) -> Sampling:
        """The sampler settings of one stage; Bark's fine stage uses temperature only."""
        if stage == "fine":
            return Sampling(self.fine_temp)
        temperature = {"semantic": self.semantic_temp, "coarse": self.coarse_temp}[stage]
        return Sampling(temperature, self.top_k, self.top_p)

    def settings(self) -> dict:
        """The table's settings of this request by name (what history stores and "Reuse settings" restores)."""
        return {s.name: getattr(self, s.name) for s in SETTINGS}


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
SegmentCallback = Callable[[int, int, list], None]  # (segment index, segments, joined audio of each take so far)
# (segment index, segments, each take's audio: its finished segments joined, then a preview of the segment in
# the making decoded from the coarse codes so far); the final audio follows through on_segment / the result.
PreviewCallback = Callable[[int, int, list], None]


@dataclass(frozen=True)
class SegmentTake:
    """One segment of a take: its text, its tokens, and where its audio lies in ``Take.audio``.

    ``start``/``end`` are the sample range of this segment's own audio inside the joined take
    (the pauses between segments excluded; with ``decode=False``, where it would lie: 320
    samples per frame). ``tries``: how many draws the segment took (1 unless a segment check
    asked for retakes).
    """

    text: str
    tokens: Voice
    start: int
    end: int
    tries: int = 1


@dataclass(frozen=True)
class SegmentCheck:
    """What a segment check (``accept_segment``) sees after each segment of each take is decoded."""

    take: int  # 0-based take index within its request
    segment: int  # 0-based segment index
    text: str
    tokens: Voice
    audio: Optional[np.ndarray]  # None with decode=False
    tries: int = 1  # this is the segment's tries-th draw


SegmentCheckCallback = Callable[[SegmentCheck], bool]


@dataclass
class Take:
    """One take: its audio (samples,) float32 at 24 kHz (None with ``decode=False``) and its tokens.

    ``voice`` holds the last segment's tokens (a ready voice); ``seed`` regenerates this take
    alone (``GenerationRequest(seed=take.seed, takes=1)``); ``segments`` has one entry per
    segment of a long text.
    """

    audio: Optional[np.ndarray]
    voice: Voice
    seed: int = 0
    segments: list[SegmentTake] = field(default_factory=list)

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


@dataclass(frozen=True)
class BatchJob:
    """One request of a cross-request batch (``Engine.generate_batch``), with its own callbacks.

    ``on_done`` (optional) receives the job's Generation or exception as soon as it is known,
    before the rest of the batch ends. ``on_preview`` (optional): see ``Engine.generate``.
    """

    request: GenerationRequest
    on_progress: Optional[ProgressCallback] = None
    should_stop: Optional[StopCallback] = None
    on_segment: Optional[SegmentCallback] = None
    accept_segment: Optional[SegmentCheckCallback] = None
    segment_retakes: int = 0
    on_done: Optional[Callable[[Union[Generation, BaseException]], None]] = None
    on_preview: Optional[PreviewCallback] = None
    owner: str = ""  # whose request (a BatchingEngine serves owners in turn; the engine ignores it)
