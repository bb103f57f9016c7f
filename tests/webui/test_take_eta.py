"""The queue message: time left from this engine's own measured speed (not Gradio's generic estimate)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webui import tab_generate
from webui.engine_holder import EngineHolder
from webui.store import Store
from webui.job_runner import eta_text, measured_rate, remaining_seconds
from webui.studio import Studio


def test_measured_rate_is_the_median_and_prefers_the_same_number_of_takes():
    assert measured_rate([]) is None
    assert measured_rate([(10.0, 5.0, 1), (40.0, 10.0, 1), (3.0, 1.0, 1)]) == 3.0  # 2, 4, 3 s per second
    assert measured_rate([(10.0, 5.0, 1), (30.0, 10.0, 1)]) == 2.5
    samples = [(10.0, 5.0, 1), (12.0, 4.0, 2)]
    assert measured_rate(samples, takes=2) == 3.0  # the batch of two
    assert measured_rate([(10.0, 5.0, 1)], takes=3) == 6.0  # scaled when no batch of three was measured
    assert measured_rate([(1.0, 0.0, 1)]) is None  # no audio: nothing learned


def test_remaining_time_from_the_rate_then_from_the_jobs_own_pace():
    assert remaining_seconds(None, 10.0) is None
    assert remaining_seconds(3.0, 10.0) == 30.0
    assert remaining_seconds(3.0, 10.0, elapsed=12.0, fraction=0.05) == 18.0  # too early for its own pace
    assert remaining_seconds(3.0, 10.0, elapsed=10.0, fraction=0.25) == 30.0  # 10 s for a quarter
    assert remaining_seconds(3.0, 10.0, elapsed=50.0) == 0.0


def test_the_line_says_what_it_measured_or_that_it_is_estimating():
    assert eta_text(None, None).startswith("estimating…")
    assert eta_text(3.14, 40.2) == "~40 s left (measured: 3.1 s per second of audio on this engine)"
    assert eta_text(3.0, 600.0).startswith("~10 min left")
    assert eta_text(3.0, 30.0, ahead=20.0, waiting=2).startswith("Waiting: ~20 s for the 2 jobs ahead, then ~30 s")


def _gen(total, seconds):
    return SimpleNamespace(takes=[SimpleNamespace(seconds=seconds)], timings={"total": total})


def test_the_studio_learns_per_engine_and_counts_the_jobs_ahead(tmp_path):
    holder = EngineHolder(None, error="no weights")
    studio = Studio(holder, Store(tmp_path / "data"))
    assert "estimating" in studio.runner.queued_line("a", 10.0)
    studio.runner.job("a").close()
    studio.runner.record_speed(_gen(20.0, 10.0), 1)  # 2 s per second of audio
    assert studio.runner.rate() == 2.0
    assert studio.runner.queued_line("a", 10.0) == "~20 s left (measured: 2.0 s per second of audio on this engine)"
    line = studio.runner.queued_line("b", 5.0)
    assert line.startswith("Waiting: ~20 s for the 1 job ahead, then ~10 s left")
    assert "left" in studio.runner.progress_line("a", 0.5)
    studio.runner.job("a").close()
    studio.runner.job("b").close()
    holder.engine = object()  # a reload: a new engine is measured anew
    assert studio.runner.rate() is None


def test_arm_generate_puts_the_line_in_the_status(tmp_path):
    studio = Studio(EngineHolder(None, error="no weights"), Store(tmp_path / "data"))
    request = SimpleNamespace(session_hash="eta" * 4)
    assert tab_generate.arm_generate(studio, request, text="") == {}
    first = tab_generate.arm_generate(studio, request, text="Hello there, this is a test.", takes=1)
    assert first["status"].startswith("⏳ estimating")
    studio.runner.record_speed(_gen(6.0, 2.0), 1)
    assert "measured: 3.0 s per second" in tab_generate.arm_generate(studio, request, text="Hello.")["status"]


def test_a_refused_job_no_longer_counts_as_waiting(tmp_path):
    studio = Studio(EngineHolder(None, error="no weights"), Store(tmp_path / "data"))
    request = SimpleNamespace(session_hash="eta" * 4)
    tab_generate.arm_generate(studio, request, text="Hello there.")
    assert studio.runner._ahead()[1] == 1
    with pytest.raises(ValueError):
        list(tab_generate.generate(studio, "eta-owner-" + "e" * 24, "", "", request, progress=lambda *a, **k: None,
                                   **{n: None for n in tab_generate.UI_SETTINGS}))
    assert studio.runner._ahead()[1] == 0
