"""Take check in the studio, through the handlers on a tiny model: "Retake until it passes" and "Best first".

Random weights make noise, so on-script scores are 0: a minimum of 0 passes at once and a minimum of 1
spends the whole budget. Every try is a row in history with its own seed and scores.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webui import tab_generate, take_cards
from webui.engine_holder import EngineHolder
from webui.store import Store
from webui.studio import Studio

OWNER = "retake-owner-" + "r" * 24
FAST = {"max_seconds": 0.3}


@pytest.fixture
def studio(tiny_engine, tmp_path):
    return Studio(EngineHolder(tiny_engine), Store(tmp_path / "data"), request_defaults=FAST)


def run(studio, text="Hi.", **kw):
    values = {n: None for n in tab_generate.UI_SETTINGS}
    values.update(seed=kw.pop("seed", 11), takes=kw.pop("takes", 1))
    steps = list(tab_generate.generate(studio, OWNER, text, "", SimpleNamespace(session_hash="r" * 11),
                                       progress=lambda *a, **k: None, **kw, **values))
    return steps


def test_a_passing_take_needs_no_retake(studio):
    steps = run(studio, min_on_script=0.0, retake_tries=3)
    last = steps[-1]
    assert len(studio.library.history(OWNER)) == 1
    assert "1 take, passed: Take 1" in last["status"]
    assert [r[2] for r in last["results"]["refs"]] == ["Take 1"]
    assert any(s.get("status", "").startswith("estimating") for s in steps)  # the first job on this engine
    again = run(studio, min_on_script=0.0)
    assert any("(measured: " in s.get("status", "") for s in again)  # then its own measured speed


def test_retakes_spend_the_budget_and_every_try_is_kept(studio):
    steps = run(studio, seed=11, min_on_script=1.0, retake_tries=2)
    last = steps[-1]
    rows = studio.library.history(OWNER)
    assert len(rows) == 3  # the take and two retakes
    assert sorted(r.seed for r in rows) == [11, 12, 13]  # retake k: the next seed after the batch
    assert all(r.takes[0].scores and r.takes[0].scores["passed"] is False for r in rows)
    assert "3 tries (1 take + 2 retakes), none passed; the retake budget is spent" in last["status"]
    assert [r[2] for r in last["results"]["refs"]] == ["Take 1", "Retake 1", "Retake 2"]
    assert any("retake 2 of 2" in s.get("status", "") for s in steps)
    assert last["take2_group"]["visible"] and not last["take3_group"]["visible"]


def test_retakes_stop_at_the_first_pass_and_a_time_budget_stops_them(studio):
    steps = run(studio, seed=3, takes=2, min_on_script=1.0, retake_tries=5, retake_seconds=0.001)
    assert len(studio.library.history(OWNER)) == 1  # the time budget was spent before a retake could start
    assert "2 takes, none passed" in steps[-1]["status"]


def test_best_first_orders_results_by_the_check(studio):
    steps = run(studio, min_on_script=1.0, retake_tries=1)
    results = steps[-1]["results"]
    first, retake = (studio.library.generation(OWNER, r[0]) for r in results["refs"])
    # Make the retake the better take: it passes, the first does not.
    studio.library.store._conn().execute("UPDATE generations SET takes=? WHERE id=?", (
        __import__("json").dumps([{"file": "take1", "seconds": retake.takes[0].seconds,
                                   "scores": {**retake.takes[0].scores, "passed": True, "on_script": 1.0,
                                              "issues": []}}]), retake.id))
    studio.library.store._conn().commit()
    best = tab_generate.reorder_results(studio, OWNER, results, True)
    assert [r[2] for r in best["results"]["shown"]] == ["Retake 1", "Take 1"]
    assert take_cards.result_ref(best["results"], 0) == (retake.id, 0)
    plain_order = tab_generate.reorder_results(studio, OWNER, best["results"], False)
    assert [r[2] for r in plain_order["results"]["shown"]] == ["Take 1", "Retake 1"]
    assert "Retake 1" in best["take0_info"] and "seed" in best["take0_info"]


@pytest.mark.parametrize("kw, message", [
    (dict(min_on_script=1.5), "on-script minimum"),
    (dict(min_same_voice=-0.1), "same-speaker minimum"),
    (dict(retake_tries=21), "Retakes"),
    (dict(retake_tries=1.5), "Retakes"),
    (dict(retake_seconds=-1), "time budget"),
])
def test_bad_check_settings_are_a_sentence(studio, kw, message):
    with pytest.raises(ValueError, match=message):
        run(studio, **kw)
    assert studio.library.history(OWNER) == []


LONG = ("The first sentence has quite a few words in it so that the text needs two parts to be spoken well. "
        "The second sentence also has quite a few words in it so that it becomes a segment of its own.")


def test_long_form_retakes_redraw_a_failing_segment_alone_and_score_drift(studio, monkeypatch):
    from webui.tab_generate import n_segments

    assert n_segments(studio, studio.requests.make(LONG, None, {})) == 2
    steps = run(studio, text=LONG, min_on_script=1.0, retake_tries=1)
    rows = studio.library.history(OWNER)
    assert len(rows) == 1  # segments are redrawn inside the take, not as new takes
    segments = rows[0].takes[0].scores["segments"]
    assert [s["tries"] for s in segments] == [2, 2]  # each failing segment drawn once more, then kept
    assert segments[0]["similarity_to_first"] is None  # segment 1 is the reference
    assert all(set(s) >= {"on_script", "similarity_to_first", "passed"} for s in segments)
    assert "segment 1 (2 tries), segment 2 (2 tries)" in steps[-1]["status"]

    # segments that pass (noise always fails "stopped early" here, so the check is replaced) are drawn once
    monkeypatch.setattr(studio.checks, "segment_check", lambda *a, **k: (lambda check: True))
    steps = run(studio, text=LONG, min_on_script=0.0, retake_tries=1)
    assert [s["tries"] for s in studio.library.history(OWNER)[0].takes[0].scores["segments"]] == [1, 1]
    assert "no segment needed a redraw" in steps[-1]["status"] and len(studio.library.history(OWNER)) == 2


def test_generate_gets_its_take_check_as_its_own_inputs_and_arming_carries_nothing(studio, tmp_path):
    """No side channel between Generate's two events: the take check is the generate event's own inputs."""
    import webui

    demo = webui.build_demo(None, data_dir=tmp_path / "page", load_error="no weights")
    (gen_fn,) = [fn for fn in demo.fns.values() if fn.name == "generate"]
    (arm_fn,) = [fn for fn in demo.fns.values() if fn.name == "arm_generate"]
    check = ["best-first", "min-on-script", "min-same-voice", "retake-tries", "retake-seconds"]
    assert gen_fn.inputs[0].elem_id == "prompt"
    assert [c.elem_id for c in gen_fn.inputs][-5:] == check
    assert not set(check) & {c.elem_id for c in arm_fn.inputs}

    request = SimpleNamespace(session_hash="r" * 11)
    with pytest.raises(TypeError):
        tab_generate.arm_generate(studio, request, retake_tries=1)
    tab_generate.arm_generate(studio, request, text="Hi.")
    last = run(studio, best_first=True, min_on_script=1.0, retake_tries=1)[-1]  # the options, as inputs
    assert len(studio.library.history(OWNER)) == 2 and "1 retake" in last["status"]
    run(studio)  # the next job without them: no retakes
    assert len(studio.library.history(OWNER)) == 3
