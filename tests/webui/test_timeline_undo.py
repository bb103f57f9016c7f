"""Deleting a history row keeps its imported timelines until Undo's time is over; Undo brings them back."""

from __future__ import annotations

import pytest

from bark_core.types import GenerationRequest
from webui import tab_history, timeline_import
from webui.engine_holder import EngineHolder
from webui.store import Store
from webui.studio import Studio
from webui.tab_timeline import open_generation

OWNER = "undo-owner-" + "u" * 29
# Two sentences of 20 words: two segments.
LONG = ("One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
        "eighteen nineteen twenty. Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
        "november oscar papa quebec romeo sierra tango.")


def _saved_long_form(studio):
    req = GenerationRequest(text=LONG, seed=5, max_seconds=0.2, segment_pause_s=0.1)
    gen = studio.runner.engine().generate(req)
    rec = studio.library.save_generation(OWNER, req, "", gen)
    (tl_id,) = timeline_import.import_long_form(studio, OWNER, rec.id, req, gen, score=False)
    return rec, tl_id


def test_undo_brings_back_the_timeline_and_a_purge_removes_it(handler_studio, tstore):
    studio = handler_studio
    rec, tl_id = _saved_long_form(studio)
    before = tstore.load(OWNER, tl_id)

    tab_history.delete_generation(studio, OWNER, rec.id, False)  # the History tab's Delete
    assert studio.library.generation(OWNER, rec.id) is None and tstore.get(OWNER, tl_id) is not None  # kept for Undo
    tab_history.undo_delete(studio, OWNER, rec.id, False)
    out = open_generation(studio, tstore, OWNER, rec.id, 0)  # opens as before: same timeline, same segments
    assert out["tl_id"] == tl_id and "is open as a timeline of" in out["tl_status"]
    assert [s.take.audio.tobytes() for s in tstore.load(OWNER, tl_id).segments] == \
        [s.take.audio.tobytes() for s in before.segments]

    rec2, tl2 = _saved_long_form(studio)  # never opened
    for r in (rec, rec2):
        tab_history.delete_generation(studio, OWNER, r.id, False)
    studio.library.store.purge_deleted(older_than_s=0)  # Undo's time is over
    studio.library.forget_purged_timelines()
    assert tstore.get(OWNER, tl2) is None and not (tstore.dir / tl2).exists()  # never opened: gone with its row
    assert tstore.get(OWNER, tl_id) is not None and tstore.source_of(OWNER, tl_id) is None  # opened: kept, unlinked
    with pytest.warns(UserWarning, match="Too late to undo"):
        tab_history.undo_delete(studio, OWNER, rec2.id, False)
    assert studio.library.generation(OWNER, rec2.id) is None


def test_rows_purged_while_the_studio_was_closed_lose_their_timelines_on_the_next_start(tiny_engine, tmp_path):
    first = Studio(EngineHolder(tiny_engine, settings=tiny_engine.settings), Store(tmp_path),
                   request_defaults={"max_seconds": 0.2})
    rec, tl_id = _saved_long_form(first)
    first.library.trash_generation(OWNER, rec.id)
    Store(tmp_path).purge_deleted(older_than_s=0)  # the next start purges it
    again = Studio(EngineHolder(tiny_engine, settings=tiny_engine.settings), Store(tmp_path),
                   request_defaults={"max_seconds": 0.2})
    tstore = again.library.timelines
    assert tstore.get(OWNER, tl_id) is None and tstore.source_of(OWNER, tl_id) is None
