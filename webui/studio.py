"""The studio's one way into the engine, the store and streaming: voices, requests, runs, saving.

``Studio`` turns what the browser sends into a ``GenerationRequest`` (every bad value a
``ValueError`` with a sentence), runs it on the shared engine and stores the result for its
owner. The tab handlers (``webui/tab_*.py``) and the API (``webui/api.py``) use only this object.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import soundfile as sf

from bark_core import (
    SAMPLE_RATE,
    CloneSettings,
    Generation,
    GenerationCancelled,
    GenerationRequest,
    GPUOutOfMemory,
    PresetInfo,
    Voice,
    VoiceCloner,
    WeightsNotFound,
    contract,
    export,
    load_voice_npz,
    preset_catalog,
    save_voice,
    settings as table,
)
from bark_core.audiotools import PostProcess
from bark_core.takecheck import SpeakerReference, TakeChecker, Thresholds

from .checks import not_checked
from .engine_holder import EngineHolder
from .exports import Exports, default_root
from .limits import Limits
from .quotas import Quotas
from .jobs import CancelRegistry
from .runner import stream_generation
from .store import GenerationRecord, Store, VoiceRecord, owner_key, write_wav_atomic

log = logging.getLogger(__name__)

# Longest prompt accepted at once: about five minutes of speech (~16 characters a second), split into
# ~20 segments. Much longer text would hold the one shared engine for a long time, and splitting
# 100 000 characters alone takes seconds, so it is refused with a sentence instead.
MAX_TEXT_CHARS = 5000
MAX_CLONE_BYTES = 32 * 1024 * 1024  # a recording to clone from, uploaded to the studio or /clone
HISTORY_LIMIT = 200

PREVIEW_TEXT = {
    "en": "Hi! This is what my voice sounds like.",
    "de": "Hallo! So klingt meine Stimme.",
    "es": "¡Hola! Así suena mi voz.",
    "fr": "Bonjour ! Voici à quoi ressemble ma voix.",
    "hi": "नमस्ते! मेरी आवाज़ ऐसी सुनाई देती है।",
    "it": "Ciao! Ecco come suona la mia voce.",
    "ja": "こんにちは！これが私の声です。",
    "ko": "안녕하세요! 제 목소리는 이렇습니다.",
    "pl": "Cześć! Tak brzmi mój głos.",
    "pt": "Olá! É assim que a minha voz soa.",
    "ru": "Привет! Вот так звучит мой голос.",
    "tr": "Merhaba! Sesim böyle duyuluyor.",
    "zh": "你好！这就是我的声音。",
}
PREVIEW_MAX_SECONDS = 5.0
NO_VOICE = ""
MAX_RETAKES = 20  # extra tries "Retake until it passes" may spend on one generation
MAX_RETAKE_SECONDS = 3600.0


class StorageError(ValueError):
    """The data folder could not be written (disk full, read-only); nothing was saved."""


def session_key(request: Any) -> Optional[str]:
    """The caller's Gradio session (one per browser tab or API client), or None."""
    return getattr(request, "session_hash", None) or None


def preset_label(p: PresetInfo) -> str:
    if p.name == "announcer":
        return "Announcer (English, v1)"
    n = p.name.rsplit("_", 1)[-1]
    gender = {"male": "♂ male", "female": "♀ female"}.get(p.gender, "")
    return " · ".join(x for x in (f"{p.language_name} {n}", gender, p.version) if x)


def echo(value: Any, n: int = 60) -> str:
    """A user's string quoted back in a message: printable and short."""
    text = "".join(ch if ch.isprintable() else "�" for ch in str(value))
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def text_too_long(text: Optional[str], limit: int) -> Optional[str]:
    if text is not None and len(text) > limit:
        return (f"The text is {len(text):,} characters long; the studio takes at most {limit:,} at a time "
                f"(about {limit // 16 // 60} minutes of audio). Split it into parts and generate them one by one.")
    return None


