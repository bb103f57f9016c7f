"""The engine as Ray Serve replicas, and a front-end proxy with the engine's surface.

    python app.py --ray --replicas 2 --gpus-per-replica 1 --max-batch 4   # a local Ray, one replica per GPU
    python app.py --ray auto --replicas 4    # on a node of a running cluster (`ray start --head` / `--address`)

Each replica (:class:`BarkReplica`) loads the models once and runs its jobs through a
:class:`bark_core.scheduler.BatchingEngine`, so the requests it receives are batched together.
The Gradio front end keeps history, auth, the queue limit and per-user isolation; it holds a
:class:`RayEngine`, whose ``generate`` streams one job through a ``DeploymentHandle``:
:class:`Started` (the replica), then ``bark_core.contract``'s events: ``Progress``, ``SegmentDone``,
then ``Done`` or ``Failed``; previews (when the caller takes them) travel as :class:`PreviewTail`: each
take's audio past what the caller already has, which ``generate`` joins and hands ``on_preview``. Stop cancels the streaming response; the replica's generator is then
cancelled and stops that job alone. A replica that dies is replaced by Serve; its in-flight jobs fail
with :data:`REPLICA_LOST` and nothing is saved (the studio saves only finished generations).

Replicas import this module from ``bark_core`` (sent along as a ``py_modules`` entry), so they need
torch and ray but neither gradio nor ``webui``. ``ray`` itself is imported only inside the functions
that use it: ``bark_core`` imports without it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .contract import Done, Failed, SegmentDone
from .types import Generation, GenerationCancelled, GenerationRequest, Progress

log = logging.getLogger(__name__)

REPLICA_LOST = "The engine replica serving this job stopped; try again."
APP_NAME = "bark-studio"
DEPLOYMENT_NAME = "BarkEngine"
READ_ONLY = ("info", "presets", "load_voice", "count_tokens", "split_text", "estimate_seconds", "plan_segments",
             "tokenize", "decode")
PROGRESS_EVERY_S = 0.1  # a replica sends at most ~10 progress reports a second per job


class ReplicaLost(ValueError):
    """The replica running a job died or became unreachable; the job produced nothing."""


@dataclass(frozen=True)
class Started:
    """The first event of a replica's stream: which replica took the job."""

    replica: str


@dataclass(frozen=True)
class RayOptions:
    """How the engine is served: where Ray is, how many replicas, what each gets."""

    address: Optional[str] = None  # None: start a local Ray; "auto" (or a GCS address): join that cluster
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    max_batch: int = 4
    max_wait_s: float = 0.05
    threads: Optional[int] = None  # torch threads in each replica (None: torch's default)
    app_name: str = APP_NAME

    def validate(self) -> None:
        if not isinstance(self.replicas, int) or self.replicas < 1:
            raise ValueError(f"--replicas must be at least 1, got {self.replicas!r}.")
        if self.gpus_per_replica < 0 or self.cpus_per_replica < 0:
            raise ValueError("--gpus-per-replica cannot be negative.")
        if not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ValueError(f"--max-batch must be at least 1, got {self.max_batch!r}.")


@dataclass(frozen=True)
class PreviewTail:
    """A Preview sent from a replica as what changed: take b's audio is the caller's last preview of it up
    to sample ``starts[b]``, then ``tails[b]`` (a take's preview grows at its end, so a long text's
    previews do not send its finished segments again and again)."""

    index: int
    segments: int
    starts: list  # int per take
    tails: list  # (samples,) float32 per take

    @staticmethod
    def between(sent: list, audio: list) -> "PreviewTail":
        """What turns ``sent`` (the previous audio of each take; [] at first) into ``audio``. Index and
        segments are set by the caller."""
        starts, tails = [], []
        for b, a in enumerate(audio):
            a = np.asarray(a, dtype=np.float32)
            old = sent[b] if b < len(sent) else a[:0]
            n = min(len(old), len(a))
            differ = np.flatnonzero(old[:n] != a[:n])
            start = int(differ[0]) if differ.size else n
            starts.append(start)
            tails.append(a[start:].copy())
        return PreviewTail(-1, 0, starts, tails)

    def apply(self, have: list) -> list:
        """Each take's audio after this preview, given ``have`` (what the previous ones made; [] at first)."""
        empty = np.zeros(0, dtype=np.float32)
        return [np.concatenate([(have[b] if b < len(have) else empty)[:start], tail])
                for b, (start, tail) in enumerate(zip(self.starts, self.tails))]


