"""Per-owner history and user voices: SQLite (WAL) plus files in the data directory.

Layout of the data directory::

    studio.sqlite3        generations and user voices (WAL mode)
    audio/<gen_id>/       take<i>.wav (audio) and take<i>.npz (its tokens: a ready voice)
    voices/<voice_id>.npz the user's own voices
    previews/             cached voice previews
    trash/                what was deleted, kept for Undo (``UNDO_SECONDS``), never served

Every row carries an owner: the SHA-256 of the owner's secret token (a random id kept
in the browser, or the API client's session). All reads and writes filter by owner, so
knowing a row id is not enough to read or change someone else's row.

Files are written under a temporary name and renamed into place before the row that
points at them is inserted; a generation that is cancelled or fails leaves nothing. A process
killed between the rename and the insert leaves a folder no row points at: opening the store
removes such orphans (older than ``orphan_grace_s``, so a write in flight elsewhere is spared),
and SQLite's WAL journal keeps every committed row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    prompt TEXT NOT NULL,
    voice TEXT NOT NULL,
    voice_label TEXT NOT NULL,
    settings TEXT NOT NULL,
    seed INTEGER NOT NULL,
    takes TEXT NOT NULL,
    timings TEXT NOT NULL,
    warnings TEXT NOT NULL,
    starred INTEGER NOT NULL DEFAULT 0,
    deleted REAL
);
CREATE INDEX IF NOT EXISTS generations_owner ON generations(owner, created DESC);
CREATE TABLE IF NOT EXISTS voices (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    deleted REAL
);
CREATE INDEX IF NOT EXISTS voices_owner ON voices(owner, created DESC);
"""

MAX_NAME = 60
UNDO_SECONDS = 120.0  # a deleted row or voice can be restored this long; then it is purged for good
# Columns added after the first release, added to an older database when it is opened.
MIGRATIONS = {"generations": {"deleted": "REAL"}, "voices": {"deleted": "REAL"}}
DB_NAME = "studio.sqlite3"


class StorageError(ValueError):
    """The data folder could not be written (disk full, read-only); nothing was saved."""


def storage_error(e: BaseException) -> StorageError:
    """A failed write to the data directory (disk full, read-only, missing folder) as a sentence."""
    log.error("could not write to the data directory: %s", type(e).__name__)
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return StorageError(f"Could not save to the studio's data folder ({reason}). The disk may be full or the "
                        "folder read-only; free some space or start the studio with a writable --data-dir. "
                        "Nothing was saved.")


class Database:
    """The studio's SQLite file: one connection per thread (WAL, 30 s busy timeout), ``schema`` applied once.

    Stores that keep their own tables in the same file (history, voices, timelines) each open one.
    """

    def __init__(self, path: Path, schema: str):
        self.path = path
        self._local = threading.local()
        with self.conn() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript(schema)

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn


def owner_key(token: str) -> str:
    """The stored form of an owner token (never store the token itself)."""
    if not token:
        raise ValueError("missing owner")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class TakeRecord:
    wav: Path
    seconds: float
    scores: Optional[dict[str, Any]] = None  # the take check's (bark_core.takecheck), None if not scored
    seed: Optional[int] = None  # the take's own seed (regenerating it alone gives it again); None: older rows


@dataclass
class GenerationRecord:
    id: str
    created: float
    prompt: str
    voice: str
    voice_label: str
    settings: dict[str, Any]
    seed: int
    takes: list[TakeRecord]
    timings: dict[str, float]
    warnings: list[str]
    starred: bool = False

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.takes) / max(1, len(self.takes))


@dataclass
class VoiceRecord:
    id: str
    name: str
    created: float
    source: str
    path: Path