def storage_error(e: BaseException) -> StorageError:
    """A failed write to the data directory (disk full, read-only, missing folder) as a sentence."""
    log.error("could not write to the data directory: %s", type(e).__name__)
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return StorageError(f"Could not save to the studio's data folder ({reason}). The disk may be full or the "
                        "folder read-only; free some space or start the studio with a writable --data-dir. "
                        "Nothing was saved.")


def user_error(e: BaseException) -> ValueError:
    """What the browser sees for a failed generation: our sentence, never a traceback."""
    if isinstance(e, GPUOutOfMemory):
        return ValueError(f"{e} In the studio: Models → Small or Stage-by-stage offload, or fewer Takes.")
    if isinstance(e, ValueError):
        return e
    log.error("generation failed", exc_info=e)
    return ValueError(f"Generation failed ({type(e).__name__}). The server log has the details.")


def _catalog(engine: Any) -> list[PresetInfo]:
    try:
        return list(engine.presets()) if engine is not None else list(preset_catalog())
    except Exception:
        log.exception("preset catalog unavailable")
        return []


SPEED_SAMPLES = 20  # the most recent generations the queue message learns from
STALE_JOB_S = 3600.0  # a job noted as waiting or running this long without news is forgotten


def measured_rate(samples: list[tuple[float, float, int]], takes: int = 1) -> Optional[float]:
    """Seconds of compute per second of audio on this engine: the median of recent generations
    ``(compute_s, audio_s, takes)``, those with the same number of takes if there are any (a batch of
    several takes costs more than one); None before the first generation."""
    same = [(c, a) for c, a, n in samples if n == takes and a > 0]
    scaled = same or [(c * takes / max(1, n), a) for c, a, n in samples if a > 0]
    if not scaled:
        return None
    rates = sorted(c / a for c, a in scaled)
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else (rates[mid - 1] + rates[mid]) / 2


def remaining_seconds(rate: Optional[float], audio_s: float, elapsed: float = 0.0, fraction: float = 0.0) -> Optional[float]:
    """Seconds left for a job making ``audio_s`` seconds of audio, ``elapsed`` seconds and ``fraction`` into it.

    From the measured rate until a tenth is done, then from the job's own pace (elapsed / fraction),
    which knows this prompt; None when there is nothing to go on yet.
    """
    if fraction >= 0.1 and elapsed > 0:
        return max(0.0, elapsed * (1 - fraction) / fraction)
    if rate is None:
        return None
    return max(0.0, rate * audio_s - elapsed)


def eta_text(rate: Optional[float], left: Optional[float], ahead: Optional[float] = None, waiting: int = 0) -> str:
    """The queue line: "~40 s left (measured: 3.1 s per second of audio on this engine)"."""
    if left is None or rate is None:
        base = "estimating… (no generation on this engine to measure yet)"
    else:
        base = f"~{_secs(left)} left (measured: {rate:.1f} s per second of audio on this engine)"
    if waiting:
        before = f" ~{_secs(ahead)} for the {waiting} job{'s' * (waiting > 1)} ahead, then" if ahead is not None \
            else f" {waiting} job{'s' * (waiting > 1)} ahead, then"
        return f"Waiting:{before} {base}"
    return base


def _secs(s: float) -> str:
    return f"{s / 60:.0f} min" if s >= 90 else f"{max(1, round(s))} s"


