"""Engine jobs: each session's queue slot, Stop flag, time estimate and event stream, as one ``Job``.

Every handler that runs the engine opens ``runner.job(key)`` (``key``: the caller's session, see
``session_key``), streams or runs through it, and closes it when done (``with`` or ``job.close()``):
closing forgets the job's Stop flag and its line in the queue estimate. Stop (``runner.stop``) stops
only the caller's own job. The estimate learns this engine's speed from finished generations.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator, Optional

from bark_core import Generation, GenerationCancelled, GenerationRequest, GPUOutOfMemory, contract

from .engine_holder import EngineHolder
from .jobs import CancelRegistry
from .runner import stream_generation

log = logging.getLogger(__name__)

SPEED_SAMPLES = 20  # the most recent generations the queue message learns from
STALE_JOB_S = 3600.0  # a job noted as waiting or running this long without news is forgotten


def session_key(request: Any) -> Optional[str]:
    """The caller's Gradio session (one per browser tab or API client), or None."""
    return getattr(request, "session_hash", None) or None


def user_error(e: BaseException) -> ValueError:
    """What the browser sees for a failed generation: our sentence, never a traceback."""
    if isinstance(e, GPUOutOfMemory):
        return ValueError(f"{e} In the studio: Models → Small or Stage-by-stage offload, or fewer Takes.")
    if isinstance(e, ValueError):
        return e
    log.error("generation failed", exc_info=e)
    return ValueError(f"Generation failed ({type(e).__name__}). The server log has the details.")


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


class Job:
    """One session's engine job: its Stop flag, its time-left line and its runs. ``close()`` (or ``with``) ends it."""

    def __init__(self, runner: "JobRunner", key: str):
        self._runner, self.key = runner, key
        self._stop = runner._cancels.event(key)

    def stopped(self) -> bool:
        """Whether Stop was pressed for this job."""
        return self._stop.is_set()

    def stream(self, req: GenerationRequest, accept_segment: Optional[Callable[[Any], bool]] = None,
               segment_retakes: int = 0, previews: bool = False, owner: str = "") -> Iterator[contract.Event]:
        """``JobRunner.stream`` stopped by this job's Stop."""
        return self._runner.stream(req, self.stopped, accept_segment, segment_retakes, previews, owner)

    def eta(self, fraction: float = 0.0) -> str:
        """The queue line of this job while it runs (``fraction`` done)."""
        return self._runner.progress_line(self.key, fraction)

    def close(self) -> None:
        """Forget this job's Stop flag and its line in the queue estimate."""
        self._runner._cancels.forget(self.key)
        self._runner._jobs.pop(self.key, None)

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class JobRunner:
    """Runs generations on the shared engine: per-session jobs (Stop, queue estimate) and the one stream."""

    def __init__(self, holder: EngineHolder, gpu_wrap: Optional[Callable[[Callable], Callable]] = None,
                 default_max_seconds: Optional[float] = None):
        self._holder = holder
        self._stream = gpu_wrap(stream_generation) if gpu_wrap else stream_generation
        self._default_max_seconds = default_max_seconds  # the cap of a request that sets none (``--max-seconds``)
        self._cancels = CancelRegistry()
        self._speeds: list[tuple[float, float, int]] = []  # (compute_s, audio_s, takes) on ``_speed_engine``
        self._speed_engine: Any = None
        self._jobs: dict[str, list] = {}  # session -> [audio_s, takes, started or None, fraction, queued] (monotonic)

    # -- the engine -------------------------------------------------------------------
    def engine(self) -> Any:
        """The loaded engine; ValueError with a sentence before one is loaded."""
        if self._holder.engine is None:
            raise ValueError("The model is not loaded yet. Open the setup panel at the top to download or load it.")
        return self._holder.engine

    def loaded(self) -> Any:
        """The loaded engine, or None."""
        return self._holder.engine

    # -- jobs -------------------------------------------------------------------------
    def arm(self, key: str) -> None:
        """Before a session's job is queued: clear its Stop flag."""
        self._cancels.arm(key)

    def stop(self, key: str) -> None:
        """Stop this session's job (and only this session's)."""
        self._cancels.stop(key)

    def job(self, key: str) -> Job:
        """The session's job."""
        return Job(self, key)

    def should_stop(self, key: Optional[str]) -> Callable[[], bool]:
        """Whether Stop was pressed for this session (never, without a session): for a short run (a voice or clone
        preview) that leaves the session's job, its Stop flag and queue line as they are."""
        return self._cancels.event(key).is_set if key else (lambda: False)

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

    # -- the queue estimate -----------------------------------------------------------
    def record_speed(self, gen: Any, takes: int) -> None:
        """Learn this engine's speed from a finished generation (its total time and longest take)."""
        engine = self._holder.engine
        if engine is not self._speed_engine:
            self._speed_engine, self._speeds = engine, []
        audio_s = max((t.seconds for t in gen.takes), default=0.0)
        total = float(gen.timings.get("total", 0.0))
        if audio_s > 0 and total > 0:
            self._speeds = (self._speeds + [(total, audio_s, int(takes))])[-SPEED_SAMPLES:]

    def rate(self, takes: int = 1) -> Optional[float]:
        """Seconds per second of audio measured on the current engine (None before its first generation)."""
        return measured_rate(self._speeds, takes) if self._holder.engine is self._speed_engine else None

    def expected_audio_seconds(self, text: str, max_seconds: Any = None) -> float:
        engine = self._holder.engine
        try:
            secs = float(engine.estimate_seconds(text)) if engine is not None else len(str(text).split()) / 2.6
        except (ValueError, AttributeError):
            secs = len(str(text).split()) / 2.6
        cap = self._default_max_seconds if max_seconds in (None, 0) else max_seconds
        return min(secs, float(cap)) if cap else secs

    def queued_line(self, key: str, audio_s: float, takes: int = 1) -> str:
        """Note a job waiting for the engine; the queue line it starts with."""
        self._jobs.pop(key, None)
        ahead = self._ahead()
        self._jobs[key] = [float(audio_s), int(takes), None, 0.0, time.monotonic()]
        rate = self.rate(takes)
        return eta_text(rate, remaining_seconds(rate, audio_s), ahead[0], ahead[1])

    def progress_line(self, key: str, fraction: float = 0.0) -> str:
        """The queue line of a running job (``fraction`` done)."""
        job = self._jobs.setdefault(key, [0.0, 1, None, 0.0, time.monotonic()])
        if job[2] is None:
            job[2] = time.monotonic()
        job[3] = float(fraction)
        rate = self.rate(job[1])
        return eta_text(rate, remaining_seconds(rate, job[0], time.monotonic() - job[2], job[3]))

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


__all__ = ["Job", "JobRunner", "eta_text", "measured_rate", "remaining_seconds", "session_key", "user_error"]
