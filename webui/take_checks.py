"""Take checks: is a take on script and in the chosen voice? One scorer for whole takes, long-form segments
and timeline segments, the user's thresholds and the "Retake until it passes" budget."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any, Callable, NamedTuple, Optional, Sequence

from bark_core import SAMPLE_RATE, Generation, GenerationRequest, settings as table
from bark_core.takecheck import SpeakerReference, TakeChecker, TakeScore, Thresholds

from .checks import not_checked
from .job_runner import JobRunner
from .voice_book import VoiceBook

log = logging.getLogger(__name__)

MAX_RETAKES = 20  # extra tries "Retake until it passes" may spend on one generation
MAX_RETAKE_SECONDS = 3600.0


class Part(NamedTuple):
    """One stretch of audio to check: its samples (None: nothing to check), its script and the language it is in."""

    audio: Any
    text: str
    language: str


def thresholds(min_on_script: Any = None, min_same_voice: Any = None) -> Thresholds:
    """The user's take-check thresholds (None: the default); ValueError with a sentence when out of range."""
    base = Thresholds()
    values = {}
    for name, value, label in (("min_on_script", min_on_script, "on-script minimum"),
                               ("min_speaker_similarity", min_same_voice, "same-speaker minimum")):
        if value is None or value == "":
            values[name] = getattr(base, name)
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if not 0.0 <= v <= 1.0:  # NaN fails too
            raise ValueError(f"The {label} must be a number from 0 to 1.")
        values[name] = v
    return dataclasses.replace(base, **values)


def retake_budget(tries: Any, seconds: Any) -> tuple[int, float]:
    """(extra tries, seconds; 0 = no time limit) for "Retake until it passes"; ValueError when out of range."""
    try:
        n = float(tries or 0)
        secs = float(seconds or 0)
    except (TypeError, ValueError):
        n = secs = math.nan
    if not (0 <= n <= MAX_RETAKES and n == int(n)):
        raise ValueError(f"Retakes must be a whole number from 0 to {MAX_RETAKES}.")
    if not 0 <= secs <= MAX_RETAKE_SECONDS:
        raise ValueError(f"The retake time budget must be from 0 (no limit) to {MAX_RETAKE_SECONDS:.0f} seconds.")
    return int(n), secs


def retake_request(req: GenerationRequest, base_seed: int, n_takes: int, extra: int) -> GenerationRequest:
    """Retake ``extra`` (1-based): one take with the next seed after the batch's (take b has seed + b)."""
    return dataclasses.replace(req, takes=1, seed=table.take_seed(int(base_seed), n_takes + extra - 1))


