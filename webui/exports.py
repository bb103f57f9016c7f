"""Prepared downloads (the History zip, /export, a timeline version's export): one owner, one folder, swept.

Every export is written into a fresh folder under one root per data directory
(``<system temp>/bark-studio-exports/<data dir key>/<uuid>/``: Gradio serves files under the system temp
folder). Gradio copies each one into its own cache to serve it; both copies go when the export is swept:

- at start (the whole root: nothing a previous run prepared is still being downloaded),
- at every new export: folders older than ``keep_s``, then the oldest until the root holds at most
  ``max_bytes`` (the one being written is never counted),
- every ``sweep_every_s`` on a background timer, so an idle studio does not keep them either.

A download made from a history row (``folder(row_id)``) goes with the row: deleting it (even with Undo
pending) calls ``drop(row_id)``, so its download URLs answer 404 at once.

So one visitor cannot grow the disk by exporting: at most ``max_bytes`` of prepared downloads (plus
Gradio's copies of them) exist at any time, whatever the number of exports.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Callable, Iterable, Optional

log = logging.getLogger(__name__)

EXPORT_KEEP_S = 600.0  # a prepared download lives this long (the browser fetches it at once)
EXPORT_MAX_BYTES = 256 * 2**20  # prepared downloads of all visitors together, at most
BASE_NAME = "bark-studio-exports"
GRADIO_CACHE = (600, 3600)  # gr.Blocks(delete_cache=): every 10 min, Gradio's copies older than 1 h (all at exit)


def default_root(data_dir: str | Path) -> Path:
    """This data directory's exports folder under the system temp folder (two studios never share one)."""
    key = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / BASE_NAME / key


class Exports:
    """The owner of every prepared download: ``folder()`` gives a fresh folder; old ones are swept."""

    def __init__(self, root: str | Path, *, keep_s: float = EXPORT_KEEP_S, max_bytes: int = EXPORT_MAX_BYTES,
                 sweep_every_s: Optional[float] = 60.0,
                 forget_served: Callable[[Iterable[Path]], None] = lambda paths: None):
        if keep_s <= 0 or max_bytes <= 0:
            raise ValueError("Exports need a positive keep time and size bound.")
        self.root = Path(root)
        self.keep_s = float(keep_s)
        self.max_bytes = int(max_bytes)
        self.forget_served = forget_served  # drops Gradio's served copies of files (set by the app)
        self._lock = threading.Lock()
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweep(everything=True)
        self._sweep_stale_roots()
        self._timer: Optional[threading.Timer] = None
        if sweep_every_s:
            self._schedule(float(sweep_every_s))

    def folder(self, source: str = "") -> Path:
        """A new, empty folder for one prepared download (after sweeping what is old). ``source`` (a history
        row's id) lets ``drop(source)`` remove every download made from it when the row is deleted."""
        self.sweep()
        tag = source if _TAG_RE.fullmatch(source or "") else ""
        d = self.root / (f"{tag}-{uuid.uuid4().hex}" if tag else uuid.uuid4().hex)
        d.mkdir(parents=True)
        return d

    def drop(self, source: str) -> int:
        """Remove every prepared download made from ``source`` (and Gradio's copies: their URLs answer 404)."""
        if not _TAG_RE.fullmatch(source or ""):
            return 0
        with self._lock:
            gone = [p for p in self._children() if p.name.startswith(f"{source}-")]
            for p in gone:
                self._remove(p)
        return len(gone)

    def sweep(self, everything: bool = False) -> int:
        """Remove old folders (all with ``everything``), then the oldest while over ``max_bytes``; bytes freed."""
        with self._lock:
            entries = []
            for p in self._children():
                entries.append((_mtime(p), _size(p), p))
            entries.sort()
            now, freed = time.time(), 0
            total = sum(size for _, size, _ in entries)
            for mtime, size, p in entries:
                if everything or now - mtime > self.keep_s or total > self.max_bytes:
                    self._remove(p)
                    total -= size
                    freed += size
            return freed

    def usage(self) -> int:
        """Bytes of prepared downloads held now."""
        return sum(_size(p) for p in self._children())

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- plumbing ---------------------------------------------------------------------
    def _children(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if not p.is_symlink()]
        except OSError:
            return []

    def _remove(self, p: Path) -> None:
        files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
        try:
            self.forget_served(files)  # before deleting: Gradio's copies are named after the content
        except Exception as e:  # a sweep must never fail an export
            log.warning("served copies of an export not removed: %s", type(e).__name__)
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def _sweep_stale_roots(self) -> None:
        """Exports of other data directories (earlier runs, tests) older than ``keep_s``."""
        cutoff = time.time() - self.keep_s
        try:
            siblings = [p for p in self.root.parent.iterdir() if p != self.root and p.is_dir() and not p.is_symlink()]
        except OSError:
            return
        for other in siblings:
            try:
                for p in other.iterdir():
                    if _mtime(p) < cutoff:
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                other.rmdir()  # only when empty
            except OSError:
                pass

    def _schedule(self, every: float) -> None:
        _start_timer(weakref.ref(self), every)


def _start_timer(ref: "weakref.ref[Exports]", every: float) -> None:
    """Sweep every ``every`` seconds while the Exports lives (the timer holds only a weak reference)."""
    def tick() -> None:
        exports = ref()
        if exports is None or exports._timer is None:  # collected, or closed
            return
        try:
            exports.sweep()
        except Exception as e:  # a failed sweep is tried again at the next tick
            log.warning("exports sweep failed: %s", type(e).__name__)
        if exports._timer is not None:
            _start_timer(ref, every)

    timer = threading.Timer(every, tick)
    timer.daemon = True
    exports = ref()
    if exports is not None:
        exports._timer = timer
        timer.start()


_TAG_RE = re.compile(r"[0-9a-f]{32}")


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _size(p: Path) -> int:
    try:
        if p.is_dir():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        return p.stat().st_size
    except OSError:
        return 0
