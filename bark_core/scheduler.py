"""Cross-request batching: many callers' generations gathered into one ``Engine.generate_batch``.

    engine = BatchingEngine(Engine.load(settings), max_batch=4, max_wait_s=0.05)
    gen = engine.generate(request, on_progress=..., should_stop=..., on_segment=...)  # from any thread

``BatchingEngine`` has the engine's surface (``bark_core.contract.EngineProtocol``). Its ``generate``
queues the request and blocks the calling thread until that request's own result (or exception) is
ready. One worker thread takes the next waiting job in fair order (``owner=``: the owner served the
fewest rows recently goes first, each owner's jobs in their order), gathers the jobs waiting with it (at most
``max_batch`` rows, each request counting its takes, within ``max_wait_s`` of the first) and runs
them together. Each job keeps its own callbacks: its Stop reaches the engine through its
``BatchJob`` and stops that job alone. An engine without ``generate_batch`` runs the gathered jobs one after another.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .types import (
    BatchJob,
    Generation,
    GenerationCancelled,
    GenerationRequest,
    PreviewCallback,
    ProgressCallback,
    SegmentCallback,
    SegmentCheckCallback,
    StopCallback,
    Voice,
)

log = logging.getLogger(__name__)


class EngineClosed(ValueError):
    """The batching engine was closed (the studio is shutting down or the model was reloaded)."""


@dataclass(eq=False)
class _Job:
    request: GenerationRequest
    on_progress: Optional[ProgressCallback]
    should_stop: Optional[StopCallback]
    on_segment: Optional[SegmentCallback]
    options: dict = field(default_factory=dict)  # further generate() keywords (accept_segment, segment_retakes, on_preview)
    owner: str = ""  # whose job: the worker serves owners in turn
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: Optional[BaseException] = None
    started: bool = False  # taken into a batch: from then on only the engine answers it
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rows(self) -> int:
        return max(1, self.request.takes)

    def stopped(self) -> bool:
        try:
            return bool(self.should_stop and self.should_stop())
        except Exception:  # a broken callback must not take the batch down
            log.exception("should_stop failed")
            return False

    def finish(self, result: Any = None, error: Optional[BaseException] = None) -> None:
        if self.done.is_set():  # answered already (the engine's on_done came first)
            return
        self.result, self.error = result, error
        self.done.set()

    def claim(self) -> bool:
        """The worker takes the job into a batch; False when it was withdrawn first."""
        with self.lock:
            if self.done.is_set():
                return False
            self.started = True
            return True

    def withdraw(self) -> None:
        """Stopped before it reached the engine: answered at once with GenerationCancelled."""
        with self.lock:
            if not self.started:
                self.finish(error=GenerationCancelled("Generation stopped."))

    def answer(self, outcome: Any) -> None:
        """A Generation or an exception, as ``BatchJob.on_done`` and ``generate_batch`` give it."""
        if isinstance(outcome, BaseException):
            self.finish(error=outcome)
        else:
            self.finish(outcome)


STOP_POLL_S = 0.1  # how often a queued job's caller checks its Stop
SERVED_DECAY = 0.5  # each batch halves what every owner was served before it: "recently" is the last few batches


class _Worker:
    """The waiting jobs and the one thread that runs batches. Holds the engine; the BatchingEngine holds this.

    Fair order: the next job is the oldest waiting job of the owner served the fewest rows recently
    (rows summed over past batches, halved at each batch), so one owner's many jobs cannot starve
    another's; each owner's own jobs keep their order.
    """

    def __init__(self, engine: Any, max_batch: int, max_wait_s: float):
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.pending: list[_Job] = []  # in arrival order
        self.served: dict[str, float] = {}  # owner -> rows served recently
        self.closed = False
        self.lock = threading.Condition()
        self.batches = 0  # batches run so far (for tests and the load bench)
        self.thread = threading.Thread(target=self.loop, name="bark-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> None:
        with self.lock:
            if self.closed:
                raise EngineClosed("The engine was closed (the studio is restarting or reloading the model); "
                                   "try again in a moment.")
            self.pending.append(job)
            self.lock.notify()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify()

    def pick(self, room: Optional[int]) -> Optional[_Job]:
        """Take the next job in fair order (with ``room``: only one of at most that many rows); hold the lock."""
        self.pending = [j for j in self.pending if not j.done.is_set()]  # withdrawn while waiting
        best, heads = None, set()
        for job in self.pending:
            owner = job.owner
            if owner in heads:  # FIFO within an owner: only its oldest job may go next
                continue
            heads.add(owner)
            if room is not None and job.rows > room:
                continue
            if best is None or self.served.get(owner, 0.0) < self.served.get(best.owner, 0.0):
                best = job
        if best is not None:
            self.pending.remove(best)
            self.served[best.owner] = self.served.get(best.owner, 0.0) + best.rows
        return best

    def gather(self, first: _Job) -> list[_Job]:
        """``first`` plus the jobs that fit with it, in fair order, waiting at most ``max_wait_s`` for company."""
        batch, rows = [first], first.rows
        deadline = time.monotonic() + self.max_wait_s
        with self.lock:
            while rows < self.max_batch:
                job = self.pick(self.max_batch - rows)
                if job is not None:
                    batch.append(job)
                    rows += job.rows
                    continue
                remaining = deadline - time.monotonic()
                if self.pending or self.closed or remaining <= 0:  # the next one does not fit, or no more wait
                    break
                self.lock.wait(remaining)
        return batch

    def loop(self) -> None:
        while True:
            with self.lock:
                while not self.pending and not self.closed:
                    self.lock.wait()
                self.served = {o: r * SERVED_DECAY for o, r in self.served.items() if r * SERVED_DECAY >= 0.01}
                first = self.pick(None)
                if first is None:
                    if self.closed and not self.pending:
                        break
                    continue
            self.run(self.gather(first))
        self.engine = None  # let the models go once the last job is answered

    def run(self, batch: list[_Job]) -> None:
        live = []
        for job in batch:
            if job.stopped():  # stopped while it waited: it never enters the engine
                job.withdraw()
            elif job.claim():
                live.append(job)
        if not live:
            return
        self.batches += 1
        engine = self.engine
        batched = getattr(engine, "generate_batch", None)
        if batched is None:
            for job in live:
                try:
                    job.finish(engine.generate(job.request, on_progress=job.on_progress,
                                               should_stop=job.should_stop, on_segment=job.on_segment, **job.options))
                except BaseException as e:  # handed to the waiting caller
                    job.finish(error=e)
            return
        log.debug("running a batch of %d jobs (%d rows)", len(live), sum(j.rows for j in live))
        try:
            entries = []
            for j in live:  # on_done: a job that ends early is answered before the batch ends
                entries.append(BatchJob(j.request, on_progress=j.on_progress, should_stop=j.should_stop,
                                        on_segment=j.on_segment, on_done=j.answer, owner=j.owner, **j.options))
            results = batched(entries)
        except BaseException as e:  # the whole batch failed (e.g. out of memory): every job hears why
            for job in live:
                job.finish(error=e)
            return
        for job, result in zip(live, results):
            job.answer(result)
        for job in live[len(results):]:  # never leave a caller waiting
            job.finish(error=RuntimeError("The engine returned no result for this job."))


class BatchingEngine:
    """An engine whose ``generate`` calls from many threads are run together as batches.

    ``max_batch`` is the most rows (takes, summed over requests) in one batch; a request with more
    takes runs alone. ``max_wait_s`` is how long the first waiting job waits for company.
    The rest of ``EngineProtocol`` (``info``, ``presets``, ``load_voice``, ``count_tokens``, ``decode``, ``codec``...)
    and every other attribute is the wrapped engine's; ``generate_batch`` and ``regenerate_take`` go through the queue too. ``close()`` answers the queued jobs, then stops the worker; it also runs
    when the object is garbage-collected (e.g. replaced by a model reload).
    """

    def __init__(self, engine: Any, max_batch: int = 4, max_wait_s: float = 0.05):
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError(f"The batch size must be a whole number of at least 1, got {max_batch!r}.")
        if not (0 <= float(max_wait_s) <= 10):
            raise ValueError(f"The batch wait must be between 0 and 10 seconds, got {max_wait_s!r}.")
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = float(max_wait_s)
        self._worker = _Worker(engine, max_batch, self.max_wait_s)
        self._finalizer = weakref.finalize(self, self._worker.close)

    def __getattr__(self, name: str) -> Any:  # only called for names this class does not define
        if name.startswith("__") or name in ("engine", "_worker", "_finalizer"):
            raise AttributeError(name)
        return getattr(self.engine, name)

    @property
    def settings(self) -> Any:
        return self.engine.settings

    @property
    def folder(self) -> Path:
        return self.engine.folder

    @property
    def codec(self) -> Any:
        return self.engine.codec

    @codec.setter
    def codec(self, codec: Any) -> None:
        self.engine.codec = codec

    @property
    def batches_run(self) -> int:
        """How many batches the worker has run (a batch of one counts)."""
        return self._worker.batches

    def info(self) -> dict:
        info = dict(self.engine.info())
        info["max_batch"] = self.max_batch
        return info

    # the rest of the engine's surface (EngineProtocol): the wrapped engine's, called directly
    def presets(self) -> list:
        return self.engine.presets()

    def load_voice(self, spec: Any) -> Optional[Voice]:
        return self.engine.load_voice(spec)

    def tokenize(self, text: str) -> list[int]:
        return self.engine.tokenize(text)

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def split_text(self, text: str) -> tuple[list[str], list[str]]:
        return self.engine.split_text(text)

    def estimate_seconds(self, text: str) -> float:
        return self.engine.estimate_seconds(text)

    def plan_segments(self, text: str, long_form: bool = True) -> tuple[list[str], list[str]]:
        return self.engine.plan_segments(text, long_form)

    def decode(self, fine: np.ndarray) -> np.ndarray:
        return self.engine.decode(fine)

    def generate(self, request: GenerationRequest, on_progress: Optional[ProgressCallback] = None,
                 should_stop: Optional[StopCallback] = None, on_segment: Optional[SegmentCallback] = None,
                 accept_segment: Optional[SegmentCheckCallback] = None, segment_retakes: int = 0,
                 on_preview: Optional[PreviewCallback] = None, owner: str = "") -> Generation:
        """Queue ``request``, wait for its turn in a batch, return its Generation (or raise its error).

        ``accept_segment``, ``segment_retakes`` and ``on_preview`` reach the engine's ``generate`` (given only when set).
        ``owner`` (whose request, e.g. the studio's owner id) sets the fair order between callers.
        """
        job = _Job(request, on_progress, should_stop, on_segment, _options(accept_segment, segment_retakes, on_preview),
                   owner=str(owner or ""))
        self._worker.submit(job)
        while not job.done.wait(STOP_POLL_S):
            if should_stop is not None and job.stopped():
                job.withdraw()  # still queued: answered now; already running: the engine stops it
        if job.error is not None:
            raise job.error
        return job.result

    def generate_batch(self, jobs: Sequence[BatchJob]) -> list[Union[Generation, BaseException]]:
        """``Engine.generate_batch``'s contract through the queue: each job's Generation or exception."""
        queued = []
        for j in jobs:
            job = _Job(j.request, j.on_progress, j.should_stop, j.on_segment,
                       _options(j.accept_segment, j.segment_retakes, j.on_preview), owner=str(j.owner or ""))
            try:
                self._worker.submit(job)
            except ValueError as e:
                job.finish(error=e)
            queued.append((j, job))
        out = []
        for j, job in queued:
            job.done.wait()
            outcome = job.error if job.error is not None else job.result
            if j.on_done is not None:
                j.on_done(outcome)
            out.append(outcome)
        return out

    def regenerate_take(self, request: GenerationRequest, generation: Generation, index: int,
                        **callbacks: Any) -> Generation:
        """Take ``index`` of ``generation`` again, alone, with its own seed (``Engine.regenerate_take``), queued."""
        takes = generation.takes
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(takes):
            raise ValueError(f"There is no take {index!r} to regenerate; this generation has {len(takes)} "
                             f"(numbered from 0).")
        return self.generate(dataclasses.replace(request, seed=takes[index].seed, takes=1), **callbacks)

    def close(self, timeout: Optional[float] = 30.0) -> None:
        """Answer the jobs already queued, then stop the worker (new calls raise EngineClosed)."""
        self._worker.close()
        if threading.current_thread() is not self._worker.thread:
            self._worker.thread.join(timeout)

    def __enter__(self) -> "BatchingEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _options(accept_segment: Optional[SegmentCheckCallback], segment_retakes: int,
             on_preview: Optional[PreviewCallback]) -> dict:
    """The further ``generate`` keywords of a job, those that are set (an engine without them still runs it)."""
    return {k: v for k, v in (("accept_segment", accept_segment), ("segment_retakes", segment_retakes),
                              ("on_preview", on_preview)) if v}
