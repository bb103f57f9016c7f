"""Take check: score a take for staying on the script, keeping the voice and sounding clean.

Three checks, all offline, with models that ship inside their wheels:

- **on_script** (``alignment``): PocketSphinx forced alignment of the take to the prompt's words
  (tags like ``[laughs]``, ``♪`` and punctuation removed). ``on_script`` is the fraction of the
  prompt's words that the alignment placed with an acceptable acoustic fit (goodness of
  pronunciation, per frame against the best-fitting sounds, at least ``alignment.GOP_FLOOR``);
  if the whole text cannot be aligned, the longest prefix that can is scored and the rest is
  missing. Words the English
  dictionary does not know are left out of the fraction and listed in ``details``. A right take
  typically scores 0.85-1.0; a take saying something else scores far lower (0.1-0.6 measured).
  Only English can be checked: for other languages ``on_script`` is None and ``issues`` says
  "on-script not checked for <language>".
- **speaker_similarity** (``speaker``): cosine of Resemblyzer speaker embeddings of the take and a
  reference (a voice's own audio: ``voice_reference_audio``; in long-form, the first segment).
  None without a reference.
- **signal** (``signal``): clipping, long silences inside the take, a take far shorter (stopped
  early) or far longer than its text needs, level too low or too high.

Scores are deterministic: the same audio and text give the same numbers.

Dependencies (nothing is downloaded at run time): ``pocketsphinx`` 5.1.1 (BSD, CMU; model files in
the wheel) with its ``sounddevice`` (MIT; never imported here); ``webrtcvad-wheels`` (MIT; prebuilt
WebRTC voice activity detector); ``scipy`` (BSD-3; resampling); ``resemblyzer`` 0.1.4 (Apache-2.0),
installed with ``--no-deps``, of which only the ``pretrained.pt`` weights are read.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..longform import estimate_seconds
from .alignment import AlignerUnavailable, SphinxAligner
from .signal import measure
from .speaker import EncoderUnavailable, SpeakerEncoder, cosine, resample
from .text import prompt_words

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKED_LANGUAGES", "SpeakerReference", "TakeChecker", "TakeScore", "Thresholds",
    "prompt_words", "rank", "rank_dicts", "voice_reference_audio",
]

CHECKED_LANGUAGES = frozenset({"en"})  # PocketSphinx's wheel carries a US-English model only


@dataclass(frozen=True)
class Thresholds:
    """What a take must clear to pass. None switches a check off."""

    min_on_script: Optional[float] = 0.8
    min_speaker_similarity: Optional[float] = 0.75
    max_clipped_fraction: Optional[float] = 0.001  # 0.1 % of samples at full scale
    max_silence_s: Optional[float] = 1.5  # longest silence inside the take
    min_length_ratio: Optional[float] = 0.5  # speech at least half as long as the text needs
    max_length_ratio: Optional[float] = 3.0  # ... and at most 3x (+2 s) as long
    min_level_dbfs: Optional[float] = -40.0
    max_level_dbfs: Optional[float] = -3.0

    def validate(self) -> "Thresholds":
        for name in ("min_on_script", "min_speaker_similarity", "max_clipped_fraction"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"The threshold {name.replace('_', ' ')} must be between 0 and 1, got {v!r}.")
        for name in ("max_silence_s", "min_length_ratio", "max_length_ratio"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and 0.0 <= v < 1e6):
                raise ValueError(f"The threshold {name.replace('_', ' ')} must be a positive number, got {v!r}.")
        for name in ("min_level_dbfs", "max_level_dbfs"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and -200.0 <= v <= 0.0):
                raise ValueError(f"The threshold {name.replace('_', ' ')} must be between -200 and 0 dBFS, got {v!r}.")
        return self


@dataclass(frozen=True)
class SpeakerReference:
    """A speaker embedding to compare takes with (build it once per voice with ``TakeChecker.reference``)."""

    embedding: np.ndarray  # (256,) float32, L2-normalised


@dataclass(frozen=True)
class TakeScore:
    """The scores of one take. ``details`` is JSON-ready (plain numbers, strings, lists, dicts)."""

    on_script: Optional[float]
    missing_words: list[str]
    speaker_similarity: Optional[float]
    issues: list[str]
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: on_script, speaker_similarity, issues, missing_words, passed, details."""
        return {
            "on_script": self.on_script,
            "speaker_similarity": self.speaker_similarity,
            "issues": list(self.issues),
            "missing_words": list(self.missing_words),
            "passed": self.details.get("passed"),
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TakeScore":
        """Back from ``to_dict``'s JSON shape (e.g. a score kept in the studio's history)."""
        return cls(d.get("on_script"), list(d.get("missing_words") or []), d.get("speaker_similarity"),
                   list(d.get("issues") or []), dict(d.get("details") or {}))


def _failures(on_script: Optional[float], similarity: Optional[float], details: dict, t: Thresholds) -> list[str]:
    """The sentences for every threshold this take misses (empty: it passes)."""
    out: list[str] = []
    if t.min_on_script is not None and on_script is not None and on_script < t.min_on_script:
        n, missing = details.get("words_checked", 0), details.get("missing_count", 0)
        out.append(f"off script: {missing} of {n} words not found (on-script {on_script:.2f} < {t.min_on_script:.2f})")
    if t.min_speaker_similarity is not None and similarity is not None and similarity < t.min_speaker_similarity:
        out.append(f"different speaker: similarity {similarity:.2f} < {t.min_speaker_similarity:.2f}")
    s = details.get("signal", {})
    expected = details.get("expected_s") or 0.0
    if s.get("level_dbfs") is None:
        out.append("silent take: no sound above the noise floor")
        return out
    if t.max_clipped_fraction is not None and s["clipped_fraction"] > t.max_clipped_fraction:
        out.append(f"clipping: {100 * s['clipped_fraction']:.2f}% of samples at full scale")
    if t.max_silence_s is not None and s["longest_silence_s"] > t.max_silence_s:
        out.append(f"long silence: {s['longest_silence_s']:.1f} s at {s['longest_silence_at_s']:.1f} s")
    if t.min_length_ratio is not None and expected >= 1.0 and s["speech_s"] < t.min_length_ratio * expected:
        out.append(f"stopped early: {s['speech_s']:.1f} s of sound for text that needs about {expected:.1f} s")
    if t.max_length_ratio is not None and expected > 0 and s["speech_s"] > t.max_length_ratio * expected + 2.0:
        out.append(f"too long: {s['speech_s']:.1f} s of sound for text that needs about {expected:.1f} s")
    if t.min_level_dbfs is not None and s["level_dbfs"] < t.min_level_dbfs:
        out.append(f"too quiet: {s['level_dbfs']:.0f} dBFS")
    if t.max_level_dbfs is not None and s["level_dbfs"] > t.max_level_dbfs:
        out.append(f"too loud: {s['level_dbfs']:.0f} dBFS")
    return out


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"The {what} must be mono audio (one channel), got an array of shape {a.shape}.")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"The {what} must be float samples in [-1, 1], got {a.dtype}.")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"The {what} contains NaN or infinite samples.")
    return a


