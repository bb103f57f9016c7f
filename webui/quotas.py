"""Per-owner quotas and rate limits: what one visitor may store, and how fast it may save.

``Quotas`` holds the studio's :class:`~webui.limits.Limits` and answers, with a sentence (``ValueError``),
when an owner has no room left: stored voices, timelines, versions of one timeline, history rows and
history bytes. Saving actions (``SAVING_ACTIONS``: clone, save a voice, upload one, save a settings
preset, create a timeline, render a version...) are also rate-limited per owner and per client address:
``webui.wiring.connect`` checks before the handler runs and counts the ones that succeeded, so a refused
or failed try costs nothing, and many fresh owners from one address share that address's budget.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Any, Callable, Optional

from .limits import Limits

# Handlers (by function name) that store something for their owner: rate-limited per owner and per address.
SAVING_ACTIONS = frozenset({
    "api_clone", "save_clone", "add_uploaded", "save_take_as_voice", "save_history_take_as_voice", "rename_voice",
    "create_timeline", "render_version", "save_segment_voice", "open_in_timeline", "open_from_history", "save_style",
})
WINDOW_S = 60.0


def fmt_mb(n: float) -> str:
    if n < 2**20:
        return f"{n / 1024:.0f} KB"
    mb = n / 2**20
    return f"{mb:.1f} MB" if mb < 100 else f"{mb:,.0f} MB"


class RateLimiter:
    """At most ``per_window`` events per key in any ``window_s`` seconds (a sliding window)."""

    def __init__(self, per_window: int, window_s: float = WINDOW_S):
        self.per_window, self.window_s = int(per_window), float(window_s)
        self._lock = threading.Lock()
        self._events: dict[str, collections.deque] = {}

    def wait_s(self, key: str) -> float:
        """0 when ``key`` may act now, else the seconds until it may."""
        with self._lock:
            q = self._trimmed(key)
            return 0.0 if len(q) < self.per_window else max(0.1, q[0] + self.window_s - time.monotonic())

    def add(self, key: str) -> None:
        with self._lock:
            self._trimmed(key).append(time.monotonic())

    def _trimmed(self, key: str) -> collections.deque:
        q = self._events.setdefault(key, collections.deque())
        cutoff = time.monotonic() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        if not q and len(self._events) > 10_000:  # forget idle keys instead of growing without end
            for k in [k for k, v in self._events.items() if not v]:
                del self._events[k]
            q = self._events.setdefault(key, collections.deque())
        return q


class Quotas:
    """The studio's limits for one owner at a time (see the module docstring)."""

    def __init__(self, limits: Limits, store: Any, *, data_ttl_s: float = 30.0,
                 count_timelines: Optional[Callable[[str], int]] = None):
        self.limits = limits
        self.store = store
        self.data_ttl_s = float(data_ttl_s)  # the data folder's size is measured at most this often
        self._data: tuple[float, int] = (-1e18, 0)  # (monotonic time, bytes)
        self._data_lock = threading.Lock()
        self.count_timelines = count_timelines  # an owner's timelines, for the storage line (None: not shown)
        self.per_owner = RateLimiter(limits.saves_per_minute)
        self.per_address = RateLimiter(limits.saves_per_minute_per_address)

    # -- rate -------------------------------------------------------------------------
    def check_rate(self, owner: Optional[str], address: Optional[str]) -> None:
        """ValueError with a sentence when this owner or address saved too often in the last minute."""
        waits = []
        if owner:
            waits.append((self.per_owner.wait_s(f"o:{owner}"), self.limits.saves_per_minute, "you"))
        if address:
            waits.append((self.per_address.wait_s(f"a:{address}"), self.limits.saves_per_minute_per_address,
                          "your network address"))
        for wait, n, who in waits:
            if wait > 0:
                raise ValueError(f"Too many saves: {who} saved {n} times in the last minute, the most this studio "
                                 f"allows. Try again in {max(1, round(wait))} s.")

    def count_save(self, owner: Optional[str], address: Optional[str]) -> None:
        if owner:
            self.per_owner.add(f"o:{owner}")
        if address:
            self.per_address.add(f"a:{address}")

    # -- room -------------------------------------------------------------------------
    def data_bytes(self, fresh: bool = False) -> int:
        """Bytes in the data folder (every owner's history, voices, timelines, previews), measured at most
        every ``data_ttl_s`` seconds unless ``fresh``."""
        with self._data_lock:
            at, n = self._data
            if fresh or time.monotonic() - at > self.data_ttl_s:
                n = _tree_bytes(self.store.root)
                self._data = (time.monotonic(), n)
            return n

    def check_data(self) -> None:
        """ValueError when the data folder of all users together is full (``Limits.max_data_gb``)."""
        limit = self.limits.max_data_bytes
        if self.data_bytes() >= limit and self.data_bytes(fresh=True) >= limit:
            raise ValueError(f"This studio's storage is full ({limit / 2**30:g} GB for all users together), so "
                             "nothing new can be saved now. Delete some of your work, or ask whoever runs the "
                             "studio to make room.")

    def check_voices(self, owner: str) -> None:
        self.check_data()
        n = self.store.usage(owner)["voices"]
        if n >= self.limits.max_voices:
            raise ValueError(f"You have {n} voices, the most this studio keeps for one user; delete one in "
                             "“My voices” to make room.")

    def check_history(self, owner: str) -> None:
        self.check_data()
        use = self.store.usage(owner)
        if use["generations"] >= self.limits.max_history:
            raise ValueError(f"Your history holds {use['generations']} generations, the most this studio keeps for "
                             "one user; delete some in the History tab to make room.")
        if use["generation_bytes"] >= self.limits.max_history_bytes:
            raise ValueError(f"Your history holds {fmt_mb(use['generation_bytes'])} of audio, the most this studio "
                             f"keeps for one user is {fmt_mb(self.limits.max_history_bytes)}; delete some in the "
                             "History tab to make room.")

    def usage_line(self, owner: Optional[str]) -> str:
        """The owner's storage use against the limits, for the History tab."""
        if not owner:
            return ""
        timelines = self.count_timelines(owner) if self.count_timelines is not None else None
        u, lim = self.store.usage(owner), self.limits
        parts = [f"{u['generations']} of {lim.max_history} generations, "
                 f"{fmt_mb(u['generation_bytes'])} of {fmt_mb(lim.max_history_bytes)}",
                 f"{u['voices']} of {lim.max_voices} voices"]
        if timelines is not None:
            parts.append(f"{timelines} of {lim.max_timelines} timelines")
        return "Your storage: " + " · ".join(parts) + "."


def _tree_bytes(root: Any) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def client_address(request: Any) -> Optional[str]:
    """The caller's network address (``gr.Request.client.host``), or None."""
    try:
        host = request.client.host
    except AttributeError:
        return None
    return host if isinstance(host, str) and host else None