class TakeChecks:
    """The take checker (PocketSphinx aligner, speaker encoder; loaded on first use) applied to takes and segments."""

    def __init__(self, voices: VoiceBook, runner: JobRunner):
        self._voices, self._runner = voices, runner
        self._checker: Optional[TakeChecker] = None

    def checker(self) -> TakeChecker:
        if self._checker is None:
            self._checker = TakeChecker()
        return self._checker

    def language(self, text: str, voice_ref: str) -> str:
        """The language a take check listens for: the preset's, else English for mostly-ASCII text."""
        preset = self._voices.preset(voice_ref)
        ascii_share = sum(ch.isascii() for ch in text if ch.isalpha()) / max(1, sum(ch.isalpha() for ch in text))
        return preset.language if preset else ("en" if ascii_share > 0.9 else "unknown")

    def speaker_reference(self, req: GenerationRequest) -> Optional[SpeakerReference]:
        """The voice's own audio as a speaker reference (None without a voice, speech or speaker encoder)."""
        if req.voice is None:
            return None
        try:
            return self.checker().reference(self._runner.engine().decode(req.voice.fine), SAMPLE_RATE)
        except (ValueError, RuntimeError) as e:  # no speech in the voice, or no speaker encoder installed
            log.info("no speaker reference: %s", e)
            return None

    def score_takes(self, req: GenerationRequest, voice_ref: str, gen: Generation, thresholds: Optional[Thresholds] = None,
                    reference: Any = "voice") -> list[Optional[dict[str, Any]]]:
        """Each take's on-script and same-speaker scores (None where scoring failed; the takes are kept).

        ``thresholds`` decide each take's ``passed`` (default ``Thresholds()``); ``reference`` is a
        ``speaker_reference(req)`` already made (the default makes it from the request's voice).
        A long-form take also gets each segment's scores (``score_segments``) under ``segments``.
        """
        text = req.text
        language = self.language(text, voice_ref)
        checker = self.checker()
        if isinstance(reference, str):
            reference = self.speaker_reference(req)
        scores: list[Optional[dict[str, Any]]] = []
        for take in gen.takes:
            try:
                score = checker.score(take.audio, SAMPLE_RATE, text, language=language, reference=reference,
                                      thresholds=thresholds).to_dict()
                if len(take.segments) > 1:
                    score["segments"] = self._segment_dicts(take.audio, take.segments, language, thresholds)
                scores.append(not_checked(score, language, req.voice is not None, checker))
            except Exception as e:  # scoring must never lose a generation
                log.warning("take check failed: %s", type(e).__name__)
                scores.append(None)
        return scores

    def _segment_dicts(self, audio: Any, segments: list, language: str,
                       thresholds: Optional[Thresholds]) -> list[dict[str, Any]]:
        """A long-form take's segment checks as stored with the take; RuntimeError when one could not run."""
        parts = [Part(audio[seg.start:seg.end], seg.text, language) for seg in segments]
        scored = self.score_segments(parts, SAMPLE_RATE, thresholds)
        if any(s is None for s in scored):
            raise RuntimeError("a segment of the take could not be checked")
        return [{"text": seg.text, "on_script": s.on_script,  # segment 1 is the reference: no similarity
                 "similarity_to_first": s.speaker_similarity if k else None,
                 "tries": int(seg.tries), "passed": s.details.get("passed"), "issues": list(s.issues)}
                for k, (seg, s) in enumerate(zip(segments, scored))]

    def score_segments(self, parts: Sequence[Part], sample_rate: int, thresholds: Optional[Thresholds] = None,
                       only: Optional[Sequence[int]] = None) -> list[Optional[TakeScore]]:
        """The one segment scorer: each part on script (its own text) and, after the first, the same speaker
        as part 1 (drift). Parts ``only`` (default all with audio) are scored; None for the others and
        for a part whose check could not run (logged; never raises for it)."""
        ks = [k for k in (range(len(parts)) if only is None else only) if parts[k].audio is not None]
        out: list[Optional[TakeScore]] = [None] * len(parts)
        if not ks:
            return out
        checker = self.checker()
        first = None
        if parts and parts[0].audio is not None and any(k > 0 for k in ks):
            try:
                first = checker.reference(parts[0].audio, sample_rate)
            except Exception as e:  # no speech in segment 1, or no speaker encoder
                log.info("no first-segment reference: %s", type(e).__name__)
        for k in ks:
            part = parts[k]
            try:
                out[k] = checker.score(part.audio, sample_rate, part.text, language=part.language,
                                       reference=first if k else None, thresholds=thresholds)
            except Exception as e:  # scoring never loses a segment
                log.warning("segment check failed: %s", type(e).__name__)
        return out

    def segment_check(self, req: GenerationRequest, voice_ref: str, thresholds: Optional[Thresholds],
                      reference: Optional[SpeakerReference], deadline: Optional[float] = None) -> Callable[[Any], bool]:
        """``accept_segment`` for the engine: a long-form segment passes the take check (its own text, the voice),
        or is accepted anyway once ``deadline`` (time.monotonic()) has passed."""
        language = self.language(req.text, voice_ref)

        def accept(check: Any) -> bool:
            if check.audio is None or (deadline is not None and time.monotonic() >= deadline):
                return True
            try:
                s = self.checker().score(check.audio, SAMPLE_RATE, check.text, language=language,
                                         reference=reference, thresholds=thresholds)
            except Exception as e:  # a check that cannot run never blocks the generation
                log.warning("segment check failed: %s", type(e).__name__)
                return True
            return bool(s.details.get("passed"))

        return accept


__all__ = ["MAX_RETAKES", "MAX_RETAKE_SECONDS", "Part", "TakeChecks", "retake_budget", "retake_request", "thresholds"]