def _check_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, (int, np.integer)) or not 8_000 <= int(sample_rate) <= 192_000:
        raise ValueError(f"The sample rate must be a whole number of Hz between 8000 and 192000, got {sample_rate!r}.")
    return int(sample_rate)


class TakeChecker:
    """Scores takes. Build one and reuse it: the aligner and the speaker encoder load on first use.

    One take is scored at a time (a lock serialises calls), which suits one generation job at a time.
    """

    def __init__(self, encoder_weights: Optional[str] = None) -> None:
        self._encoder_weights = encoder_weights
        self._aligner: Optional[SphinxAligner] = None
        self._encoder: Optional[SpeakerEncoder] = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lazy models
    def aligner(self) -> SphinxAligner:
        """The on-script aligner (PocketSphinx), loaded on first use and kept."""
        if self._aligner is None:
            self._aligner = SphinxAligner()
        return self._aligner

    def encoder(self) -> SpeakerEncoder:
        """The speaker encoder, loaded on first use and kept."""
        if self._encoder is None:
            self._encoder = SpeakerEncoder.load(self._encoder_weights)
        return self._encoder

    # ------------------------------------------------------------------ API
    def speaker_unavailable(self) -> Optional[str]:
        """Why the same-speaker check cannot run here (a sentence), or None when it can."""
        try:
            with self._lock:
                self.encoder()
        except EncoderUnavailable as e:
            return str(e)
        return None

    def reference(self, audio: np.ndarray, sample_rate: int) -> SpeakerReference:
        """The speaker embedding of reference audio (a voice's decoded prompt, or a first segment)."""
        audio, sample_rate = _mono(audio, "reference audio"), _check_rate(sample_rate)
        with self._lock:
            emb = self.encoder().embed(audio, sample_rate)
        if emb is None:
            raise ValueError("The reference audio holds no speech to compare a voice with.")
        return SpeakerReference(emb)

    def score(
        self,
        audio: np.ndarray,
        sample_rate: int,
        text: str,
        *,
        language: str = "en",
        reference: Union[SpeakerReference, np.ndarray, None] = None,
        thresholds: Optional[Thresholds] = None,
    ) -> TakeScore:
        """Score one take of ``text``. ``reference``: a SpeakerReference, or raw audio at ``sample_rate``.

        ``issues`` lists every threshold the take misses (``thresholds``, default ``Thresholds()``)
        and every check that could not run; ``details["passed"]`` says whether it cleared them all.
        """
        audio, sample_rate = _mono(audio, "take"), _check_rate(sample_rate)
        if not isinstance(text, str):
            raise ValueError(f"The text must be a string, got {type(text).__name__}.")
        if not isinstance(language, str) or not language.strip():
            raise ValueError("The language must be a code like en or de.")
        language = language.strip().lower()
        t = (thresholds or Thresholds()).validate()
        notes: list[str] = []
        stats = measure(audio, sample_rate)
        words = prompt_words(text, language)
        details: dict[str, Any] = {
            "language": language,
            "duration_s": stats.duration_s,
            "expected_s": round(estimate_seconds(text), 2),
            "signal": {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(stats).items()},
            "words_checked": 0,
            "missing_count": 0,
        }
        with self._lock:
            on_script, missing = self._on_script(audio, sample_rate, words, language, details, notes)
            similarity = self._similarity(audio, sample_rate, reference, details, notes)
        failures = _failures(on_script, similarity, details, t)
        details["passed"] = not failures
        details["thresholds"] = asdict(t)
        return TakeScore(on_script, missing, similarity, failures + notes, details)

    def passes(self, score: TakeScore, thresholds: Optional[Thresholds] = None) -> bool:
        """Whether a scored take clears ``thresholds`` (re-evaluated from its numbers, not its issues)."""
        t = (thresholds or Thresholds()).validate()
        return not _failures(score.on_script, score.speaker_similarity, score.details, t)

    # ------------------------------------------------------------------ parts
    def _on_script(self, audio, sample_rate, words, language, details, notes) -> tuple[Optional[float], list[str]]:
        if language not in CHECKED_LANGUAGES:
            notes.append(f"on-script not checked for {language}")
            return None, []
        if not words:
            notes.append("on-script not checked: the text has no words to say")
            return None, []
        try:
            aligner = self.aligner()
        except AlignerUnavailable as e:
            logger.warning("%s", e)
            notes.append(f"on-script not checked: {e}")
            return None, []
        result = aligner.check(resample(audio, sample_rate, 16_000), words)
        details.update(
            words_checked=len(words) - len(result.unknown),
            missing_count=len(result.missing),
            unknown_words=result.unknown,
            aligned_words=result.aligned_words,
            full_alignment=result.full_alignment,
            word_fits=[asdict(f) for f in result.fits],
        )
        if result.unknown:
            shown = ", ".join(result.unknown[:5]) + (" ..." if len(result.unknown) > 5 else "")
            notes.append(f"not in the English dictionary, not checked: {shown}")
        if result.score is None:
            notes.append("on-script not checked: no word of the text is in the English dictionary")
            return None, []
        return round(result.score, 3), result.missing

    def _similarity(self, audio, sample_rate, reference, details, notes) -> Optional[float]:
        if reference is None:
            return None
        try:
            encoder = self.encoder()
        except EncoderUnavailable as e:
            logger.warning("%s", e)
            notes.append(f"speaker not checked: {e}")
            return None
        if isinstance(reference, SpeakerReference):
            ref = reference.embedding
        else:
            ref = encoder.embed(_mono(reference, "reference audio"), sample_rate)
            if ref is None:
                notes.append("speaker not checked: the reference holds no speech")
                return None
        emb = encoder.embed(audio, sample_rate)
        if emb is None:
            notes.append("speaker not checked: the take holds no speech")
            return None
        return round(cosine(emb, ref), 3)


