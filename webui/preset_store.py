"""Generation presets ("styles"): the built-ins of ``presets/generation`` and each owner's own, in SQLite.

A user's preset is a row of ``user_presets`` in the studio's database (its own connection, WAL):
a name and the settings as request values (JSON), checked against the settings table when saved
and again when read. Every row carries an owner (the SHA-256 of the owner's token, as in
``webui.store``); every read and write filters by it, so one owner never sees, uses or deletes
another's presets. Names are unique per owner and never repeat a built-in's name or label (any
case), so a name alone picks one preset: the built-in first, then the owner's own.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from bark_core import presets as P
from bark_core import settings as table

from .store import DB_NAME, Database, owner_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_presets (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS user_presets_owner ON user_presets(owner, created);
"""

MAX_NAME = 40
MAX_PER_OWNER = 50


@dataclass(frozen=True)
class UserPreset:
    id: str
    name: str
    created: float
    preset: P.GenerationPreset


class PresetStore:
    """The built-in presets and every owner's own, for one data directory (None: the built-ins only)."""

    def __init__(self, data_dir: Optional[str | Path], builtins: Optional[list[P.GenerationPreset]] = None):
        self._db = Database(Path(data_dir).resolve() / DB_NAME, SCHEMA) if data_dir is not None else None
        self.builtins = list(P.builtin_presets() if builtins is None else builtins)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError("Saving presets needs the studio's data folder.")
        return self._db.conn()

    def list(self, owner: Optional[str]) -> list[UserPreset]:
        """The owner's own presets, oldest first (none without an owner)."""
        if not owner or self._db is None:
            return []
        rows = self._conn().execute("SELECT * FROM user_presets WHERE owner=? ORDER BY created, id",
                                    (owner_key(owner),)).fetchall()
        out = []
        for r in rows:
            try:
                settings = P.check_settings(json.loads(r["settings"]), f"Your preset {r['name']!r}")
            except ValueError:  # a row written by an older table whose ranges changed: skip it, keep the rest
                continue
            out.append(UserPreset(r["id"], r["name"], r["created"],
                                  P.GenerationPreset(r["name"], r["name"], "Your own preset.", settings)))
        return out

    def all(self, owner: Optional[str]) -> list[P.GenerationPreset]:
        """What ``owner`` can pick: the built-ins, then the owner's own."""
        return [*self.builtins, *(u.preset for u in self.list(owner))]

    def find(self, owner: Optional[str], name: Any) -> P.GenerationPreset:
        """The preset called ``name`` (a built-in's name or label, or one of the owner's); ValueError listing them."""
        return P.find_preset(name, self.all(owner))

    def is_builtin(self, name: Any) -> bool:
        wanted = str(name or "").strip().lower()
        return any(wanted in (p.name.lower(), p.label.lower()) for p in self.builtins)

    def add(self, owner: Optional[str], name: Any, settings: Mapping[str, Any]) -> UserPreset:
        """Save ``settings`` (request values; those a preset cannot hold are left out) as the owner's ``name``."""
        if not owner:
            raise ValueError("Your browser session is not ready yet; reload the page.")
        clean = " ".join(str(name or "").split())
        if not clean:
            raise ValueError("Please give the preset a name.")
        if len(clean) > MAX_NAME or not clean.isprintable():
            raise ValueError(f"A preset's name is at most {MAX_NAME} printable characters.")
        if self.is_builtin(clean):
            raise ValueError(f"“{clean}” is the name of a built-in preset; pick another name.")
        mine = self.list(owner)
        if any(u.name.lower() == clean.lower() for u in mine):
            raise ValueError(f"You already have a preset called “{clean}”; delete it first or pick another name.")
        if len(mine) >= MAX_PER_OWNER:
            raise ValueError(f"You can keep at most {MAX_PER_OWNER} presets; delete one first.")
        kept = P.check_settings({s.name: settings[s.name] for s in P.PRESET_SETTINGS if s.name in settings},
                                f"Preset “{clean}”")
        preset_id = uuid.uuid4().hex
        with self._conn() as c:
            c.execute("INSERT INTO user_presets (id, owner, created, name, settings) VALUES (?,?,?,?,?)",
                      (preset_id, owner_key(owner), time.time(), clean, json.dumps(kept)))
        return next(u for u in self.list(owner) if u.id == preset_id)

    def delete(self, owner: Optional[str], name: Any) -> bool:
        """Delete the owner's preset called ``name``; False when the owner has none by that name."""
        if not owner:
            return False
        for u in self.list(owner):
            if u.name.lower() == str(name or "").strip().lower():
                with self._conn() as c:
                    c.execute("DELETE FROM user_presets WHERE owner=? AND id=?", (owner_key(owner), u.id))
                return True
        return False


def with_preset(preset: P.GenerationPreset, values: Mapping[str, Any]) -> dict[str, Any]:
    """API values (widget form, the table's defaults where the caller sent nothing) with ``preset`` applied:
    each of the preset's settings replaces a value left at its default; a value the caller changed wins."""
    out = dict(values)
    for name, widget in preset.widgets().items():
        if out.get(name, table.BY_NAME[name].default) == table.BY_NAME[name].default:
            out[name] = widget
    return out
