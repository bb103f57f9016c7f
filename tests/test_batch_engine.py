"""Cross-request batching: Engine.generate_batch runs several requests as one batch.

On the exact placement (CPU float32) every job's tokens equal its solo generate(), whatever
shares its batch; a stopped or refused job leaves the others untouched.
"""

from __future__ import annotations

import numpy as np
import pytest

from bark_core import BatchJob, EngineBusy, GenerationCancelled
from bark_core.engine import Engine
from bark_core.types import Generation, GenerationRequest

LONG_TEXT = ("This first sentence is long enough to need company, told slowly and with care. The second sentence "
             "follows it with more words and a pause. Then a third one ends the quiet story with a happy ending.")


@pytest.fixture(scope="module")
def engine(exact_engine) -> Engine:
    return exact_engine


@pytest.fixture(scope="module")
def requests_(engine) -> list[GenerationRequest]:
    preset = engine.load_voice("v2/en_speaker_6")
    made = engine.generate(GenerationRequest(text="A short voice of my own.", seed=99, max_seconds=0.2)).takes[0].voice
    return [
        GenerationRequest(text="Hello [laughs] there.", seed=1, takes=2, max_seconds=0.3),
        GenerationRequest(text="A preset speaks now.", voice=preset, seed=2, semantic_temp=0.9, coarse_temp=0.5,
                          fine_temp=0.4, top_k=30, top_p=0.9, max_seconds=0.3),
        GenerationRequest(text=LONG_TEXT, voice=made, seed=3, semantic_temp=0.6, min_eos_p=0.05, max_seconds=0.3,
                          segment_pause_s=0.1),  # two segments, a short voice: other shapes than the preset's
    ]


@pytest.fixture(scope="module")
def solos(engine, requests_) -> list[Generation]:
    return [engine.generate(r) for r in requests_]


def assert_same(a: Generation, b: Generation) -> None:
    assert a.seed == b.seed and len(a.takes) == len(b.takes)
    for x, y in zip(a.takes, b.takes):
        assert x.seed == y.seed and len(x.segments) == len(y.segments)
        for key in ("semantic", "coarse", "fine"):
            np.testing.assert_array_equal(getattr(x.voice, key), getattr(y.voice, key), err_msg=key)
        np.testing.assert_array_equal(x.audio, y.audio)


def test_each_job_in_a_batch_equals_its_solo_run(engine, requests_, solos):
    assert len(engine.plan_segments(requests_[2].text)[0]) == 2
    progress = {i: [] for i in range(3)}
    segments = {i: [] for i in range(3)}
    done = []
    jobs = [BatchJob(r, on_progress=lambda p, i=i: progress[i].append(p),
                     on_segment=lambda k, n, audio, i=i: segments[i].append((k, n, len(audio))),
                     on_done=lambda outcome, i=i: done.append(i))
            for i, r in enumerate(requests_)]
    results = engine.generate_batch(jobs)
    for got, solo in zip(results, solos):
        assert isinstance(got, Generation)
        assert_same(got, solo)
    assert segments == {0: [(0, 1, 2)], 1: [(0, 1, 1)], 2: [(0, 2, 1), (1, 2, 1)]}
    assert {p.segments for p in progress[2]} == {2} and {p.segments for p in progress[0]} == {1}
    for i in range(3):
        stages = [p.stage for p in progress[i]]
        assert stages[0] == "semantic" and stages[-1] == "decode"
    assert sorted(done) == [0, 1, 2] and done[-1] == 2  # the one-segment jobs are done before the long one


def test_stopped_and_refused_jobs_leave_the_others_identical(engine, requests_, solos):
    calls = {"coarse": 0}

    def stop_in_coarse(p):
        if p.stage == "coarse":
            calls["coarse"] += 1

    for bad in (dict(text="   "), dict(text="Too hot.", semantic_temp=-1.0)):  # a bad request cannot even be made
        with pytest.raises(ValueError):
            GenerationRequest(**bad)
    jobs = [
        BatchJob(requests_[0]),
        BatchJob(requests_[0], segment_retakes=-1),  # refused: no such number of retakes
        BatchJob(requests_[1], on_progress=stop_in_coarse, should_stop=lambda: calls["coarse"] >= 3),
        BatchJob(requests_[2]),
        requests_[2],  # refused: not a job
    ]
    results = engine.generate_batch(jobs)
    assert isinstance(results[1], ValueError) and "Segment retakes" in str(results[1])
    assert isinstance(results[4], ValueError) and "BatchJob" in str(results[4])
    assert isinstance(results[2], GenerationCancelled) and calls["coarse"] == 3
    assert_same(results[0], solos[0])
    assert_same(results[3], solos[2])


def test_a_failing_callback_fails_its_job_only(engine, requests_, solos):
    def boom(k, n, audio):
        raise RuntimeError("the caller broke")

    results = engine.generate_batch([BatchJob(requests_[0], on_segment=boom), BatchJob(requests_[1])])
    assert isinstance(results[0], RuntimeError)
    assert_same(results[1], solos[1])


def test_fused_batch_groups_rows_by_shape(engine, requests_, monkeypatch):
    """row_exact off (a GPU's path): the jobs' rows run in groups of equal shape, one decoder slot per group;
    the fixed-shape decoders that CUDA graphs capture give the eager decoders' tokens."""
    from bark_core.decoding import GraphDecoders, StaticDecoder

    monkeypatch.setattr(engine, "row_exact", False)
    eager = engine.generate_batch([BatchJob(r) for r in requests_])
    monkeypatch.setattr(engine, "decoders", GraphDecoders(StaticDecoder))
    static = engine.generate_batch([BatchJob(r) for r in requests_])
    assert len(engine.decoders._decoders) >= 3  # the coarse stage's groups: no voice, the preset, the short voice
    for x, y, r in zip(eager, static, requests_):
        assert isinstance(x, Generation) and len(x.takes) == r.takes
        assert_same(x, y)


def test_batch_is_refused_while_the_engine_is_busy(engine, requests_):
    assert engine._busy.acquire(blocking=False)
    try:
        with pytest.raises(EngineBusy):
            engine.generate_batch([BatchJob(requests_[0])])
    finally:
        engine._busy.release()
    assert engine.generate_batch([]) == []