def rank(scores: Sequence[TakeScore], thresholds: Optional[Thresholds] = None) -> list[int]:
    """Indices of ``scores``, best take first.

    Order: takes that pass ``thresholds`` first; then higher on_script; then higher speaker
    similarity; then fewer issues; then the original order. A score that was not checked (None)
    ranks below any number (takes of one request share their language and reference, so in practice
    either all or none of them have it).
    """
    t = (thresholds or Thresholds()).validate()

    def key(i: int):
        s = scores[i]
        fails = _failures(s.on_script, s.speaker_similarity, s.details, t)
        return (
            bool(fails),
            -(s.on_script if s.on_script is not None else -1.0),
            -(s.speaker_similarity if s.speaker_similarity is not None else -1.0),
            len(s.issues),
            i,
        )

    return sorted(range(len(scores)), key=key)


def rank_dicts(scores: Sequence[Optional[dict[str, Any]]], thresholds: Optional[Thresholds] = None) -> list[int]:
    """``rank`` for scores in their JSON shape (``TakeScore.to_dict``); a take that was not scored (None) comes last."""
    scored = [i for i, s in enumerate(scores) if s]
    order = rank([TakeScore.from_dict(scores[i]) for i in scored], thresholds)  # type: ignore[arg-type]
    return [scored[k] for k in order] + [i for i, s in enumerate(scores) if not s]


def voice_reference_audio(voice, codec) -> np.ndarray:
    """A voice's own audio (24 kHz mono float32): its fine prompt decoded with ``bark_core.codec.Codec``."""
    import torch

    fine = np.asarray(voice.fine)
    if fine.ndim != 2 or fine.shape[1] == 0:
        raise ValueError("The voice has no fine prompt to decode into reference audio.")
    audio = codec.decode(torch.from_numpy(fine.astype(np.int64)))
    return audio[0].detach().cpu().float().numpy()
