"""History and voice store: owner isolation, atomic files, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from webui.jobs import CancelRegistry
from webui.store import Store, owner_key


def _add(store, owner, prompt="hi", n=1):
    return store.add_generation(owner, prompt=prompt, voice="", voice_label="No voice", settings={"text": prompt},
                                seed=7, audios=[np.zeros(2400, np.float32)] * n, sample_rate=24000,
                                timings={"total": 1.0}, warnings=[])


def test_history_is_per_owner_newest_first_and_survives_reopen(tmp_path):
    s = Store(tmp_path)
    a1 = _add(s, "alice-token-xxxxxxxx", "first")
    a2 = _add(s, "alice-token-xxxxxxxx", "second", n=2)
    _add(s, "bob-token-yyyyyyyyyyy", "bob's")
    assert [r.prompt for r in s.list_generations("alice-token-xxxxxxxx")] == ["second", "first"]
    assert [r.prompt for r in s.list_generations("bob-token-yyyyyyyyyyy")] == ["bob's"]
    assert len(a2.takes) == 2 and all(t.wav.is_file() for t in a2.takes)
    assert a2.takes[0].seconds == pytest.approx(0.1)
    # Bob cannot read, star or delete Alice's row even knowing its id.
    assert s.get_generation("bob-token-yyyyyyyyyyy", a1.id) is None
    assert not s.set_star("bob-token-yyyyyyyyyyy", a1.id, True)
    assert not s.delete_generation("bob-token-yyyyyyyyyyy", a1.id)
    assert a1.takes[0].wav.is_file()
    # The token itself is never stored.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("studio.sqlite3*"))
    assert b"alice-token" not in raw and owner_key("alice-token-xxxxxxxx").encode() in raw
    s2 = Store(tmp_path)
    assert [r.prompt for r in s2.list_generations("alice-token-xxxxxxxx")] == ["second", "first"]
    assert s2._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_star_delete_and_leftover_temp_files(tmp_path):
    s = Store(tmp_path)
    r = _add(s, "owner-aaaaaaaaaaaaaaaa")
    assert s.set_star("owner-aaaaaaaaaaaaaaaa", r.id, True)
    assert [x.id for x in s.list_generations("owner-aaaaaaaaaaaaaaaa", starred_only=True)] == [r.id]
    assert s.delete_generation("owner-aaaaaaaaaaaaaaaa", r.id)
    assert not (tmp_path / "audio" / r.id).exists()
    assert s.list_generations("owner-aaaaaaaaaaaaaaaa") == []
    (tmp_path / "audio" / ".half.tmp").mkdir()
    Store(tmp_path)  # a restart sweeps half-written leftovers
    assert not (tmp_path / "audio" / ".half.tmp").exists()


def test_failed_write_leaves_nothing(tmp_path):
    s = Store(tmp_path)

    def boom(voice, path):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        s.add_generation("owner-aaaaaaaaaaaaaaaa", prompt="x", voice="", voice_label="", settings={}, seed=1,
                         audios=[np.zeros(10, np.float32)], sample_rate=24000, timings={}, warnings=[],
                         take_voices=[object()], save_voice_fn=boom)
    assert list((tmp_path / "audio").iterdir()) == []
    assert s.list_generations("owner-aaaaaaaaaaaaaaaa") == []


def test_voices_rename_delete_per_owner(tmp_path):
    from bark_core.types import Voice
    from bark_core.voices import save_voice

    s = Store(tmp_path)
    v = Voice(np.arange(20, dtype=np.int64), np.zeros((2, 30), np.int64), np.zeros((8, 30), np.int64))
    rec = s.add_voice("owner-aaaaaaaaaaaaaaaa", "  My   voice ", v, "upload", save_voice)
    assert rec.name == "My voice" and rec.path.is_file()
    assert s.list_voices("owner-bbbbbbbbbbbbbbbb") == []
    assert not s.rename_voice("owner-bbbbbbbbbbbbbbbb", rec.id, "stolen")
    assert s.rename_voice("owner-aaaaaaaaaaaaaaaa", rec.id, "Narrator")
    assert s.list_voices("owner-aaaaaaaaaaaaaaaa")[0].name == "Narrator"
    with pytest.raises(ValueError):
        s.rename_voice("owner-aaaaaaaaaaaaaaaa", rec.id, "   ")
    assert s.delete_voice("owner-aaaaaaaaaaaaaaaa", rec.id)
    assert not rec.path.exists()


def test_cancel_flags_are_per_session():
    c = CancelRegistry()
    c.arm("a")
    c.arm("b")
    c.stop("a")
    assert c.event("a").is_set() and not c.event("b").is_set()
    c.arm("a")
    assert not c.event("a").is_set()


def test_delete_with_undo_hides_at_once_restores_and_purges_later(tmp_path):
    s = Store(tmp_path)
    alice, bob = "alice-token-xxxxxxxx", "bob-token-yyyyyyyyyyy"
    r = _add(s, alice)
    assert not s.trash_generation(bob, r.id)  # not Bob's
    assert s.trash_generation(alice, r.id)
    assert s.list_generations(alice) == [] and s.get_generation(alice, r.id) is None
    assert not (tmp_path / "audio" / r.id).exists()  # out of the served folder at once
    assert not s.restore_generation(bob, r.id)
    assert s.restore_generation(alice, r.id) and s.get_generation(alice, r.id).takes[0].wav.is_file()
    assert s.trash_generation(alice, r.id)
    assert s.purge_deleted(older_than_s=3600) == []  # still within Undo's time
    Store(tmp_path)  # a restart keeps it restorable
    assert s.purge_deleted(older_than_s=0) == [r.id]
    assert not s.restore_generation(alice, r.id) and not (tmp_path / "trash" / r.id).exists()

    v = s.add_voice(alice, "Mine", object(), "upload", lambda voice, path: path.write_bytes(b"npz"))
    assert s.trash_voice(alice, v.id) and s.list_voices(alice) == [] and s.get_voice(alice, v.id) is None
    assert s.restore_voice(alice, v.id) and s.get_voice(alice, v.id).path.is_file()
    assert s.trash_voice(alice, v.id)
    s.purge_deleted(older_than_s=0)
    assert not s.restore_voice(alice, v.id) and list((tmp_path / "trash").iterdir()) == []


def test_an_older_database_gains_the_deleted_column(tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "studio.sqlite3")
    conn.executescript("""CREATE TABLE generations (id TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL,
        prompt TEXT NOT NULL, voice TEXT NOT NULL, voice_label TEXT NOT NULL, settings TEXT NOT NULL,
        seed INTEGER NOT NULL, takes TEXT NOT NULL, timings TEXT NOT NULL, warnings TEXT NOT NULL,
        starred INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE voices (id TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL, name TEXT NOT NULL,
        source TEXT NOT NULL);""")
    conn.close()
    s = Store(tmp_path)
    r = _add(s, "owner-aaaaaaaaaaaaaaaa")
    assert s.trash_generation("owner-aaaaaaaaaaaaaaaa", r.id)
