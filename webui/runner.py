"""Running one generation in a worker thread and turning its callbacks into a stream of events.

The UI's generator pulls ``(kind, payload)`` events from :func:`stream_generation`:
``("progress", Progress)``, ``("segment", (index, n_segments, audio_per_take))``,
``("done", Generation)`` or ``("error", exception)``. Closing the stream early (the
browser went away) asks the engine to stop, so no work is left running for nobody.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np


def stream_generation(engine: Any, request: Any, should_stop: Callable[[], bool]) -> Iterator[tuple[str, Any]]:
    events: queue.Queue = queue.Queue()
    abandoned = threading.Event()

    def stop() -> bool:
        return abandoned.is_set() or should_stop()

    def on_segment(index: int, n_segments: int, audio_per_take: list) -> None:
        events.put(("segment", (index, n_segments, [np.array(a, dtype=np.float32, copy=True) for a in audio_per_take])))

    def work() -> None:
        try:
            gen = engine.generate(request, on_progress=lambda p: events.put(("progress", p)),
                                  should_stop=stop, on_segment=on_segment)
            events.put(("done", gen))
        except BaseException as e:  # handed to the consumer, which decides what the user sees
            events.put(("error", e))

    worker = threading.Thread(target=work, name="bark-generate", daemon=True)
    worker.start()
    try:
        while True:
            kind, payload = events.get()
            if kind == "progress":
                # Coalesce a burst of progress events into the latest one.
                try:
                    while True:
                        k2, p2 = events.get_nowait()
                        if k2 != "progress":
                            yield kind, payload
                            kind, payload = k2, p2
                            break
                        payload = p2
                except queue.Empty:
                    pass
            yield kind, payload
            if kind in ("done", "error"):
                return
    finally:
        if worker.is_alive():
            abandoned.set()
            worker.join(timeout=5)
