"""Tab handlers and the Studio object called directly, without building the Blocks or a server."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from bark_core import Generation, GenerationRequest, Take, Voice
from webui import tab_generate, tab_voices, take_cards, voice_list
from webui.engine_holder import EngineHolder
from webui.formatting import plain
from webui.store import Store
from webui.store import StorageError
from webui.studio import Studio

OWNER = "handler-owner-" + "h" * 24


@pytest.fixture
def studio(tmp_path):
    return Studio(EngineHolder(None, error="no weights"), Store(tmp_path / "data"))


def _generation():
    voice = Voice(semantic=np.arange(40) % 100, coarse=np.zeros((2, 60), np.int64), fine=np.zeros((8, 60), np.int64))
    take = Take(audio=np.zeros(2400, np.float32), voice=voice, seed=5)
    return Generation(takes=[take], seed=5, timings={"total": 1.0})


def test_a_full_disk_at_each_write_is_a_sentence_and_saves_nothing(studio, monkeypatch):
    req = GenerationRequest(text="Disk full.")

    def no_space(*a, **k):
        raise sf.LibsndfileError(0, prefix="System error. ")

    with monkeypatch.context() as m:  # the audio write
        m.setattr("webui.store.sf.write", no_space)
        with pytest.raises(StorageError, match="data folder"):
            studio.library.save_generation(OWNER, req, "", _generation())

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as m:  # the row insert
        m.setattr(Store, "_conn", full)
        with pytest.raises(StorageError, match="disk may be full"):
            studio.library.save_generation(OWNER, req, "", _generation())
    assert studio.library.history(OWNER) == []
    assert [p for p in studio.library.store.audio_dir.iterdir()] == []


def test_voice_filters_list_what_exists_and_say_when_nothing_matches(studio):
    v2 = [v for _, v in studio.voices.choices(OWNER, "All", "Any", "v2", "")]
    assert "preset:announcer" not in v2 and "preset:announcer" in [
        v for _, v in studio.voices.choices(OWNER, "All", "Any", "v1", "")]
    empty = voice_list.voice_list(studio, OWNER, "", "English", "Female", "v1", "")
    assert "No presets match" in empty["voice_note"]
    german = [v for _, v in studio.voices.choices(OWNER, "All", "Any", "v2", "german")][1:]  # after "no voice"
    assert german and all(v.startswith("preset:v2/de_") for v in german)
    assert tab_voices.SEARCH_HINT  # the placeholder's words all find something
    for word in tab_voices.SEARCH_HINT.removeprefix("e.g. ").split(", "):
        version = "v1" if word in ("v1", "announcer") else "v2"
        assert len(studio.voices.choices(OWNER, "All", "Any", version, word)) > 1, word


def test_two_saved_voices_with_one_name_can_be_told_apart(studio):
    voice = _generation().takes[0].voice
    a = studio.voices.add(OWNER, "Take", voice, "upload")
    b = studio.voices.add(OWNER, "Take", voice, "upload")
    assert (a.name, b.name) == ("Take", "Take (2)")


def test_user_text_is_inert_markdown():
    shown = plain("![t](http://127.0.0.1:9/track.png) <img src=x onerror=alert(1)> **bold**")
    assert "![" not in shown and "](" not in shown and "<img" not in shown and "**" not in shown


def test_generate_without_weights_ends_with_a_status_not_a_spinner(studio):
    request = SimpleNamespace(session_hash="s" * 11)
    steps = tab_generate.generate(studio, OWNER, "Hello.", "", request, progress=lambda *a, **k: None,
                                  **{n: None for n in tab_generate.UI_SETTINGS})
    with pytest.raises(ValueError, match="not loaded"):
        for update in steps:
            last = update
    assert last["status"].startswith("✗") and "Generating" not in last["results_title"]


def test_results_star_voice_download_and_history_zip(studio, tmp_path):
    import zipfile

    from webui import tab_history

    rec = studio.library.save_generation(OWNER, GenerationRequest(text="Keep me.", seed=5), "", _generation())
    starred = tab_generate.star_result(studio, OWNER, {"refs": [[rec.id, 0, "Take 1"]], "shown": [[rec.id, 0, "Take 1"]]})
    assert "Starred" in starred["status"] and starred["history_table"][0][0] == "★"
    assert studio.library.generation(OWNER, rec.id).starred
    slots = take_cards.slot_updates("take", studio.library.generation(OWNER, rec.id).takes, 5, None)
    assert slots["take0_voice_download"]["value"].endswith("take1.npz")
    path = tab_history.export_zip(studio, OWNER, rec.id)["export_file"]["value"]
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        settings = __import__("json").loads(z.read("settings.json"))
    assert any(n.endswith(".wav") for n in names) and settings["text"] == "Keep me." and settings["seed"] == 5
    with pytest.raises(ValueError, match="Select a generation"):
        tab_history.export_zip(studio, "someone-else-" + "x" * 24, rec.id)


def test_history_and_voice_deletes_can_be_undone_and_forget_served_copies(tmp_path):
    from webui import tab_history

    forgotten = []
    studio = Studio(EngineHolder(None, error="no weights"), Store(tmp_path / "data"), forget_files=forgotten.extend)
    rec = studio.library.save_generation(OWNER, GenerationRequest(text="Undo me.", seed=5), "", _generation())
    out = tab_history.delete_generation(studio, OWNER, rec.id, False)
    assert out["history_table"] == [] and out["undo_gen"] == rec.id and out["undo_delete_btn"]["visible"]
    assert rec.takes[0].wav in forgotten and not rec.takes[0].wav.exists()  # unserved at once
    back = tab_history.undo_delete(studio, OWNER, rec.id, False)
    assert len(back["history_table"]) == 1 and back["selected_gen"] == rec.id and rec.takes[0].wav.is_file()
    assert not back["undo_delete_btn"]["visible"]
    tab_history.delete_generation(studio, OWNER, rec.id, False)
    studio.library.store.purge_deleted(older_than_s=0)  # Undo's time is over
    assert "undo_delete_btn" in tab_history.undo_delete(studio, OWNER, rec.id, False)
    assert studio.library.generation(OWNER, rec.id) is None

    voice = studio.voices.add(OWNER, "Undo voice", _generation().takes[0].voice, "upload")
    gone = tab_voices.delete_voice(studio, OWNER, f"user:{voice.id}", "All", "Any", "v2", "")
    assert gone["undo_voice"] == voice.id and "Undo voice" in gone["voice_msg"]
    assert studio.library.store.list_voices(OWNER) == []
    back = tab_voices.undo_delete_voice(studio, OWNER, voice.id, "All", "Any", "v2", "")
    assert back["voice"] == f"user:{voice.id}" and [v.id for v in studio.library.store.list_voices(OWNER)] == [voice.id]
