"""Per-session cancel flags: Stop cancels only the caller's own job."""

from __future__ import annotations

import threading


class CancelRegistry:
    """One ``threading.Event`` per session key (the Gradio session hash); never a global flag."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def event(self, key: str) -> threading.Event:
        with self._lock:
            ev = self._events.get(key)
            if ev is None:
                ev = self._events[key] = threading.Event()
            return ev

    def arm(self, key: str) -> None:
        """Clear the flag before a new job of this session is queued."""
        self.event(key).clear()

    def stop(self, key: str) -> None:
        self.event(key).set()

    def forget(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
