"""Per-owner long-form timelines and their rendered versions: SQLite (WAL) plus files in the data directory.

Layout (beside the history's ``studio.sqlite3`` and ``audio/``)::

    studio.sqlite3                       tables ``timelines`` and ``timeline_versions`` (own connection, WAL)
    timelines/<id>/draft.npz             the timeline being edited: its JSON and every segment's audio and tokens
    timelines/<id>/v<k>/timeline.npz     what version k was rendered from (same format, never rewritten)
    timelines/<id>/v<k>/joined.wav       version k's joined audio (float WAV, 24 kHz)

``timeline_sources`` links a take of a history generation (owner, generation id, take index) to the
timeline imported from it, so opening that take again reopens the same timeline. A long-form take is
imported when it is saved (its segments exist only then) but stays out of the owner's timeline list
(``opened = 0``) until it is first opened; deleting the generation removes it if it was never opened.

Every row carries an owner: the SHA-256 of the owner's token (``webui.store.owner_key``); every
read and write filters by it, so a timeline id alone opens nothing. Files are written under a
temporary name and renamed into place; a version folder is created once and never replaced (a
rename onto an existing version fails), so rendering again always adds a version.

An ``.npz`` holds the timeline's ``to_dict`` JSON as UTF-8 bytes under ``__timeline__`` and its
arrays (``<segment id>.audio``, ``.semantic``, ``.coarse``, ``.fine``) beside it; it is read with
``allow_pickle=False`` and every field is checked by ``bark_core.timeline.from_dict``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np
import soundfile as sf

from bark_core import timeline as T

from .store import DB_NAME, Database, owner_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS timelines (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    title TEXT NOT NULL,
    segments INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS timelines_owner ON timelines(owner, updated DESC);
CREATE TABLE IF NOT EXISTS timeline_versions (
    timeline_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    number INTEGER NOT NULL,
    created REAL NOT NULL,
    seconds REAL NOT NULL,
    segments INTEGER NOT NULL,
    pause_ms REAL NOT NULL,
    crossfade_ms REAL NOT NULL,
    PRIMARY KEY (timeline_id, number)
);
CREATE TABLE IF NOT EXISTS timeline_sources (
    owner TEXT NOT NULL,
    generation_id TEXT NOT NULL,
    take_index INTEGER NOT NULL,
    timeline_id TEXT NOT NULL,
    opened INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (owner, generation_id, take_index)
);
CREATE INDEX IF NOT EXISTS timeline_sources_timeline ON timeline_sources(timeline_id);
CREATE TABLE IF NOT EXISTS timeline_open (
    owner TEXT PRIMARY KEY,
    timeline_id TEXT NOT NULL
);
"""

JSON_KEY = "__timeline__"
TITLE_CHARS = 60
MAX_NPZ_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class TimelineRecord:
    id: str
    created: float
    updated: float
    title: str
    segments: int


@dataclass(frozen=True)
class VersionRecord:
    timeline_id: str
    number: int
    created: float
    seconds: float
    segments: int
    pause_ms: float
    crossfade_ms: float
    wav: Path
    npz: Path


def _is_id(name: str) -> bool:
    return isinstance(name, str) and len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def timeline_bytes(tl: T.Timeline) -> bytes:
    """The timeline as one uncompressed ``.npz`` (JSON + arrays)."""
    arrays: dict[str, np.ndarray] = {}
    d = T.to_dict(tl, arrays=arrays)
    buf = io.BytesIO()
    np.savez(buf, **{JSON_KEY: np.frombuffer(json.dumps(d).encode("utf-8"), dtype=np.uint8)}, **arrays)
    return buf.getvalue()


