"""Timeline tab: handlers called directly on a tiny model (no browser), the store, and one browser flow."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from bark_core import timeline as T
from webui import tab_timeline as tt
from webui.timeline_store import TimelineStore

OWNER = "timeline-owner-" + "t" * 24
OTHER = "timeline-other-" + "o" * 24
THREE = "The first sentence is here.\nThe second one follows it.\nAnd the third ends it."  # one segment a line
QUIET = lambda *a, **k: None  # noqa: E731  (a gr.Progress stand-in)
SEGMENT_CHECK = tt.SEGMENT_HEADERS.index("Check")


@pytest.fixture
def studio(handler_studio):  # conftest's Studio for direct handler calls (tstore is its TimelineStore), not a server
    return handler_studio


def _request(name: str = "s") -> SimpleNamespace:
    return SimpleNamespace(session_hash=name * 11)


def _create(studio, tstore, text=THREE, owner=OWNER, **kw):
    args = dict(tl_mode="line", tl_max_chars=200, tl_voice="", tl_speakers="", tl_seed="7", tl_pause=100,
                tl_crossfade=0)
    args.update(kw)
    return tt.create_timeline(studio, tstore, owner, text, **args)


def _generate_all(studio, tstore, tl_id, owner=OWNER):
    return list(tt.generate_all(studio, tstore, owner, tl_id, _request(), progress=QUIET))


def _audio(tstore, tl_id, owner=OWNER):
    return [None if s.take is None else s.take.audio.tobytes() for s in tstore.load(owner, tl_id).segments]


def _edits(tl, k, **changes):
    seg = tl.segments[k]
    d = dict(seg_text=seg.text, seg_voice=seg.voice or "", seg_seed="" if seg.seed is None else str(seg.seed), seg_semantic=seg.semantic_temp,
             seg_coarse=seg.coarse_temp, seg_fine=seg.fine_temp)
    d.update(changes)
    return d


@pytest.fixture
def generated(studio, tstore):
    """A 3-segment timeline, every segment generated (each ~0.2 s of tiny-model audio)."""
    out = _create(studio, tstore)
    steps = _generate_all(studio, tstore, out["tl_id"])
    return out["tl_id"], steps


def test_generate_all_shows_each_segment_as_it_finishes(studio, tstore, generated):
    tl_id, steps = generated
    done = [s for s in steps if "seg_audio" in s]
    assert [s["seg_no"] for s in done] == [1, 2, 3]  # each playable as soon as it is made
    assert all(s["seg_audio"][0] == 24_000 and len(s["seg_audio"][1]) > 0 for s in done)
    assert "Generated 3 segment(s)" in steps[-1]["tl_status"]
    tl = tstore.load(OWNER, tl_id)
    assert [T.segment_state(tl, k) for k in range(3)] == ["fresh"] * 3
    assert [row[-1] for row in done[-1]["tl_table"]] == [tt.STATE_LABEL["fresh"]] * 3
    assert [s.take.seed for s in tl.segments] == [7, 8, 9]  # seed + k
    # nothing left to do
    again = _generate_all(studio, tstore, tl_id)
    assert len(again) == 1 and "up to date" in again[0]["tl_status"]


def test_regenerating_one_segment_leaves_the_others_byte_identical_and_marks_its_followers_stale(
        studio, tstore, generated):
    tl_id, _ = generated
    before = _audio(tstore, tl_id)
    tl = tstore.load(OWNER, tl_id)
    out = tt.regenerate(studio, tstore, OWNER, tl_id, 2, request=_request(), progress=QUIET,
                        **_edits(tl, 1, seg_seed="1234", seg_text="A different second sentence."))
    after = _audio(tstore, tl_id)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] != before[1]
    tl = tstore.load(OWNER, tl_id)
    assert tl.segments[1].take.seed == 1234 and tl.segments[1].text == "A different second sentence."
    # segment 3 continues segment 2's voice (no voice of its own), so it is stale now, and the page says so
    assert T.segment_state(tl, 2) == "upstream" and T.segment_state(tl, 0) == "fresh"
    assert "Segment 3 continues its voice" in out["tl_status"] and "stale" in out["tl_status"]
    assert "Segment 3 continues segment 2's voice" in out["tl_stale"]
    assert out["tl_table"][2][-1] == tt.STATE_LABEL["upstream"]
    # Generate missing and stale redoes segment 3 alone; 1 and 2 keep their bytes
    steps = _generate_all(studio, tstore, tl_id)
    assert [s["seg_no"] for s in steps if "seg_no" in s] == [3]
    final = _audio(tstore, tl_id)
    assert final[:2] == after[:2] and final[2] != after[2]


def test_a_segment_with_its_own_voice_makes_no_follower_stale(studio, tstore, generated):
    tl_id, _ = generated
    tl = tstore.load(OWNER, tl_id)
    tt.apply_edit(studio, tstore, OWNER, tl_id, 3, **_edits(tl, 2, seg_voice="preset:v2/en_speaker_6"))
    tl = tstore.load(OWNER, tl_id)
    assert T.segment_state(tl, 2) == "edited"
    tt.regenerate(studio, tstore, OWNER, tl_id, 3, request=_request(), progress=QUIET,
                  **_edits(tl, 2))
    before = _audio(tstore, tl_id)
    out = tt.regenerate(studio, tstore, OWNER, tl_id, 2, request=_request(), progress=QUIET,
                        **_edits(tstore.load(OWNER, tl_id), 1, seg_seed="99"))
    assert "No other segment changed" in out["tl_status"]
    after = _audio(tstore, tl_id)
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    assert "up to date" in out["tl_stale"]


def test_versions_are_new_files_every_time_and_belong_to_their_owner(studio, tstore, generated):
    tl_id, _ = generated
    v1 = tt.render_version(studio, tstore, OWNER, tl_id, 100, 0)
    assert v1["sel_version"] == 1 and "Version v1 saved" in v1["tl_status"]
    sr, joined = v1["tl_joined"]
    assert joined.dtype == np.int16
    tl = tstore.load(OWNER, tl_id)
    assert sr == 24_000 and len(joined) == sum(len(s.take.audio) for s in tl.segments) + 2 * 2400
    folder = tstore.dir / tl_id
    files1 = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "v1").iterdir()}
    assert set(files1) == {"joined.wav", "timeline.npz"}

    v2 = tt.render_version(studio, tstore, OWNER, tl_id, 0, 20)  # other joins: a new version, v1 untouched
    assert v2["sel_version"] == 2 and [r[0] for r in v2["tl_versions"]] == ["v2", "v1"]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "v1").iterdir()} == files1
    assert len(v2["tl_joined"][1]) == sum(len(s.take.audio) for s in tl.segments) - 2 * 480
    assert tstore.version_timeline(OWNER, tl_id, 1).pause_ms == 100.0
    assert tstore.version_timeline(OWNER, tl_id, 2).crossfade_ms == 20.0
    played = tt.select_version(studio, tstore, OWNER, tl_id, [2, 1], SimpleNamespace(index=[1, 0]))
    assert played["sel_version"] == 1 and np.array_equal(played["tl_joined"][1], joined)

    # another owner sees and opens nothing, even knowing the id
    assert tstore.list(OTHER) == [] and tstore.versions(OTHER, tl_id) == []
    assert tt.tab_opened(studio, tstore, OTHER)["timeline_pick"]["choices"] == []
    for call in (lambda: tt.open_timeline(studio, tstore, OTHER, tl_id),
                 lambda: tt.render_version(studio, tstore, OTHER, tl_id, 100, 0),
                 lambda: tt.select_version(studio, tstore, OTHER, tl_id, [1], SimpleNamespace(index=[0, 0])),
                 lambda: tt.export_version(studio, tstore, OTHER, tl_id, 1, "wav", False, None, 0, 0, None),
                 lambda: tt.delete_segment(studio, tstore, OTHER, tl_id, 1)):
        with pytest.raises(ValueError, match="not in your studio|render a version first|Render a version"):
            call()
    assert not tstore.delete(OTHER, tl_id) and len(tstore.versions(OWNER, tl_id)) == 2

    # the owner reopens it where it was left (a fresh store on the same folder: after a restart)
    again = TimelineStore(studio.library.store.root)
    opened = tt.open_timeline(studio, again, OWNER, tl_id)
    assert opened["tl_crossfade"] == 20.0 and len(opened["tl_table"]) == 3
    assert [r[0] for r in tt.versions_view(again, OWNER, tl_id)["tl_versions"]] == ["v2", "v1"]


def test_a_segment_saved_as_a_voice_and_a_deleted_timeline(studio, tstore, generated):
    tl_id, _ = generated
    tl = tstore.load(OWNER, tl_id)
    try:
        out = tt.save_segment_voice(studio, tstore, OWNER, tl_id, 2)
    except ValueError as e:  # a tiny-model take can be too short for Bark's rule: then a sentence says so
        assert str(e).startswith("Could not save segment 2 as a voice:")
    else:
        (mine,) = studio.library.store.list_voices(OWNER)
        assert mine.name == "The second one follows it. (segment 2)" and "saved as the voice" in out["tl_status"]
        assert f"user:{mine.id}" in [v for _, v in out["seg_voice"]["choices"]]
        assert studio.library.store.list_voices(OTHER) == []
    assert tstore.load(OWNER, tl_id).segments[1].take.audio.tobytes() == tl.segments[1].take.audio.tobytes()
    tt.render_version(studio, tstore, OWNER, tl_id, 100, 0)
    with pytest.raises(ValueError, match="not in your studio"):
        tt.delete_timeline(studio, tstore, OTHER, tl_id)
    out = tt.delete_timeline(studio, tstore, OWNER, tl_id)
    assert out["tl_id"] is None and out["timeline_pick"]["choices"] == [] and "deleted" in out["tl_status"]
    assert not (tstore.dir / tl_id).exists() and tstore.versions(OWNER, tl_id) == []
    with pytest.raises(ValueError, match="not in your studio"):
        tt.open_timeline(studio, tstore, OWNER, tl_id)


def test_export_applies_the_audio_tools_in_each_format(studio, tstore, generated):
    tl_id, _ = generated
    tt.render_version(studio, tstore, OWNER, tl_id, 300, 0)
    for fmt in ("wav24", "flac", "mp3"):
        out = tt.export_version(studio, tstore, OWNER, tl_id, None, fmt, True, "-20", 10, 10, "-1")
        path = Path(out["ex_download"]["value"])
        assert path.name.startswith("timeline-v1") and path.is_file()
        audio, sr = sf.read(str(path), dtype="float32")
        assert sr == 24_000 and audio.ndim == 1 and len(audio) > 0
        assert "v1 as" in out["ex_msg"]
    plain = tt.export_version(studio, tstore, OWNER, tl_id, 1, "wav32f", False, "", 0, 0, "")  # every tool off
    audio, _ = sf.read(plain["ex_download"]["value"], dtype="float32")
    stored, _ = sf.read(str(tstore.get_version(OWNER, tl_id, 1).wav), dtype="float32")
    assert np.array_equal(audio, stored)
    with pytest.raises(ValueError, match="LUFS"):
        tt.export_version(studio, tstore, OWNER, tl_id, None, "wav", False, "12", 0, 0, "")
    with pytest.raises(ValueError, match="must be a number"):
        tt.export_version(studio, tstore, OWNER, tl_id, None, "wav", False, "loud", 0, 0, "")
    with pytest.raises(ValueError, match="format"):
        tt.export_version(studio, tstore, OWNER, tl_id, None, "aiff", False, None, 0, 0, None)


def test_editing_deleting_inserting_and_moving_without_the_engine(studio, tstore):
    out = _create(studio, tstore)
    tl_id = out["tl_id"]
    assert len(out["tl_table"]) == 3 and out["seg_no"] == 1 and "3 segment(s)" in out["tl_status"]
    ids = [s.id for s in tstore.load(OWNER, tl_id).segments]
    out = tt.insert_after(studio, tstore, OWNER, tl_id, 1, "An inserted line.")
    tl = tstore.load(OWNER, tl_id)
    assert [s.text for s in tl.segments][1] == "An inserted line." and out["seg_no"] == 2 and out["insert_text"] == ""
    out = tt.move_segment(studio, tstore, OWNER, tl_id, 2, step=1)
    assert [s.text for s in tstore.load(OWNER, tl_id).segments][2] == "An inserted line." and out["seg_no"] == 3
    tt.move_segment(studio, tstore, OWNER, tl_id, 3, step=-1)
    tt.delete_segment(studio, tstore, OWNER, tl_id, 2)
    assert [s.id for s in tstore.load(OWNER, tl_id).segments] == ids
    out = tt.apply_edit(studio, tstore, OWNER, tl_id, 1, **_edits(tstore.load(OWNER, tl_id), 0, seg_text="Changed."))
    assert tstore.load(OWNER, tl_id).segments[0].text == "Changed." and "edited" in out["tl_status"]
    assert tt.apply_edit(studio, tstore, OWNER, tl_id, 1, **_edits(tstore.load(OWNER, tl_id), 0))["tl_status"] \
        == "Segment 1 is unchanged."
    shown = tt.select_segment(studio, tstore, OWNER, tl_id, SimpleNamespace(index=[2, 3]))
    assert shown["seg_no"] == 3 and shown["seg_text"] == "And the third ends it."


def test_dialogue_gives_each_name_its_voice(studio, tstore):
    text = "ALICE: Hello there.\nBOB: Hi Alice.\nALICE: How are you?"
    out = _create(studio, tstore, text, tl_mode="dialogue", tl_speakers="alice = v2/en_speaker_9\nBOB: v2/en_speaker_6")
    tl = tstore.load(OWNER, out["tl_id"])
    assert [(s.speaker, s.voice) for s in tl.segments] == [
        ("ALICE", "preset:v2/en_speaker_9"), ("BOB", "preset:v2/en_speaker_6"), ("ALICE", "preset:v2/en_speaker_9")]
    assert "Speakers: ALICE, BOB" in out["tl_status"]
    assert [r[1] for r in out["tl_table"]] == ["ALICE", "BOB", "ALICE"]


def test_generate_missing_and_stale_fills_the_check_column_of_a_new_dialogue(studio, tstore):
    # issue 22 #4: a fresh 3-line NAME: dialogue, every segment generated, and the Check column was empty
    text = "ALICE: Hello there.\nBOB: Hi Alice.\nALICE: How are you?"
    out = _create(studio, tstore, text, tl_mode="dialogue", tl_speakers="ALICE = v2/en_speaker_9\nBOB = v2/en_speaker_6")
    steps = _generate_all(studio, tstore, out["tl_id"])
    tl = tstore.load(OWNER, out["tl_id"])
    assert [T.segment_state(tl, k) for k in range(3)] == ["fresh"] * 3
    assert all("on_script" in seg.take.scores for seg in tl.segments)  # the aligner ships in its wheel: English is checked
    last_table = [s for s in steps if "tl_table" in s][-1]["tl_table"]
    checks = [row[SEGMENT_CHECK] for row in last_table]
    assert all(c.startswith("script ") for c in checks), checks
    assert "on script" in tt.show_segment(studio, tstore, OWNER, out["tl_id"], 3)["seg_info"]


def test_a_segment_no_check_could_score_says_not_checked():
    take = SimpleNamespace(scores={}, tries=1)
    assert tt.check_text(take) == "not checked"
    assert tt.check_text(None) == ""


def test_bad_input_is_a_sentence(studio, tstore):
    def refused(match, fn, *args, **kw):
        with pytest.raises(ValueError, match=match) as e:
            fn(*args, **kw)
        assert str(e.value)[-1] in ".)" and "Traceback" not in str(e.value)

    refused("paste some text", _create, studio, tstore, "   ")
    refused("not ready", _create, studio, tstore, THREE, owner="")
    refused("at most", _create, studio, tstore, "word " * 2000)
    refused("Unknown split mode", _create, studio, tstore, THREE, tl_mode="paragraph")
    refused("not in the voice list", _create, studio, tstore, THREE, tl_voice="preset:v9/nobody")
    refused("has no '='", _create, studio, tstore, "A: hi.", tl_mode="dialogue", tl_speakers="A v2/en_speaker_1")
    refused("neither a voice preset", _create, studio, tstore, "A: hi.", tl_mode="dialogue", tl_speakers="A = Zed")
    refused("Seed must be|seed must be", _create, studio, tstore, THREE, tl_seed="-1")
    refused("pause", _create, studio, tstore, THREE, tl_pause=-5)
    refused("maximum segment length", _create, studio, tstore, THREE, tl_mode="length", tl_max_chars=5)
    refused("Create a timeline first", tt.render_version, studio, tstore, OWNER, None, 100, 0)
    tl_id = _create(studio, tstore)["tl_id"]
    tl = tstore.load(OWNER, tl_id)
    refused("no audio yet", tt.render_version, studio, tstore, OWNER, tl_id, 100, 0)
    refused("Render a version first", tt.export_version, studio, tstore, OWNER, tl_id, None, "wav", False, None, 0, 0,
            None)
    refused("no segment 9", tt.show_segment, studio, tstore, OWNER, tl_id, 9)
    refused("Pick a segment", tt.apply_edit, studio, tstore, OWNER, tl_id, None, **_edits(tl, 0))
    refused("needs some text", tt.apply_edit, studio, tstore, OWNER, tl_id, 1, **_edits(tl, 0, seg_text=" "))
    refused("temperature", tt.apply_edit, studio, tstore, OWNER, tl_id, 1, **_edits(tl, 0, seg_semantic=9.0))
    # inside the old (0, 5] but outside the settings table's range: refused when the edit is made, not saved
    refused("Segment 1's coarse temperature must be a number in 0.05..1.5", tt.apply_edit, studio, tstore, OWNER,
            tl_id, 1, **_edits(tl, 0, seg_coarse=3.0))
    assert tstore.load(OWNER, tl_id).segments[0].coarse_temp == tl.segments[0].coarse_temp
    refused("whole number", tt.apply_edit, studio, tstore, OWNER, tl_id, 1, **_edits(tl, 0, seg_seed="1.5"))
    refused("already first", tt.move_segment, studio, tstore, OWNER, tl_id, 1, step=-1)
    refused("already last", tt.move_segment, studio, tstore, OWNER, tl_id, 3, step=1)
    refused("new segment's text", tt.insert_after, studio, tstore, OWNER, tl_id, 1, "")
    refused("crossfade", tt.render_version, studio, tstore, OWNER, tl_id, 0, 99_999)
    # segment 2 continues segment 1, which has no audio yet: regenerating 2 alone says what to do first
    refused("generate segment 1 first", tt.regenerate, studio, tstore, OWNER, tl_id, 2, request=_request(),
            progress=QUIET, **_edits(tl, 1))
    one = _create(studio, tstore, "Only one sentence.")["tl_id"]
    refused("only segment", tt.delete_segment, studio, tstore, OWNER, one, 1)
    assert [s.text for s in tstore.load(OWNER, tl_id).segments] == [s.text for s in tl.segments]  # nothing changed


def test_stop_keeps_the_segments_already_finished(studio, tstore):
    tl_id = _create(studio, tstore)["tl_id"]
    steps = tt.generate_all(studio, tstore, OWNER, tl_id, _request("x"), progress=QUIET)
    first = next(steps)
    assert first["seg_no"] == 1
    # while the job runs, hand edits of that timeline wait (they would race its saves), and a second job is refused
    tl = tstore.load(OWNER, tl_id)
    with pytest.raises(ValueError, match="being generated"):
        tt.apply_edit(studio, tstore, OWNER, tl_id, 3, **_edits(tl, 2, seg_text="Too soon."))
    with pytest.raises(ValueError, match="being generated"):
        tt.render_version(studio, tstore, OWNER, tl_id, 100, 0)
    with pytest.raises(ValueError, match="already being generated"):
        _generate_all(studio, tstore, tl_id)
    studio.runner.stop("x" * 11)  # Stop pressed while segment 2 would start
    rest = list(steps)
    assert "Stopped after 1 segment" in rest[-1]["tl_status"]
    tl = tstore.load(OWNER, tl_id)
    assert [T.segment_state(tl, k) for k in range(3)] == ["fresh", "missing", "missing"]
    assert not tstore.is_busy(tl_id)
    tt.apply_edit(studio, tstore, OWNER, tl_id, 3, **_edits(tl, 2, seg_text="Now it is fine."))


def test_the_tab_builds_and_runs_engine_work_in_the_shared_slot(timeline_page):
    demo, _ = timeline_page
    names = {fn.name: fn for fn in demo.fns.values()}
    for engine_fn in ("regenerate", "generate_all"):
        fn = names[engine_fn]
        assert fn.concurrency_id == "engine" and fn.concurrency_limit == 1
        assert fn.api_visibility == "private"
    assert {"create_timeline", "render_version", "export_version", "delete_segment", "insert_after",
            "move_segment", "select_version", "apply_edit"} <= set(names)


# --------------------------------------------------------------------------- browser


def test_browser_edit_one_segment_and_render_a_second_version(browser, launch, tiny_engine, tmp_path):
    app = launch(tiny_engine, tmp_path, request_defaults={"max_seconds": 0.2})
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(60_000)
    try:
        page.goto(app.url)
        page.wait_for_selector("#prompt textarea")
        if page.locator("#tab-timeline").count() == 0 and page.get_by_role("tab", name="Timeline").count() == 0:
            pytest.skip("The Timeline tab is not in the app yet (webui.ui.TABS must list webui/tabs/timeline.py).")

        def status_has(text: str) -> None:
            page.wait_for_function("t => (document.querySelector('#tl-status') || {innerText: ''}).innerText"
                                   ".includes(t)", arg=text)

        page.get_by_role("tab", name="Timeline").click()
        page.locator("#tl-text textarea").fill(THREE)
        page.locator("#tl-mode input").click()
        page.get_by_role("option", name="By line").click()
        page.click("#tl-create")
        status_has("Timeline created: 3 segment(s)")
        page.click("#tl-generate")
        status_has("Generated 3 segment(s)")
        page.click("#tl-render")
        status_has("Version v1 saved")

        page.locator("#tl-segments [role=gridcell]:visible", has_text="The second one follows it").first.click()
        page.wait_for_function("document.querySelector('#tl-seg-info').innerText.includes('Segment 2 of 3')")
        page.locator("#tl-seg-text textarea").fill("A brand new second sentence.")
        page.locator("#tl-seg-seed textarea, #tl-seg-seed input").first.fill("4321")  # a new seed: new tokens even on a tiny random model
        page.click("#tl-regen")
        status_has("Segment 2 regenerated (")
        assert "seed 4321" in page.locator("#tl-status").inner_text()
        page.wait_for_function("document.querySelector('#tl-stale').innerText.includes('Segment 3 continues segment 2')")
        page.click("#tl-render")
        status_has("Version v2 saved")
        page.wait_for_function("document.querySelector('#tl-versions').innerText.includes('v2')")
        versions = page.locator("#tl-versions").inner_text()
        assert "v1" in versions and "v2" in versions
    finally:
        page.close()


# --------------------------------------------------------------------------- issue 22 #5 and #6


def test_open_and_export_with_nothing_say_what_to_do(studio, tstore):
    out = tt.open_timeline(studio, tstore, OWNER, None)
    assert out == {"tl_status": tt.NOTHING_PICKED} and "Pick one of your timelines" in out["tl_status"]
    msg = tt.export_version(studio, tstore, OWNER, None, None, "wav", False, "", 0, 0, "")["ex_msg"]
    assert "Nothing to export yet" in msg and "Render new version" in msg


def test_the_open_timeline_is_remembered_per_owner_and_reopened(studio, tstore):
    assert tt.page_opened(studio, tstore, OWNER) == {}  # nothing was open
    first = _create(studio, tstore)["tl_id"]
    second = _create(studio, tstore, "Only one line here.")["tl_id"]
    reopened = tt.page_opened(studio, tstore, OWNER)
    assert reopened["tl_id"] == second and "Reopened" in reopened["tl_status"]
    tt.open_timeline(studio, tstore, OWNER, first)
    assert tt.page_opened(studio, tstore, OWNER)["tl_id"] == first
    assert len(tt.page_opened(studio, tstore, OWNER)["tl_table"]) == 3
    assert tt.page_opened(studio, tstore, OTHER) == {}  # another owner's page reopens nothing of it
    tt.delete_timeline(studio, tstore, OWNER, first)
    assert tt.page_opened(studio, tstore, OWNER) == {}


def test_the_editor_is_hidden_and_generate_disabled_until_a_timeline_is_open():
    closed = tt.editor_state(None)
    assert closed["tl_editor"]["visible"] is False and closed["tl_none"]["visible"] is True
    assert all(closed[n]["interactive"] is False for n in tt.NEEDS_TIMELINE)
    opened = tt.editor_state("a" * 32)
    assert opened["tl_editor"]["visible"] is True and opened["tl_none"]["visible"] is False
    assert all(opened[n]["interactive"] is True for n in tt.NEEDS_TIMELINE)


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_browser_empty_tab_says_what_to_do_and_a_reload_reopens_the_timeline(browser, launch, tiny_engine, tmp_path,
                                                                              artifacts, width, height):
    app = launch(tiny_engine, tmp_path, request_defaults={"max_seconds": 0.2})
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app.url)
        page.wait_for_selector("#engine-badge .badge")
        page.get_by_role("tab", name="Timeline").click()
        hint = page.locator("#tl-none")
        hint.wait_for(state="visible")
        assert "No timeline is open" in hint.inner_text()
        assert page.locator("#tl-editor").count() == 0 or not page.locator("#tl-editor").is_visible()
        assert page.locator("#tl-regen").count() == 0 or not page.locator("#tl-regen").is_visible()
        assert page.locator("#tl-generate").is_disabled() and page.locator("#tl-render").is_disabled()

        page.click("#tl-open")  # nothing picked
        page.wait_for_function("document.querySelector('#tl-status').innerText.includes('Pick one of your timelines')")
        page.locator("#tl-export").get_by_text("Export: trim, loudness, fades, format").click()
        page.click("#tl-ex-prepare")
        page.wait_for_function("document.querySelector('#tl-ex-msg').innerText.includes('Nothing to export yet')")
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / f"timeline-empty-{width}x{height}.png"), full_page=True)

        page.locator("#tl-text textarea").fill(THREE)
        page.locator("#tl-mode input").click()
        page.get_by_role("option", name="By line").click()
        page.click("#tl-create")
        page.wait_for_function("document.querySelector('#tl-status').innerText.includes('Timeline created')")
        page.locator("#tl-editor").wait_for(state="visible")
        assert not page.locator("#tl-none").is_visible()
        page.wait_for_function("!document.querySelector('#tl-generate').disabled")

        page.reload()
        page.wait_for_selector("#engine-badge .badge")
        page.get_by_role("tab", name="Timeline").click()
        page.wait_for_function("document.querySelector('#tl-status').innerText.includes('Reopened the timeline')")
        page.wait_for_function("document.querySelector('#tl-segments').innerText.includes('The second one follows it')")
        page.locator("#tl-editor").wait_for(state="visible")
        assert "Segment 1 of 3" in page.locator("#tl-seg-info").inner_text()
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / f"timeline-reopened-{width}x{height}.png"), full_page=True)
    finally:
        ctx.close()