# ------------------------------------------------------------------------------ the replica (runs inside Ray)

class BarkReplica:
    """One Serve replica: the engine loaded once, behind a BatchingEngine."""

    def __init__(self, settings: Any, max_batch: int, max_wait_s: float, threads: Optional[int] = None):
        import torch
        from ray import serve

        from bark_core import Engine
        from bark_core.scheduler import BatchingEngine

        if threads:
            torch.set_num_threads(int(threads))
        self.engine = BatchingEngine(Engine.load(settings), max_batch=max_batch, max_wait_s=max_wait_s)
        self.replica = serve.get_replica_context().replica_id.to_full_id_str()
        self.running = 0  # jobs queued or running on this replica's engine now
        self.lock = threading.Lock()
        logging.getLogger(__name__).info("replica %s ready", self.replica)

    async def generate(self, request: GenerationRequest, previews: bool = False):
        """Stream one job's events (``previews``: PreviewTail events while coarse stages run, when the request's
        ``live_preview`` is on); cancelling this generator stops the job."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        last_progress = [0.0]

        def put(event: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def progress(p: Progress) -> None:  # at most ~10 a second cross the network; the last one before done may drop
            now = time.monotonic()
            if now - last_progress[0] >= PROGRESS_EVERY_S:
                last_progress[0] = now
                put(p)

        def segment(index: int, n_segments: int, audio: list) -> None:
            put(SegmentDone(index, n_segments, [a.copy() for a in audio]))  # the engine may reuse its buffers

        sent: list = []  # each take's audio as the caller has it (its last preview)

        def preview(index: int, n_segments: int, audio: list) -> None:
            tail = PreviewTail.between(sent, audio)
            sent[:] = [np.array(a, dtype=np.float32, copy=True) for a in audio]
            put(PreviewTail(index, n_segments, tail.starts, tail.tails))

        def work() -> None:
            try:
                put(Done(self.engine.generate(request, on_progress=progress, should_stop=stop.is_set,
                                              on_segment=segment, on_preview=preview if previews else None)))
            except BaseException as e:  # sent to the front end, which decides what the user sees
                e.__traceback__ = None
                put(Failed(e))
            finally:
                with self.lock:
                    self.running -= 1

        yield Started(self.replica)
        with self.lock:
            self.running += 1
        threading.Thread(target=work, name="bark-replica-job", daemon=True).start()
        try:
            while True:
                event = await events.get()
                yield event
                if isinstance(event, (Done, Failed)):
                    return
        finally:
            stop.set()  # finished, or cancelled by the front end (Stop) or its disconnect: stop the job

    def call(self, name: str, *args: Any) -> tuple[str, Any]:
        """One read-only engine call; ("ok", value) or ("error", ValueError)."""
        if name not in READ_ONLY:
            return "error", ValueError(f"{name!r} is not an engine call the front end may make.")
        try:
            value = getattr(self.engine, name)(*args)
        except ValueError as e:
            e.__traceback__ = None
            return "error", e
        if name == "info":
            value = dict(value, replica=self.replica, running=self.running)
        return "ok", value


# ------------------------------------------------------------------------------ the front end's proxy

def outside_event_loop(fn: Callable[[], Any]) -> Any:
    """``fn()``, run in a short-lived thread when this thread has a running asyncio loop (an async caller, a
    notebook, Playwright's sync API): Ray's blocking handle calls refuse to run inside one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=run, name="bark-ray-call", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class RayEngine:
    """The engine's surface, served by a Ray Serve deployment (see module docstring)."""

    def __init__(self, handle: Any, settings: Any = None, options: RayOptions = RayOptions(),
                 poll_s: float = 0.1, call_timeout_s: float = 120.0):
        self._handle = handle
        self.settings = settings
        self.options = options
        self.poll_s = poll_s
        self.call_timeout_s = call_timeout_s
        self._presets: Optional[list] = None
        self._codec = None
        self._lock = threading.Lock()
        self.replica_counts: collections.Counter = collections.Counter()  # jobs started per replica
        self._active: dict[int, str] = {}  # job number -> replica, while it runs
        self._jobs = 0

    # -- read-only calls -------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> Any:
        try:
            status, value = outside_event_loop(
                lambda: self._handle.call.remote(name, *args).result(timeout_s=self.call_timeout_s))
        except Exception as e:
            log.warning("engine call %s failed: %s", name, type(e).__name__)
            raise ReplicaLost("The engine replicas cannot be reached right now; try again in a moment.") from None
        if status == "error":
            raise value
        return value

    def info(self) -> dict:
        info = dict(self._call("info"))
        info.update(serving="ray", replicas=self.options.replicas, max_batch=self.options.max_batch)
        return info

    def presets(self) -> list:
        if self._presets is None:
            self._presets = list(self._call("presets"))
        return self._presets

    def load_voice(self, spec: Any) -> Any:
        from bark_core import Voice

        if spec is None or isinstance(spec, Voice):
            return spec
        if isinstance(spec, Path) or (isinstance(spec, str) and spec.strip().endswith(".npz")):
            from bark_core import load_voice_npz

            return load_voice_npz(spec)  # a file on the front end's machine
        return self._call("load_voice", spec)

    def count_tokens(self, text: str) -> int:
        return self._call("count_tokens", text)

    def tokenize(self, text: str) -> list[int]:
        return self._call("tokenize", text)

    def split_text(self, text: str) -> tuple[list[str], list[str]]:
        return self._call("split_text", text)

    def estimate_seconds(self, text: str) -> float:
        from bark_core import longform

        return longform.estimate_seconds(text)

    def plan_segments(self, text: str, long_form: bool = True) -> tuple[list[str], list[str]]:
        return self._call("plan_segments", text, long_form)

    def decode(self, fine: Any) -> Any:
        return self._call("decode", fine)

    @property
    def folder(self) -> Path:
        return Path(self.info()["folder"])

    @property
    def codec(self) -> Any:
        """A local EnCodec for front-end work (voice cloning); needs the weights on this machine too."""
        if self._codec is None:
            from bark_core.codec import load_codec

            s = self.settings
            self._codec = load_codec(self.folder, getattr(s, "codec", None), offline=getattr(s, "offline", False),
                                     cache_dir=getattr(s, "cache_dir", None), device="cpu")
        return self._codec

    @codec.setter
    def codec(self, codec: Any) -> None:
        self._codec = codec

    def active_jobs(self) -> dict[int, str]:
        """Jobs running now: job number -> the replica running it."""
        with self._lock:
            return dict(self._active)

    # -- generation ------------------------------------------------------------------
    def generate(self, request: GenerationRequest, on_progress: Optional[Callable] = None,
                 should_stop: Optional[Callable] = None, on_segment: Optional[Callable] = None,
                 accept_segment: Optional[Callable] = None, segment_retakes: int = 0,
                 on_preview: Optional[Callable] = None, owner: str = "") -> Generation:
        """Run one job on a replica; the Generation, or the job's own error, GenerationCancelled, ReplicaLost.

        ``on_preview`` hears the replica's previews (sent as :class:`PreviewTail`, joined here), as from a local
        engine; without it the replica makes none. ``owner`` is accepted for the engine's surface and ignored (Ray Serve's router orders the jobs).
        """
        if accept_segment is not None:
            raise ValueError("Checking each segment as it is made is not available when the engine runs on Ray "
                             "replicas; turn the segment check off, or run the studio without --ray.")
        with self._lock:
            self._jobs += 1
            job = self._jobs
        try:
            for attempt in range(2):
                started, outcome = outside_event_loop(
                    lambda: self._stream(job, request, on_progress, should_stop, on_segment, on_preview))
                kind, payload = outcome
                if kind == "done":
                    return payload
                if kind == "error":
                    raise payload
                if kind == "cancelled":
                    raise GenerationCancelled("Generation stopped.")
                # kind == "lost": the replica died or could not be reached
                if started or attempt:
                    log.warning("replica lost during job %d: %s", job, payload)
                    raise ReplicaLost(REPLICA_LOST)
                log.info("job %d was not taken by a replica (%s); trying again", job, payload)
            raise ReplicaLost(REPLICA_LOST)
        finally:
            with self._lock:
                self._active.pop(job, None)

    def _stream(self, job: int, request: Any, on_progress, should_stop, on_segment,
                on_preview=None) -> tuple[bool, tuple[str, Any]]:
        """(whether a replica took the job, (kind, payload)) with kind done / error / cancelled / lost."""
        stream = self._handle.options(stream=True).generate.remote(request, previews=on_preview is not None)
        previewed: list = []  # each take's latest preview, which the next PreviewTail continues
        cancelled = threading.Event()
        finished = threading.Event()

        def stopped() -> bool:
            try:
                return bool(should_stop and should_stop())
            except Exception:
                log.exception("should_stop failed")
                return False

        def watch() -> None:  # Stop must work even while no event arrives (queued, decoding)
            while not finished.wait(self.poll_s):
                if stopped():
                    cancelled.set()
                    try:
                        stream.cancel()
                    except Exception:  # already finished or never assigned
                        log.debug("cancel failed", exc_info=True)
                    return

        watcher = threading.Thread(target=watch, name="bark-ray-stop", daemon=True)
        watcher.start()
        started = False
        try:
            for event in stream:
                if isinstance(event, Started):
                    started = True
                    with self._lock:
                        self._active[job] = event.replica
                        self.replica_counts[event.replica] += 1
                elif isinstance(event, Progress):
                    if on_progress is not None:
                        on_progress(event)
                elif isinstance(event, SegmentDone):
                    if on_segment is not None:
                        on_segment(event.index, event.segments, event.audio)
                elif isinstance(event, PreviewTail):
                    previewed = event.apply(previewed)
                    if on_preview is not None:
                        on_preview(event.index, event.segments, previewed)
                elif isinstance(event, Done):
                    return started, ("done", event.generation)
                elif isinstance(event, Failed):
                    return started, ("error", event.error)
                if cancelled.is_set():
                    return started, ("cancelled", None)
            return started, ("lost", "the stream ended without a result")
        except Exception as e:  # Ray's errors: actor died, unavailable, cancelled
            if cancelled.is_set():
                return started, ("cancelled", None)
            return started, ("lost", f"{type(e).__name__}: {e}")
        finally:
            finished.set()
            if not cancelled.is_set() and stopped():
                cancelled.set()


# ------------------------------------------------------------------------------ starting it

def _runtime_env() -> dict:
    import bark_core

    return {"py_modules": [str(Path(bark_core.__file__).parent)]}


def deploy(settings: Any, options: RayOptions = RayOptions()) -> RayEngine:
    """Connect to (or start) Ray, run the engine deployment, return the front end's proxy.

    Raises ValueError with a sentence when Ray is not installed or cannot be reached.
    """
    options.validate()
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ValueError('Serving with --ray needs Ray Serve: pip install "ray[serve]==2.60.0"') from None
    if not ray.is_initialized():
        try:
            ray.init(address=options.address, runtime_env=_runtime_env(), include_dashboard=False,
                     namespace="bark-studio")
        except (ConnectionError, RuntimeError) as e:
            raise ValueError(f"Could not connect to the Ray cluster at {options.address!r} ({e}). Start it with "
                             "`ray start --head`, or leave out the address to start a local one.") from None
    serve.start(proxy_location="Disabled")
    deployment = serve.deployment(
        BarkReplica, name=DEPLOYMENT_NAME, num_replicas=options.replicas,
        ray_actor_options={"num_cpus": options.cpus_per_replica, "num_gpus": options.gpus_per_replica},
        max_ongoing_requests=2 * options.max_batch + 8,  # enough for a full batch, the next one, and read-only calls
        health_check_period_s=2, health_check_timeout_s=30, graceful_shutdown_timeout_s=5,
    )
    if options.gpus_per_replica > 0 and getattr(settings, "device", "auto") == "cpu":
        log.warning("--gpus-per-replica with --device cpu: the replicas will not use their GPUs")
    app = deployment.bind(settings, options.max_batch, options.max_wait_s, options.threads)
    handle = serve.run(app, name=options.app_name, route_prefix=None)
    return RayEngine(handle, settings, options)