def read_timeline(path: Path) -> T.Timeline:
    """A timeline written by ``timeline_bytes`` (ValueError with a sentence when it is unreadable)."""
    try:
        if path.stat().st_size > MAX_NPZ_BYTES:
            raise ValueError("The saved timeline is too large to open.")
        with np.load(path, allow_pickle=False) as z:
            if JSON_KEY not in z.files:
                raise ValueError("The saved timeline is unreadable.")
            d = json.loads(bytes(z[JSON_KEY].astype(np.uint8)).decode("utf-8"))
            arrays = {k: z[k] for k in z.files if k != JSON_KEY}
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError, KeyError) as e:
        raise ValueError(f"The saved timeline could not be read ({type(e).__name__}).") from None
    return T.from_dict(d, arrays=arrays)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _title(tl: T.Timeline) -> str:
    text = " ".join(" ".join(s.text for s in tl.segments[:3]).split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


class TimelineStore:
    """Timelines (a draft each) and their numbered versions, for every owner, under ``<data_dir>/timelines``."""

    def __init__(self, data_dir: str | Path, *, max_timelines: Optional[int] = None,
                 max_versions: Optional[int] = None, check_room: Callable[[], None] = lambda: None):
        self.max_timelines, self.max_versions = max_timelines, max_versions  # per owner, per timeline (None: no limit)
        self.check_room = check_room  # ValueError when the data folder is full (webui.quotas.Quotas.check_data)
        self.root = Path(data_dir).resolve()
        self.dir = self.root / "timelines"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / DB_NAME
        self._db = Database(self.db_path, SCHEMA)
        self._lock = threading.Lock()  # version numbers are handed out one at a time
        self._import_lock = threading.Lock()  # one import per take: opening it twice at once makes one timeline
        self._busy: set[str] = set()  # timelines an engine job is writing (edits wait for it)
        with self._conn() as c:  # timeline_sources from before the ``opened`` column: every link was opened
            if "opened" not in {r["name"] for r in c.execute("PRAGMA table_info(timeline_sources)")}:
                c.execute("ALTER TABLE timeline_sources ADD COLUMN opened INTEGER NOT NULL DEFAULT 1")
        self._sweep_temp()

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _sweep_temp(self) -> None:
        """Remove leftovers of writes that never finished (names starting with a dot)."""
        for d in self.dir.iterdir():
            if d.name.startswith("."):
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
            elif d.is_dir():
                for p in d.iterdir():
                    if p.name.startswith("."):
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    # -- jobs -------------------------------------------------------------------------
    @contextmanager
    def working(self, tl_id: str) -> Iterator[None]:
        """Mark ``tl_id`` as being generated for the duration (``is_busy``), so edits do not race the job's saves."""
        with self._lock:
            if tl_id in self._busy:
                raise ValueError("This timeline is already being generated; wait for it to finish or press Stop.")
            self._busy.add(tl_id)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(tl_id)

    def is_busy(self, tl_id: Any) -> bool:
        with self._lock:
            return tl_id in self._busy

    # -- timelines --------------------------------------------------------------------
    def create(self, owner: str, tl: T.Timeline) -> str:
        """Store a new timeline (its draft) for ``owner``; its id. ValueError when the owner has ``max_timelines``."""
        self.check_room()
        n = self.count(owner)
        if self.max_timelines is not None and n >= self.max_timelines:
            raise ValueError(f"You have {n} timelines, the most this studio keeps for one user; delete one in the "
                             "Timeline tab to make room.")
        tl_id = uuid.uuid4().hex
        folder = self.dir / tl_id
        folder.mkdir()
        try:
            _write_atomic(folder / "draft.npz", timeline_bytes(tl))
            now = time.time()
            with self._conn() as c:
                c.execute("INSERT INTO timelines (id, owner, created, updated, title, segments) VALUES (?,?,?,?,?,?)",
                          (tl_id, owner_key(owner), now, now, _title(tl), len(tl.segments)))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return tl_id

    def count(self, owner: str) -> int:
        """How many timelines the owner has (imported ones not opened yet included)."""
        return int(self._conn().execute("SELECT COUNT(*) AS n FROM timelines WHERE owner=?",
                                        (owner_key(owner),)).fetchone()["n"])

    def _row(self, owner: str, tl_id: Any) -> Optional[sqlite3.Row]:
        if not owner or not _is_id(tl_id):
            return None
        return self._conn().execute("SELECT * FROM timelines WHERE owner=? AND id=?",
                                    (owner_key(owner), tl_id)).fetchone()

    def get(self, owner: str, tl_id: Any) -> Optional[TimelineRecord]:
        r = self._row(owner, tl_id)
        return None if r is None else TimelineRecord(r["id"], r["created"], r["updated"], r["title"], r["segments"])

    def list(self, owner: str, limit: int = 100) -> list[TimelineRecord]:
        if not owner:
            return []
        rows = self._conn().execute(
            "SELECT * FROM timelines t WHERE owner=? AND NOT EXISTS (SELECT 1 FROM timeline_sources s WHERE "
            "s.timeline_id = t.id AND s.owner = t.owner AND s.opened = 0) ORDER BY updated DESC LIMIT ?",
            (owner_key(owner), int(limit))).fetchall()
        return [TimelineRecord(r["id"], r["created"], r["updated"], r["title"], r["segments"]) for r in rows]

    def load(self, owner: str, tl_id: Any) -> T.Timeline:
        """The owner's draft of timeline ``tl_id``; ValueError when it is not theirs or gone."""
        if self._row(owner, tl_id) is None:
            raise ValueError("That timeline is not in your studio (it may have been deleted); create a new one.")
        return read_timeline(self.dir / tl_id / "draft.npz")

    def save(self, owner: str, tl_id: Any, tl: T.Timeline) -> None:
        """Replace the draft (the versions stay as they were)."""
        if self._row(owner, tl_id) is None:
            raise ValueError("That timeline is not in your studio (it may have been deleted); create a new one.")
        _write_atomic(self.dir / tl_id / "draft.npz", timeline_bytes(tl))
        with self._conn() as c:
            c.execute("UPDATE timelines SET updated=?, title=?, segments=? WHERE owner=? AND id=?",
                      (time.time(), _title(tl), len(tl.segments), owner_key(owner), tl_id))

    def delete(self, owner: str, tl_id: Any) -> bool:
        if self._row(owner, tl_id) is None:
            return False
        self._delete(owner_key(owner), tl_id)
        return True

    def set_open(self, owner: str, tl_id: Any) -> None:
        """Remember ``tl_id`` as the owner's open timeline (a reload reopens it: ``open_one``)."""
        if self._row(owner, tl_id) is None:
            return
        with self._conn() as c:
            c.execute("INSERT INTO timeline_open (owner, timeline_id) VALUES (?,?) "
                      "ON CONFLICT(owner) DO UPDATE SET timeline_id=excluded.timeline_id", (owner_key(owner), tl_id))

    def open_one(self, owner: str) -> Optional[str]:
        """The owner's timeline that was open last (None when none was, or it is gone)."""
        if not owner:
            return None
        r = self._conn().execute("SELECT timeline_id FROM timeline_open WHERE owner=?", (owner_key(owner),)).fetchone()
        return r["timeline_id"] if r is not None and self._row(owner, r["timeline_id"]) is not None else None

    def _delete(self, key: str, tl_id: str) -> None:
        """Delete the timeline ``tl_id`` of the owner whose key is ``key``: its rows, versions and files."""
        with self._conn() as c:
            c.execute("DELETE FROM timeline_open WHERE owner=? AND timeline_id=?", (key, tl_id))
            c.execute("DELETE FROM timeline_sources WHERE owner=? AND timeline_id=?", (key, tl_id))
            c.execute("DELETE FROM timeline_versions WHERE owner=? AND timeline_id=?", (key, tl_id))
            c.execute("DELETE FROM timelines WHERE owner=? AND id=?", (key, tl_id))
        shutil.rmtree(self.dir / tl_id, ignore_errors=True)

    # -- timelines imported from history ---------------------------------------------
    def project_for_generation(self, owner: str, gen_id: Any, take_index: Any) -> Optional[str]:
        """The owner's timeline imported from take ``take_index`` of generation ``gen_id``, or None."""
        if not owner or not isinstance(gen_id, str) or not gen_id or isinstance(take_index, bool) \
                or not isinstance(take_index, int):
            return None
        r = self._conn().execute(
            "SELECT s.timeline_id FROM timeline_sources s JOIN timelines t ON t.id = s.timeline_id AND t.owner = s.owner"
            " WHERE s.owner=? AND s.generation_id=? AND s.take_index=?",
            (owner_key(owner), gen_id, take_index)).fetchone()
        return None if r is None else r["timeline_id"]

    def generations_with_projects(self, owner: str) -> set[tuple[str, int]]:
        """Every (generation id, take index) of the owner's that has a timeline."""
        if not owner:
            return set()
        rows = self._conn().execute(
            "SELECT s.generation_id, s.take_index FROM timeline_sources s JOIN timelines t ON t.id = s.timeline_id "
            "AND t.owner = s.owner WHERE s.owner=?", (owner_key(owner),)).fetchall()
        return {(r["generation_id"], r["take_index"]) for r in rows}

    def create_for_generation(self, owner: str, gen_id: str, take_index: int, tl: T.Timeline,
                              opened: bool = True) -> tuple[str, bool]:
        """The timeline of that take: the one stored already (``(id, False)``), else ``tl`` stored now (``(id, True)``).

        ``opened=False`` keeps a new one out of ``list`` until ``mark_opened`` (imported at save time, not yet opened).
        """
        if not owner or not isinstance(gen_id, str) or not gen_id or isinstance(take_index, bool) \
                or not isinstance(take_index, int) or take_index < 0:
            raise ValueError("That take is not in your history.")
        with self._import_lock:
            found = self.project_for_generation(owner, gen_id, take_index)
            if found is not None:
                return found, False
            tl_id = self.create(owner, tl)
            try:
                with self._conn() as c:
                    c.execute("INSERT OR REPLACE INTO timeline_sources (owner, generation_id, take_index, timeline_id,"
                              " opened) VALUES (?,?,?,?,?)", (owner_key(owner), gen_id, take_index, tl_id, int(opened)))
            except BaseException:
                self.delete(owner, tl_id)
                raise
            return tl_id, True

    def mark_opened(self, owner: str, tl_id: Any) -> None:
        """An imported timeline was opened: it joins the owner's timeline list (and outlives its generation)."""
        if self._row(owner, tl_id) is not None:
            with self._conn() as c:
                c.execute("UPDATE timeline_sources SET opened=1 WHERE owner=? AND timeline_id=?",
                          (owner_key(owner), tl_id))

    def forget_purged_generations(self) -> int:
        """Timelines imported from history rows that are gone for good (purged once Undo's time is over; a row
        in the trash still counts as there, so Undo brings its timelines back too): the never-opened ones are
        deleted, the opened ones (the owner's work) unlinked. How many timelines went."""
        conn = self._conn()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='generations'").fetchone() is None:
            return 0  # no history in this folder (a timeline store on its own)
        rows = conn.execute(
            "SELECT s.owner, s.generation_id, s.timeline_id, s.opened FROM timeline_sources s "
            "LEFT JOIN generations g ON g.id = s.generation_id WHERE g.id IS NULL").fetchall()
        for r in rows:
            if not r["opened"] and str(r["timeline_id"]).isalnum():  # ids are uuid4 hex: never a path
                self._delete(r["owner"], r["timeline_id"])
        with self._conn() as c:
            c.executemany("DELETE FROM timeline_sources WHERE owner=? AND generation_id=?",
                          [(r["owner"], r["generation_id"]) for r in rows])
        return sum(1 for r in rows if not r["opened"])

    def source_of(self, owner: str, tl_id: Any) -> Optional[tuple[str, int]]:
        """(generation id, take index) the owner's timeline was imported from, or None."""
        if self._row(owner, tl_id) is None:
            return None
        r = self._conn().execute("SELECT generation_id, take_index FROM timeline_sources WHERE owner=? AND "
                                 "timeline_id=?", (owner_key(owner), tl_id)).fetchone()
        return None if r is None else (r["generation_id"], r["take_index"])

    # -- versions ---------------------------------------------------------------------
    def add_version(self, owner: str, tl_id: Any, tl: T.Timeline, audio: np.ndarray) -> VersionRecord:
        """Store a render as the next version: what it was made from and its joined audio. Never overwrites."""
        if self._row(owner, tl_id) is None:
            raise ValueError("That timeline is not in your studio (it may have been deleted); create a new one.")
        self.check_room()
        data = timeline_bytes(tl)
        with self._lock:
            row = self._conn().execute("SELECT MAX(number) AS n FROM timeline_versions WHERE timeline_id=?",
                                       (tl_id,)).fetchone()
            number = int(row["n"] or 0) + 1
            if self.max_versions is not None and number > self.max_versions:
                raise ValueError(f"This timeline has {number - 1} versions, the most this studio keeps for one "
                                 "timeline; export the ones you want, then delete it or start a new timeline.")
            final = self.dir / tl_id / f"v{number}"
            tmp = self.dir / tl_id / f".v{number}.{uuid.uuid4().hex}.tmp"
            tmp.mkdir()
            try:
                (tmp / "timeline.npz").write_bytes(data)
                sf.write(str(tmp / "joined.wav"), np.asarray(audio, np.float32), tl.sample_rate, format="WAV",
                         subtype="FLOAT")
                os.rename(tmp, final)  # fails if v<number> exists: a version is never replaced
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            try:
                with self._conn() as c:
                    c.execute("INSERT INTO timeline_versions (timeline_id, owner, number, created, seconds, segments,"
                              " pause_ms, crossfade_ms) VALUES (?,?,?,?,?,?,?,?)",
                              (tl_id, owner_key(owner), number, time.time(), round(len(audio) / tl.sample_rate, 3),
                               len(tl.segments), float(tl.pause_ms), float(tl.crossfade_ms)))
                    c.execute("UPDATE timelines SET updated=? WHERE id=?", (time.time(), tl_id))
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
        return self.get_version(owner, tl_id, number)  # type: ignore[return-value]

    def _version(self, r: sqlite3.Row) -> VersionRecord:
        folder = self.dir / r["timeline_id"] / f"v{r['number']}"
        return VersionRecord(r["timeline_id"], r["number"], r["created"], r["seconds"], r["segments"], r["pause_ms"],
                             r["crossfade_ms"], folder / "joined.wav", folder / "timeline.npz")

    def versions(self, owner: str, tl_id: Any) -> list[VersionRecord]:
        """The owner's versions of a timeline, newest first."""
        if self._row(owner, tl_id) is None:
            return []
        rows = self._conn().execute("SELECT * FROM timeline_versions WHERE owner=? AND timeline_id=? "
                                    "ORDER BY number DESC", (owner_key(owner), tl_id)).fetchall()
        return [self._version(r) for r in rows]

    def get_version(self, owner: str, tl_id: Any, number: Any) -> Optional[VersionRecord]:
        if self._row(owner, tl_id) is None or isinstance(number, bool):
            return None
        try:
            number = int(number)
        except (TypeError, ValueError):
            return None
        r = self._conn().execute("SELECT * FROM timeline_versions WHERE owner=? AND timeline_id=? AND number=?",
                                 (owner_key(owner), tl_id, number)).fetchone()
        return None if r is None else self._version(r)

    def version_audio(self, owner: str, tl_id: Any, number: Any) -> tuple[int, np.ndarray]:
        """``(sample_rate, joined audio)`` of a version; ValueError when it is not the owner's."""
        v = self.get_version(owner, tl_id, number)
        if v is None:
            raise ValueError("That version is not in your studio; pick one from the list.")
        audio, sr = sf.read(str(v.wav), dtype="float32", always_2d=False)
        return int(sr), audio

    def version_timeline(self, owner: str, tl_id: Any, number: Any) -> T.Timeline:
        v = self.get_version(owner, tl_id, number)
        if v is None:
            raise ValueError("That version is not in your studio; pick one from the list.")
        return read_timeline(v.npz)