def write_wav_atomic(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        sf.write(str(tmp), np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="FLOAT")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class Store:
    """History and user voices for every owner, in one data directory."""

    def __init__(self, data_dir: str | Path, *, orphan_grace_s: float = 600.0):
        self.orphan_grace_s = float(orphan_grace_s)
        self.root = Path(data_dir).resolve()
        self.audio_dir = self.root / "audio"
        self.voices_dir = self.root / "voices"
        self.previews_dir = self.root / "previews"
        self.trash_dir = self.root / "trash"
        for d in (self.root, self.audio_dir, self.voices_dir, self.previews_dir, self.trash_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / DB_NAME
        self._db = Database(self.db_path, SCHEMA)
        self._migrate()
        self._sweep_temp()
        self.purge_deleted()

    def _migrate(self) -> None:
        with self._conn() as c:
            for table, columns in MIGRATIONS.items():
                have = {r["name"] for r in c.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    # -- plumbing ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def _sweep_temp(self) -> None:
        """Remove leftovers of writes that never finished (crash mid-write), and files no row points at."""
        for d in (self.audio_dir, self.voices_dir, self.previews_dir):
            for p in d.iterdir():
                if p.name.startswith("."):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        cutoff = time.time() - self.orphan_grace_s
        conn = self._conn()
        for p in self.audio_dir.iterdir():
            if p.is_dir() and _is_id(p.name) and _mtime(p) <= cutoff and conn.execute(
                    "SELECT 1 FROM generations WHERE id=?", (p.name,)).fetchone() is None:
                shutil.rmtree(p, ignore_errors=True)
        for p in self.voices_dir.glob("*.npz"):
            if _is_id(p.stem) and _mtime(p) <= cutoff and conn.execute(
                    "SELECT 1 FROM voices WHERE id=?", (p.stem,)).fetchone() is None:
                p.unlink(missing_ok=True)
        for p in self.trash_dir.iterdir():  # deleted things whose row is gone (a crash while purging)
            table = "voices" if p.suffix == ".npz" else "generations"
            if _is_id(p.stem) and conn.execute(f"SELECT 1 FROM {table} WHERE id=?", (p.stem,)).fetchone() is None:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    # -- generations ------------------------------------------------------------------
    def add_generation(
        self,
        owner: str,
        *,
        prompt: str,
        voice: str,
        voice_label: str,
        settings: dict[str, Any],
        seed: int,
        audios: list[np.ndarray],
        sample_rate: int,
        timings: dict[str, float],
        warnings: list[str],
        take_voices: Optional[list[Any]] = None,
        save_voice_fn=None,
        take_scores: Optional[list[Optional[dict[str, Any]]]] = None,
        take_seeds: Optional[list[Optional[int]]] = None,
    ) -> GenerationRecord:
        gen_id = uuid.uuid4().hex
        tmp_dir = self.audio_dir / f".{gen_id}.tmp"
        final_dir = self.audio_dir / gen_id
        tmp_dir.mkdir()
        try:
            takes_meta = []
            for i, audio in enumerate(audios):
                sf.write(str(tmp_dir / f"take{i + 1}.wav"), np.asarray(audio, np.float32), sample_rate,
                         format="WAV", subtype="FLOAT")
                if take_voices is not None and save_voice_fn is not None:
                    save_voice_fn(take_voices[i], tmp_dir / f"take{i + 1}.npz")
                meta = {"file": f"take{i + 1}", "seconds": round(len(audio) / sample_rate, 3)}
                if take_scores is not None and take_scores[i] is not None:
                    meta["scores"] = take_scores[i]
                if take_seeds is not None and take_seeds[i] is not None:
                    meta["seed"] = int(take_seeds[i])
                takes_meta.append(meta)
            os.replace(tmp_dir, final_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        created = time.time()
        try:
            with self._conn() as c:
                c.execute(
                    "INSERT INTO generations (id, owner, created, prompt, voice, voice_label, settings, seed, takes,"
                    " timings, warnings) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (gen_id, owner_key(owner), created, prompt, voice, voice_label, json.dumps(settings), int(seed),
                     json.dumps(takes_meta), json.dumps(timings), json.dumps(warnings)),
                )
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            raise
        return self.get_generation(owner, gen_id)  # type: ignore[return-value]

    def _record(self, row: sqlite3.Row) -> GenerationRecord:
        d = self.audio_dir / row["id"]
        takes = [TakeRecord(d / f"{t['file']}.wav", float(t["seconds"]), t.get("scores"), t.get("seed"))
                 for t in json.loads(row["takes"])]
        return GenerationRecord(
            id=row["id"], created=row["created"], prompt=row["prompt"], voice=row["voice"],
            voice_label=row["voice_label"], settings=json.loads(row["settings"]), seed=row["seed"], takes=takes,
            timings=json.loads(row["timings"]), warnings=json.loads(row["warnings"]), starred=bool(row["starred"]),
        )

    def list_generations(self, owner: str, *, starred_only: bool = False, limit: int = 200) -> list[GenerationRecord]:
        q = "SELECT * FROM generations WHERE owner=? AND deleted IS NULL"
        if starred_only:
            q += " AND starred=1"
        q += " ORDER BY created DESC LIMIT ?"
        rows = self._conn().execute(q, (owner_key(owner), int(limit))).fetchall()
        return [self._record(r) for r in rows]

    def get_generation(self, owner: str, gen_id: str) -> Optional[GenerationRecord]:
        row = self._conn().execute(
            "SELECT * FROM generations WHERE owner=? AND id=? AND deleted IS NULL", (owner_key(owner), str(gen_id))
        ).fetchone()
        return self._record(row) if row else None

    def set_star(self, owner: str, gen_id: str, starred: bool) -> bool:
        with self._conn() as c:
            cur = c.execute("UPDATE generations SET starred=? WHERE owner=? AND id=? AND deleted IS NULL",
                            (int(bool(starred)), owner_key(owner), str(gen_id)))
        return cur.rowcount == 1

    def delete_generation(self, owner: str, gen_id: str) -> bool:
        with self._conn() as c:
            cur = c.execute("DELETE FROM generations WHERE owner=? AND id=?", (owner_key(owner), str(gen_id)))
        if cur.rowcount == 1 and len(gen_id) == 32 and gen_id.isalnum():
            shutil.rmtree(self.audio_dir / gen_id, ignore_errors=True)
            return True
        return False

    # -- deleting with Undo -----------------------------------------------------------
    def trash_generation(self, owner: str, gen_id: str) -> bool:
        """Delete a row so that ``restore_generation`` can bring it back for ``UNDO_SECONDS``: hidden at once,
        its files moved out of the served audio folder; ``purge_deleted`` removes it for good."""
        if not _is_id(str(gen_id)):
            return False
        with self._conn() as c:
            cur = c.execute("UPDATE generations SET deleted=? WHERE owner=? AND id=? AND deleted IS NULL",
                            (time.time(), owner_key(owner), gen_id))
        if cur.rowcount != 1:
            return False
        if (self.audio_dir / gen_id).is_dir():
            os.replace(self.audio_dir / gen_id, self.trash_dir / gen_id)
        return True

    def restore_generation(self, owner: str, gen_id: str) -> bool:
        """Undo ``trash_generation``; False when it is not the owner's or was purged already."""
        if not _is_id(str(gen_id)) or not (self.trash_dir / gen_id).is_dir():
            return False
        with self._conn() as c:
            cur = c.execute("UPDATE generations SET deleted=NULL WHERE owner=? AND id=? AND deleted IS NOT NULL",
                            (owner_key(owner), gen_id))
            if cur.rowcount == 1:
                os.replace(self.trash_dir / gen_id, self.audio_dir / gen_id)
        return cur.rowcount == 1

    def trash_voice(self, owner: str, voice_id: str) -> bool:
        """Delete one of the owner's voices with Undo (see ``trash_generation``)."""
        if not _is_id(str(voice_id)):
            return False
        with self._conn() as c:
            cur = c.execute("UPDATE voices SET deleted=? WHERE owner=? AND id=? AND deleted IS NULL",
                            (time.time(), owner_key(owner), voice_id))
        if cur.rowcount != 1:
            return False
        if (self.voices_dir / f"{voice_id}.npz").is_file():
            os.replace(self.voices_dir / f"{voice_id}.npz", self.trash_dir / f"{voice_id}.npz")
        return True

    def restore_voice(self, owner: str, voice_id: str) -> bool:
        if not _is_id(str(voice_id)) or not (self.trash_dir / f"{voice_id}.npz").is_file():
            return False
        with self._conn() as c:
            cur = c.execute("UPDATE voices SET deleted=NULL WHERE owner=? AND id=? AND deleted IS NOT NULL",
                            (owner_key(owner), voice_id))
            if cur.rowcount == 1:
                os.replace(self.trash_dir / f"{voice_id}.npz", self.voices_dir / f"{voice_id}.npz")
        return cur.rowcount == 1

    def purge_deleted(self, older_than_s: float = UNDO_SECONDS) -> list[str]:
        """Remove for good what was deleted more than ``older_than_s`` ago; the generation ids removed."""
        cutoff = time.time() - float(older_than_s)
        with self._conn() as c:
            gens = [r["id"] for r in c.execute("SELECT id FROM generations WHERE deleted IS NOT NULL AND deleted <= ?",
                                               (cutoff,))]
            voices = [r["id"] for r in c.execute("SELECT id FROM voices WHERE deleted IS NOT NULL AND deleted <= ?",
                                                 (cutoff,))]
            c.executemany("DELETE FROM generations WHERE id=?", [(i,) for i in gens])
            c.executemany("DELETE FROM voices WHERE id=?", [(i,) for i in voices])
        for i in gens:
            if _is_id(i):
                shutil.rmtree(self.trash_dir / i, ignore_errors=True)
        for i in voices:
            if _is_id(i):
                (self.trash_dir / f"{i}.npz").unlink(missing_ok=True)
                (self.previews_dir / f"user-{i}.wav").unlink(missing_ok=True)
        return gens

    # -- user voices ------------------------------------------------------------------
    def add_voice(self, owner: str, name: str, voice: Any, source: str, save_fn) -> VoiceRecord:
        """Save ``voice`` with ``save_fn(voice, path)`` (bark_core.voices.save_voice) under ``name``."""
        name = clean_name(name)
        voice_id = uuid.uuid4().hex
        final = self.voices_dir / f"{voice_id}.npz"
        save_fn(voice, final)  # atomic: temp file in the same folder, then rename
        try:
            with self._conn() as c:
                c.execute("INSERT INTO voices (id, owner, created, name, source) VALUES (?,?,?,?,?)",
                          (voice_id, owner_key(owner), time.time(), name, source))
        except BaseException:
            final.unlink(missing_ok=True)
            raise
        return self.get_voice(owner, voice_id)  # type: ignore[return-value]

    def list_voices(self, owner: str) -> list[VoiceRecord]:
        rows = self._conn().execute(
            "SELECT * FROM voices WHERE owner=? AND deleted IS NULL ORDER BY created DESC", (owner_key(owner),)
        ).fetchall()
        return [VoiceRecord(r["id"], r["name"], r["created"], r["source"], self.voices_dir / f"{r['id']}.npz")
                for r in rows]

    def get_voice(self, owner: str, voice_id: str) -> Optional[VoiceRecord]:
        r = self._conn().execute("SELECT * FROM voices WHERE owner=? AND id=? AND deleted IS NULL",
                                 (owner_key(owner), str(voice_id))).fetchone()
        if r is None:
            return None
        return VoiceRecord(r["id"], r["name"], r["created"], r["source"], self.voices_dir / f"{r['id']}.npz")

    def rename_voice(self, owner: str, voice_id: str, name: str) -> bool:
        with self._conn() as c:
            cur = c.execute("UPDATE voices SET name=? WHERE owner=? AND id=? AND deleted IS NULL",
                            (clean_name(name), owner_key(owner), str(voice_id)))
        return cur.rowcount == 1

    def delete_voice(self, owner: str, voice_id: str) -> bool:
        with self._conn() as c:
            cur = c.execute("DELETE FROM voices WHERE owner=? AND id=?", (owner_key(owner), str(voice_id)))
        if cur.rowcount == 1:
            (self.voices_dir / f"{voice_id}.npz").unlink(missing_ok=True)
            (self.previews_dir / f"user-{voice_id}.wav").unlink(missing_ok=True)
            return True
        return False

    # -- quotas -----------------------------------------------------------------------
    def usage(self, owner: str) -> dict[str, int]:
        """What the owner keeps (deleted rows waiting for Undo not counted): generations and the bytes of
        their files, voices and theirs."""
        key = owner_key(owner)
        conn = self._conn()
        gens = [r["id"] for r in conn.execute("SELECT id FROM generations WHERE owner=? AND deleted IS NULL", (key,))]
        voices = [r["id"] for r in conn.execute("SELECT id FROM voices WHERE owner=? AND deleted IS NULL", (key,))]
        gen_bytes = sum(_tree_bytes(self.audio_dir / i) for i in gens if _is_id(i))
        voice_bytes = sum(_tree_bytes(self.voices_dir / f"{i}.npz") for i in voices if _is_id(i))
        return {"generations": len(gens), "generation_bytes": gen_bytes, "voices": len(voices),
                "voice_bytes": voice_bytes}

    # -- previews ---------------------------------------------------------------------
    def preview_path(self, key: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in key)
        return self.previews_dir / f"{safe}.wav"


def _is_id(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def _tree_bytes(p: Path) -> int:
    try:
        if p.is_dir():
            return sum(f.stat().st_size for f in p.iterdir() if f.is_file())
        return p.stat().st_size
    except OSError:
        return 0


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return float("inf")


def clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValueError("Please give the voice a name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"Voice names can be at most {MAX_NAME} characters.")
    return name