class SegmentChecked:
    """An engine whose ``generate`` also gets ``accept_segment`` and ``segment_retakes`` (everything else is the engine's)."""

    def __init__(self, engine: Any, accept_segment: Callable[[Any], bool], segment_retakes: int):
        self._engine, self._accept, self._retakes = engine, accept_segment, int(segment_retakes)

    def generate(self, request: GenerationRequest, **callbacks: Any) -> Any:
        return self._engine.generate(request, accept_segment=self._accept, segment_retakes=self._retakes, **callbacks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class Studio:
    """The state and behaviour behind the UI: the engine holder, the store, per-session Stop flags, streaming."""

    def __init__(self, holder: EngineHolder, store: Store, *, allow_model_changes: bool = True,
                 request_defaults: Optional[dict[str, Any]] = None,
                 gpu_wrap: Optional[Callable[[Callable], Callable]] = None, max_text_chars: int = MAX_TEXT_CHARS,
                 limits: Optional[Limits] = None):
        self.holder = holder
        self.store = store
        self.max_text_chars = int(max_text_chars)
        self.cancels = CancelRegistry()
        self.job_options: dict[str, dict[str, Any]] = {}  # per session: the next Generate's take-check options
        self._speeds: list[tuple[float, float, int]] = []  # (compute_s, audio_s, takes) on ``_speed_engine``
        self._speed_engine: Any = None
        self._jobs: dict[str, list] = {}  # session -> [audio_s, takes, started or None, fraction, queued] (monotonic)
        self.allow_model_changes = allow_model_changes
        self.request_defaults = dict(request_defaults or {})
        self._stream = gpu_wrap(stream_generation) if gpu_wrap else stream_generation
        self.forget_files: Callable[[list[Path]], None] = lambda paths: None  # drop served copies (set by the app)
        # every prepared download (History zip, /export, timeline exports): one folder, swept with its served copies
        self.limits = limits or Limits()
        self.quotas = Quotas(self.limits, store)  # per-owner room and per-owner/address save rates
        self.exports = Exports(default_root(store.root), keep_s=self.limits.export_keep_s,
                               max_bytes=self.limits.export_max_bytes,
                               forget_served=lambda paths: self.forget_files(list(paths)))
        self._cloner: Optional[tuple[Any, Any]] = None  # (engine, cloner)
        self._checker: Optional[TakeChecker] = None
        self.catalog: list[PresetInfo] = []
        self.catalog_by_name: dict[str, PresetInfo] = {}
        self.refresh_catalog()

    # -- engine access ----------------------------------------------------------------
    def engine(self) -> Any:
        if self.holder.engine is None:
            raise ValueError("The model is not loaded yet. Open the setup panel at the top to download or load it.")
        return self.holder.engine

    def cloner(self) -> Any:
        """The voice cloner for the current engine (HuBERT + quantizer + the engine's codec), loaded on first use."""
        engine = self.engine()
        if self._cloner is None or self._cloner[0] is not engine:
            try:
                self._cloner = (engine, VoiceCloner.load(CloneSettings.from_engine(engine), codec=engine.codec))
            except WeightsNotFound as e:
                raise ValueError(str(e)) from None
        return self._cloner[1]

    def refresh_catalog(self) -> None:
        """Re-read the preset catalog (after a model load)."""
        self.catalog = _catalog(self.holder.engine)
        self.catalog_by_name = {p.name: p for p in self.catalog}

    def languages(self) -> list[str]:
        return sorted({p.language_name for p in self.catalog})

    # -- voices -----------------------------------------------------------------------
    def voice_label(self, owner: str, ref: str) -> str:
        if not ref:
            return "No voice (a random speaker each time)"
        kind, _, key = ref.partition(":")
        if kind == "preset":
            p = self.catalog_by_name.get(key)
            return preset_label(p) if p else key
        if kind == "user" and owner:
            v = self.store.get_voice(owner, key)
            return f"My voice: {v.name}" if v else "(deleted voice)"
        return ref

    def resolve_voice(self, owner: str, ref: str) -> Optional[Voice]:
        if not ref:
            return None
        kind, _, key = ref.partition(":")
        engine = self.engine()
        if kind == "preset":
            if key not in self.catalog_by_name:
                raise ValueError(f"Unknown voice preset {echo(key)}. Pick one from the voice list "
                                 "(e.g. v2/en_speaker_6), or leave it empty for a random speaker.")
            return engine.load_voice(key)
        if kind == "user":
            v = self.store.get_voice(owner, key) if owner else None
            if v is None:
                raise ValueError("That voice no longer exists; pick another one.")
            return load_voice_npz(v.path, name=v.name)
        raise ValueError(f"Unknown voice {echo(ref)}.")

    def voice_choices(self, owner: str, language: str, gender: str, version: str, query: str) -> list[tuple[str, str]]:
        """The voice list for these filters: no voice, the owner's voices, then matching presets."""
        q = (query or "").strip().lower()
        choices: list[tuple[str, str]] = [("No voice (random speaker)", NO_VOICE)]
        if owner:
            choices += [(f"★ {v.name}", f"user:{v.id}") for v in self.store.list_voices(owner)
                        if not q or q in v.name.lower()]
        for p in self.catalog:
            if p.version != version:
                continue
            if language not in ("All", p.language_name):
                continue
            if gender != "Any" and p.gender != gender.lower():
                continue
            if q and q not in self.preset_search_text(p):
                continue
            choices.append((preset_label(p), f"preset:{p.name}"))
        return choices

    @staticmethod
    def preset_search_text(p: PresetInfo) -> str:
        """What voice search matches for a preset: its name, label, language, gender, version and notes."""
        return f"{p.name} {preset_label(p)} {p.language_name} {p.gender} {p.version} {p.description}".lower()

    def add_voice(self, owner: str, name: str, voice: Voice, source: str) -> VoiceRecord:
        self.quotas.check_voices(owner)
        try:
            return self.store.add_voice(owner, self.unique_voice_name(owner, name), voice, source, save_voice)
        except OSError as e:
            raise storage_error(e) from None

    def unique_voice_name(self, owner: str, name: str) -> str:
        """``name``, or ``name (2)``, ``name (3)``… so two voices of one owner can be told apart."""
        taken = {v.name for v in self.store.list_voices(owner)}
        base = " ".join(str(name or "").split()) or "My voice"
        if base not in taken:
            return base
        n = 2
        while f"{base} ({n})" in taken:
            n += 1
        return f"{base} ({n})"

    # -- requests ---------------------------------------------------------------------
    def make_request(self, text: Any, voice: Optional[Voice], values: dict[str, Any]) -> GenerationRequest:
        """Widget or API values by setting name -> a validated request (ValueError with a sentence)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("Please enter some text to speak.")
        too_long = text_too_long(text, self.max_text_chars)
        if too_long:
            raise ValueError(too_long)
        kwargs = table.from_widgets(values)
        for k, v in self.request_defaults.items():
            if kwargs.get(k) is None:
                kwargs[k] = v
        return GenerationRequest(text=text, voice=voice, **kwargs)  # checks its values

    def request_from_record(self, owner: str, rec: GenerationRecord, **overrides: Any) -> GenerationRequest:
        """The request a history row was made with (its stored settings and voice), with ``overrides``."""
        stored = rec.settings
        values = {st.name: stored.get(st.name, st.default) for st in table.SETTINGS}
        values.update(overrides)
        return GenerationRequest(text=stored.get("text", rec.prompt), voice=self.resolve_voice(owner, rec.voice),
                                 **values)

    def regenerate_request(self, owner: str, gen_id: Optional[str], index: int) -> tuple[GenerationRecord,
                                                                                           GenerationRequest]:
        """(row, request) that makes take ``index`` of a history row again, alone: its own seed, one take."""
        rec = self.generation(owner, gen_id)
        if rec is None or not 0 <= index < len(rec.takes):
            raise ValueError("That take is no longer in your history.")
        seed = rec.takes[index].seed
        if seed is None:
            if len(rec.takes) > 1:
                raise ValueError("This take was made before takes had their own seeds, so it cannot be made again "
                                 "alone; use Reuse settings to make the whole batch again.")
            seed = rec.seed
        if rec.voice.startswith("user:") and self.store.get_voice(owner, rec.voice[5:]) is None:
            raise ValueError("The voice of that take was deleted, so it cannot be made again.")
        return rec, self.request_from_record(owner, rec, seed=int(seed), takes=1)

    # -- running ----------------------------------------------------------------------
    def stream(self, req: GenerationRequest, should_stop: Callable[[], bool],
               accept_segment: Optional[Callable[[Any], bool]] = None,
               segment_retakes: int = 0, previews: bool = False, owner: str = "") -> Iterator[contract.Event]:
        """Events of one generation on the shared engine: Progress, SegmentDone, then Done or Failed (``contract.follow``).

        ``accept_segment``/``segment_retakes``: the engine redraws a long-form segment that fails the check
        (``Engine.generate``'s keywords) up to ``segment_retakes`` times before the next one continues from it.
        ``previews``: Preview events while each segment's coarse stage runs (the studio's players show them).
        ``owner``: whose request; with ``--max-batch`` the engine's queue serves owners in turn.
        """
        engine = self.engine()
        if accept_segment is not None and segment_retakes:
            engine = SegmentChecked(engine, accept_segment, segment_retakes)
        return self._stream(engine, req, should_stop, previews, owner)

    def run_blocking(self, req: GenerationRequest, should_stop: Callable[[], bool], owner: str = "") -> Generation:
        """Run to completion (API path); ValueError on bad input, cancellation or failure."""
        try:
            return contract.wait(self.stream(req, should_stop, owner=owner))
        except GenerationCancelled:
            raise ValueError("Generation stopped; nothing was saved.") from None
        except Exception as e:
            raise user_error(e) from None

    # -- the queue message ------------------------------------------------------------
    def record_speed(self, gen: Any, takes: int) -> None:
        """Learn this engine's speed from a finished generation (its total time and longest take)."""
        engine = self.holder.engine
        if engine is not self._speed_engine:
            self._speed_engine, self._speeds = engine, []
        audio_s = max((t.seconds for t in gen.takes), default=0.0)
        total = float(gen.timings.get("total", 0.0))
        if audio_s > 0 and total > 0:
            self._speeds = (self._speeds + [(total, audio_s, int(takes))])[-SPEED_SAMPLES:]

    def rate(self, takes: int = 1) -> Optional[float]:
        """Seconds per second of audio measured on the current engine (None before its first generation)."""
        return measured_rate(self._speeds, takes) if self.holder.engine is self._speed_engine else None

    def expected_audio_seconds(self, text: str, max_seconds: Any = None) -> float:
        engine = self.holder.engine
        try:
            secs = float(engine.estimate_seconds(text)) if engine is not None else len(str(text).split()) / 2.6
        except (ValueError, AttributeError):
            secs = len(str(text).split()) / 2.6
        cap = self.request_defaults.get("max_seconds") if max_seconds in (None, 0) else max_seconds
        return min(secs, float(cap)) if cap else secs

    def job_queued(self, key: str, audio_s: float, takes: int = 1) -> str:
        """Note a job waiting for the engine; the queue line it starts with."""
        self._jobs.pop(key, None)
        ahead = self._ahead()
        self._jobs[key] = [float(audio_s), int(takes), None, 0.0, time.monotonic()]
        rate = self.rate(takes)
        return eta_text(rate, remaining_seconds(rate, audio_s), ahead[0], ahead[1])

    def job_progress(self, key: str, fraction: float = 0.0) -> str:
        """The queue line of a running job (``fraction`` done)."""
        job = self._jobs.setdefault(key, [0.0, 1, None, 0.0, time.monotonic()])
        if job[2] is None:
            job[2] = time.monotonic()
        job[3] = float(fraction)
        rate = self.rate(job[1])
        return eta_text(rate, remaining_seconds(rate, job[0], time.monotonic() - job[2], job[3]))

    def job_done(self, key: str) -> None:
        self._jobs.pop(key, None)

    def _ahead(self) -> tuple[Optional[float], int]:
        """(seconds of the jobs already queued or running, how many); seconds None when one cannot be estimated."""
        now = time.monotonic()
        for key, job in list(self._jobs.items()):  # a job dropped from the queue (its page closed) never ran
            if now - (job[2] or job[4]) > STALE_JOB_S:
                self._jobs.pop(key, None)
        total: Optional[float] = 0.0
        for audio_s, takes, started, fraction, _ in list(self._jobs.values()):
            rate = self.rate(takes)
            left = remaining_seconds(rate, audio_s, time.monotonic() - started if started else 0.0, fraction)
            total = None if left is None or total is None else total + left
        return total, len(self._jobs)

    # -- take check and retakes ------------------------------------------------------
    @staticmethod
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

    @staticmethod
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

    @staticmethod
    def retake_request(req: GenerationRequest, base_seed: int, n_takes: int, extra: int) -> GenerationRequest:
        """Retake ``extra`` (1-based): one take with the next seed after the batch's (take b has seed + b)."""
        return dataclasses.replace(req, takes=1, seed=table.take_seed(int(base_seed), n_takes + extra - 1))

    def speaker_reference(self, req: GenerationRequest) -> Optional[SpeakerReference]:
        """The voice's own audio as a speaker reference (None without a voice, speech or speaker encoder)."""
        if req.voice is None:
            return None
        try:
            return self.checker().reference(self.engine().decode(req.voice.fine), SAMPLE_RATE)
        except (ValueError, RuntimeError) as e:  # no speech in the voice, or no speaker encoder installed
            log.info("no speaker reference: %s", e)
            return None

    def checker(self) -> TakeChecker:
        """The take checker (PocketSphinx aligner, speaker encoder), loaded on first use."""
        if self._checker is None:
            self._checker = TakeChecker()
        return self._checker

    def score_takes(self, req: GenerationRequest, voice_ref: str, gen: Generation, thresholds: Optional[Thresholds] = None,
                    reference: Any = "voice") -> list[Optional[dict[str, Any]]]:
        """Each take's on-script and same-speaker scores (None where scoring failed; the takes are kept).

        ``thresholds`` decide each take's ``passed`` (default ``Thresholds()``); ``reference`` is a
        ``speaker_reference(req)`` already made (the default makes it from the request's voice).
        """
        text = req.text
        language = self.check_language(text, voice_ref)
        checker = self.checker()
        if isinstance(reference, str):
            reference = self.speaker_reference(req)
        scores: list[Optional[dict[str, Any]]] = []
        for take in gen.takes:
            try:
                score = checker.score(take.audio, SAMPLE_RATE, text, language=language, reference=reference,
                                      thresholds=thresholds).to_dict()
                segments = take.segments
                if len(segments) > 1:
                    score["segments"] = self.score_segments(take.audio, segments, language, thresholds)
                scores.append(not_checked(score, language, req.voice is not None, checker))
            except Exception as e:  # scoring must never lose a generation
                log.warning("take check failed: %s", type(e).__name__)
                scores.append(None)
        return scores

    def check_language(self, text: str, voice_ref: str) -> str:
        """The language a take check listens for: the preset's, else English for mostly-ASCII text."""
        kind, _, key = voice_ref.partition(":")
        preset = self.catalog_by_name.get(key) if kind == "preset" else None
        ascii_share = sum(ch.isascii() for ch in text if ch.isalpha()) / max(1, sum(ch.isalpha() for ch in text))
        return preset.language if preset else ("en" if ascii_share > 0.9 else "unknown")

    def score_segments(self, audio: Any, segments: list, language: str,
                       thresholds: Optional[Thresholds] = None) -> list[dict[str, Any]]:
        """Each long-form segment's check: on script (its own text) and the speaker against segment 1 (drift)."""
        checker = self.checker()
        first = None
        try:
            first = checker.reference(audio[segments[0].start:segments[0].end], SAMPLE_RATE)
        except (ValueError, RuntimeError) as e:  # no speech in segment 1, or no speaker encoder
            log.info("no first-segment reference: %s", e)
        out = []
        for k, seg in enumerate(segments):
            s = checker.score(audio[seg.start:seg.end], SAMPLE_RATE, seg.text, language=language,
                              reference=first if k else None, thresholds=thresholds)
            out.append({"text": seg.text, "on_script": s.on_script,  # segment 1 is the reference: no similarity
                        "similarity_to_first": s.speaker_similarity if k else None,
                        "tries": int(seg.tries), "passed": s.details.get("passed"),
                        "issues": list(s.issues)})
        return out

    def segment_check(self, req: GenerationRequest, voice_ref: str, thresholds: Optional[Thresholds],
                      reference: Optional[SpeakerReference], deadline: Optional[float] = None) -> Callable[[Any], bool]:
        """``accept_segment`` for the engine: a long-form segment passes the take check (its own text, the voice),
        or is accepted anyway once ``deadline`` (time.monotonic()) has passed."""
        language = self.check_language(req.text, voice_ref)

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

    def save_generation(self, owner: str, req: GenerationRequest, voice_ref: str, gen: Generation,
                        scores: Optional[list[Optional[dict[str, Any]]]] = None) -> GenerationRecord:
        """Store a finished generation; StorageError (nothing stored) when the data folder cannot be written,
        ValueError when the owner's history is full (``Limits.max_history``, ``max_history_mb``)."""

        def save_take_voice(voice: Any, path: Path) -> None:
            # A very short take (a few semantic tokens) is not a usable voice by Bark's own rule; keep its
            # audio anyway: "Save as voice" will say so for that take instead of the generation being lost.
            try:
                save_voice(voice, path)
            except ValueError as e:
                log.info("take not saved as a voice: %s", e)

        try:
            self.quotas.check_history(owner)
            return self.store.add_generation(
                owner, prompt=req.text, voice=voice_ref, voice_label=self.voice_label(owner, voice_ref),
                settings={"text": req.text, "voice": voice_ref, **req.settings(), "seed": int(gen.seed)},
                seed=int(gen.seed), audios=[t.audio for t in gen.takes],
                sample_rate=gen.sample_rate,
                timings={k: round(float(v), 3) for k, v in gen.timings.items()}, warnings=list(gen.warnings),
                take_voices=[t.voice for t in gen.takes], save_voice_fn=save_take_voice, take_scores=scores,
                take_seeds=[int(t.seed) for t in gen.takes],
            )
        except Exception as e:  # OSError, soundfile's LibsndfileError, sqlite3's "database or disk is full"
            if isinstance(e, (OSError, sf.LibsndfileError, sqlite3.OperationalError)):
                raise storage_error(e) from None
            raise

    def history(self, owner: str, starred_only: bool = False, limit: int = HISTORY_LIMIT) -> list[GenerationRecord]:
        return self.store.list_generations(owner, starred_only=starred_only, limit=limit) if owner else []

    def generation(self, owner: str, gen_id: Optional[str]) -> Optional[GenerationRecord]:
        return self.store.get_generation(owner, gen_id) if owner and gen_id else None

    def export_zip(self, rec: GenerationRecord) -> str:
        """A zip of a history row (audio, voices, settings JSON) as a prepared download (``self.exports``); its path."""
        audios, voices = [], []
        for take in rec.takes:
            audio, rate = sf.read(take.wav, dtype="float32")
            audios.append(audio)
            npz = take.wav.with_suffix(".npz")
            voices.append(load_voice_npz(npz) if npz.is_file() else None)
        data = export.zip_generation(audios, rate, {**rec.settings, "seed": rec.seed, "created": rec.created},
                                     voices=voices, stem=f"bark-{rec.id[:8]}")
        path = self.exports.folder(rec.id) / f"bark-{rec.id[:8]}.zip"
        path.write_bytes(data)
        return str(path)

    def export_take(self, owner: str, gen_id: Any, index: Any = 0, fmt: Any = "wav", normalize_lufs: Any = None,
                    trim_silence: Any = False, fade_ms: Any = 0.0) -> str:
        """One take of the owner's history row as an audio file (``bark_core.export`` formats, audio tools
        applied: trim -> fades -> loudness); its path among the prepared downloads (``self.exports``). ValueError with a sentence."""
        rec = self.generation(owner, str(gen_id or "").strip()) if isinstance(gen_id, str) else None
        if rec is None:
            raise ValueError("There is no generation with that id in your history (ids are in /history's rows).")
        try:
            i = math.nan if isinstance(index, bool) else float(0 if index is None or index == "" else index)
        except (TypeError, ValueError):
            i = math.nan
        if not (math.isfinite(i) and i == int(i) and 0 <= i < len(rec.takes)):
            raise ValueError(f"That generation has {len(rec.takes)} take(s): the take index must be a whole number "
                             f"from 0 to {len(rec.takes) - 1}.")
        f = export.get_format(str(fmt or "wav"))
        try:
            fade = float(fade_ms or 0.0)
            lufs = None if normalize_lufs is None or normalize_lufs == "" else float(normalize_lufs)
        except (TypeError, ValueError):
            raise ValueError("fade_ms and normalize must be numbers (normalize: a loudness in LUFS, e.g. -16).") from None
        if not isinstance(trim_silence, bool):
            raise ValueError("trim_silence must be true or false.")
        post = PostProcess(trim_silence=trim_silence, fade_in_ms=fade, fade_out_ms=fade, normalize_lufs=lufs)
        post.validate()
        take = rec.takes[int(i)]
        audio, rate = sf.read(take.wav, dtype="float32")
        return str(export.export_file(audio, rate, self.exports.folder(rec.id) / f"bark-{rec.id[:8]}-take{int(i) + 1}{f.suffix}", fmt=f,
                                      post=None if post.is_identity else post))

    def delete_generation(self, owner: str, gen_id: str) -> bool:
        """Delete a generation and everything served from it; False when it is not the owner's."""
        rec = self.generation(owner, gen_id)
        if rec is None:
            return False
        self.forget_files([p for t in rec.takes for p in (t.wav, t.wav.with_suffix(".npz"))])
        self.exports.drop(rec.id)  # its zips and /export files: their URLs answer 404 too
        return self.store.delete_generation(owner, gen_id)

    def trash_generation(self, owner: str, gen_id: str) -> bool:
        """Delete with Undo: hidden and unserved at once (served copies forgotten), restorable for
        ``store.UNDO_SECONDS``, then purged. False when it is not the owner's."""
        rec = self.generation(owner, gen_id)
        if rec is None:
            return False
        self.forget_files([p for t in rec.takes for p in (t.wav, t.wav.with_suffix(".npz"))])
        self.exports.drop(rec.id)  # its zips and /export files (Undo brings the row back, not these downloads)
        done = self.store.trash_generation(owner, rec.id)
        self.store.purge_deleted()
        return done

    def restore_generation(self, owner: str, gen_id: Optional[str]) -> bool:
        return bool(owner and gen_id) and self.store.restore_generation(owner, str(gen_id))

    def trash_voice(self, owner: str, voice_id: str) -> bool:
        """Delete one of the owner's voices with Undo (see ``trash_generation``); its served preview goes at once."""
        if not owner or self.store.get_voice(owner, voice_id) is None:
            return False
        preview = self.store.preview_path(f"user-{self._owner_voice_key(owner, voice_id)}")
        self.forget_files([preview])
        preview.unlink(missing_ok=True)
        done = self.store.trash_voice(owner, voice_id)
        self.store.purge_deleted()
        return done

    def restore_voice(self, owner: str, voice_id: Optional[str]) -> bool:
        return bool(owner and voice_id) and self.store.restore_voice(owner, str(voice_id))

    # -- previews ---------------------------------------------------------------------
    def preview(self, owner: str, ref: str, should_stop: Callable[[], bool]) -> str:
        """A short sample of a voice (cached per voice); its file path."""
        if not ref:
            raise ValueError("“No voice” picks a random speaker each time, so it has no preview.")
        kind, _, key = ref.partition(":")
        cache_key = f"preset-{key}" if kind == "preset" else f"user-{self._owner_voice_key(owner, key)}"
        path = self.store.preview_path(cache_key)
        if path.is_file():
            return str(path)
        voice = self.resolve_voice(owner, ref)
        lang = self.catalog_by_name[key].language if kind == "preset" and key in self.catalog_by_name else "en"
        req = self.make_request(PREVIEW_TEXT.get(lang, PREVIEW_TEXT["en"]), voice,
                                {"seed": 0, "max_seconds": PREVIEW_MAX_SECONDS})
        gen = self.run_blocking(req, should_stop, owner)
        try:
            write_wav_atomic(path, gen.takes[0].audio, gen.sample_rate)
        except OSError as e:
            raise storage_error(e) from None
        return str(path)

    def _owner_voice_key(self, owner: str, voice_id: str) -> str:
        """A preview file name for a user's voice that cannot be guessed from the voice id alone."""
        import hashlib

        return hashlib.sha256(f"{owner_key(owner)}:{voice_id}".encode()).hexdigest()[:32]
