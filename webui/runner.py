"""Running one generation in a worker thread and turning its callbacks into a stream of events.

The UI's generator pulls ``bark_core.contract`` events from :func:`stream_generation`:
``Progress``, ``Preview`` (with ``previews``: a rough sound while a segment's coarse stage runs),
``SegmentDone`` (each take's audio so far), then ``Done`` or ``Failed``;
``bark_core.contract.follow`` reads them. Closing the stream early (the browser went away)
asks the engine to stop, so no work is left running for nobody.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np

from bark_core import Done, EngineProtocol, Failed, GenerationRequest, Progress, SegmentDone
from bark_core.contract import Event, Preview


def stream_generation(engine: EngineProtocol, request: GenerationRequest,
                      should_stop: Callable[[], bool], previews: bool = False, owner: str = "") -> Iterator[Event]:
    """The events of ``engine.generate(request)`` run in a worker thread; ``previews`` asks for Preview events
    (the request's ``live_preview`` setting can still turn them off); ``owner`` (whose request) reaches
    ``engine.generate``: a batching engine serves owners in turn."""
    events: queue.Queue = queue.Queue()
    abandoned = threading.Event()

    def stop() -> bool:
        return abandoned.is_set() or should_stop()

    def on_segment(index: int, n_segments: int, audio_per_take: list) -> None:
        events.put(SegmentDone(index, n_segments, [np.array(a, dtype=np.float32, copy=True) for a in audio_per_take]))

    def on_preview(index: int, n_segments: int, audio_per_take: list) -> None:
        events.put(Preview(index, n_segments, [np.array(a, dtype=np.float32, copy=True) for a in audio_per_take]))

    def work() -> None:
        try:
            gen = engine.generate(request, on_progress=events.put, should_stop=stop, on_segment=on_segment,
                                  on_preview=on_preview if previews else None, owner=owner)
            events.put(Done(gen))
        except BaseException as e:  # handed to the consumer, which decides what the user sees
            events.put(Failed(e))

    worker = threading.Thread(target=work, name="bark-generate", daemon=True)
    worker.start()
    try:
        while True:
            event = events.get()
            if isinstance(event, Progress):
                # Coalesce a burst of progress events into the latest one.
                try:
                    while True:
                        following = events.get_nowait()
                        if not isinstance(following, Progress):
                            yield event
                            event = following
                            break
                        event = following
                except queue.Empty:
                    pass
            yield event
            if isinstance(event, (Done, Failed)):
                return
    finally:
        if worker.is_alive():
            abandoned.set()
            worker.join(timeout=5)
