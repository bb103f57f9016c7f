"""The engine contract: what every engine offers, the events of a generation stream, and the one way to read them.

``Engine`` (one process), ``BatchingEngine`` (requests of many callers batched) and ``RayEngine``
(Ray Serve replicas) all satisfy :class:`EngineProtocol`; the UI holds any one of them.

A generation run in a worker thread is seen as a stream of events: :class:`~bark_core.types.Progress`
reports, :class:`SegmentDone` after each segment of a long text, then one :class:`Done` or
:class:`Failed`. :func:`follow` is how every caller consumes such a stream::

    gen = yield from follow(events, show)   # in a generator: show(event) -> a UI update to yield, or None
    gen = wait(events, on_event)            # elsewhere

Both return the Generation and raise the job's own exception (``GenerationCancelled`` when it was
stopped, ``GPUOutOfMemory``, ``ValueError``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Optional, Protocol, Union, runtime_checkable

import numpy as np

from .types import (
    Generation,
    GenerationRequest,
    Progress,
    PreviewCallback,
    ProgressCallback,
    SegmentCallback,
    SegmentCheckCallback,
    StopCallback,
    Voice,
)


@runtime_checkable
class EngineProtocol(Protocol):
    """The surface the UI, the CLI and the scheduler use; ``Engine``, ``BatchingEngine`` and ``RayEngine`` have it."""

    settings: Any  # the EngineSettings it was loaded with

    @property
    def folder(self) -> Path: ...  # the models folder (tokenizer, codec and presets are read from it)

    @property
    def codec(self) -> Any: ...  # EnCodec, for front-end work such as voice cloning

    def info(self) -> dict: ...

    def presets(self) -> list: ...

    def load_voice(self, spec: Any) -> Optional[Voice]: ...

    def tokenize(self, text: str) -> list[int]: ...

    def count_tokens(self, text: str) -> int: ...

    def split_text(self, text: str) -> tuple[list[str], list[str]]: ...

    def estimate_seconds(self, text: str) -> float: ...

    def plan_segments(self, text: str, long_form: bool = True) -> tuple[list[str], list[str]]: ...

    def decode(self, fine: np.ndarray) -> np.ndarray: ...

    def generate(self, request: GenerationRequest, on_progress: Optional[ProgressCallback] = None,
                 should_stop: Optional[StopCallback] = None, on_segment: Optional[SegmentCallback] = None,
                 accept_segment: Optional[SegmentCheckCallback] = None, segment_retakes: int = 0,
                 on_preview: Optional[PreviewCallback] = None,
                 owner: str = "") -> Generation: ...  # owner: whose request (a BatchingEngine serves owners in turn)


# ------------------------------------------------------------------------------ stream events

@dataclass(frozen=True)
class SegmentDone:
    """Segment ``index`` (0-based) of ``segments`` is made: ``audio`` holds each take's joined audio so far."""

    index: int
    segments: int
    audio: list  # (samples,) float32 at 24 kHz, one per take


@dataclass(frozen=True)
class Preview:
    """A rough sound of segment ``index`` while its coarse stage runs: ``audio`` holds each take's audio from its
    start (finished segments, then this one decoded from the coarse codes so far); the final take replaces it."""

    index: int
    segments: int
    audio: list  # (samples,) float32 at 24 kHz, one per take


@dataclass(frozen=True)
class Done:
    """The generation finished."""

    generation: Generation


@dataclass(frozen=True)
class Failed:
    """The generation raised ``error`` (``GenerationCancelled`` when it was stopped)."""

    error: BaseException


Event = Union[Progress, SegmentDone, Preview, Done, Failed]
NO_RESULT = "Generation ended without a result."


def follow(events: Iterable[Event],
           show: Optional[Callable[[Union[Progress, SegmentDone, Preview]], Any]] = None) -> Generator[Any, None, Generation]:
    """Consume one generation's events: ``show`` sees each Progress, SegmentDone and Preview, and what it returns
    (unless None) is yielded; the Generation is returned. Raises the job's exception, or ValueError
    when the stream ends without a result."""
    for event in events:
        if isinstance(event, Done):
            return event.generation
        if isinstance(event, Failed):
            raise event.error
        update = show(event) if show is not None else None
        if update is not None:
            yield update
    raise ValueError(NO_RESULT)


def wait(events: Iterable[Event],
         on_event: Optional[Callable[[Union[Progress, SegmentDone, Preview]], Any]] = None) -> Generation:
    """:func:`follow` to the end for a caller that is not a generator (what ``on_event`` returns is dropped)."""
    steps = follow(events, on_event)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value
