"""With --max-batch, one job's stop, raising callback or bad voice stays in that job (issue 23).

Jobs of different users share a batch on the tiny models, exact placement (CPU float32), where each
take is computed as if it were alone: the jobs that were not disturbed must end with exactly the
tokens and audio of their solo runs, and no other job's error, audio or progress reaches them.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bark_core import GenerationCancelled, Voice
from bark_core.scheduler import BatchingEngine
from test_scheduler import req, run_threads, tokens


def assert_as_alone(solo, got) -> None:
    assert not isinstance(got, BaseException), got
    assert got.seed == solo.seed and len(got.takes) == len(solo.takes)
    assert all(np.array_equal(x, y) for x, y in zip(tokens(solo), tokens(got)))
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(solo.takes, got.takes))


class Boom(RuntimeError):
    pass


@pytest.fixture(scope="module")
def engine(exact_engine):
    if not hasattr(exact_engine, "generate_batch"):
        pytest.skip("this engine has no generate_batch")
    calls: list[int] = []
    original = exact_engine.generate_batch

    def counting(jobs):
        calls.append(len(jobs))
        return original(jobs)

    exact_engine.generate_batch = counting
    try:
        with BatchingEngine(exact_engine, max_batch=4, max_wait_s=5.0) as batching:
            batching.calls = calls
            yield batching
    finally:
        del exact_engine.generate_batch


def recorder():
    seen: list = []
    return seen, seen.append


def test_stop_raising_progress_and_raising_segment_callback_stay_in_their_jobs(engine, exact_engine):
    requests = [req(0, takes=2), req(1, max_seconds=2.0), req(2)]
    solo = {i: exact_engine.generate(requests[i]) for i in (0,)}
    progress0, on_progress0 = recorder()
    segments0: list = []

    def on_segment0(*args):
        segments0.append(args)
    started = threading.Event()
    def raising_segment(*_):
        raise Boom("job 2's own segment callback")

    before = len(engine.calls)
    out = run_threads(engine, requests, stops={1: started.is_set},
                      progress={0: on_progress0, 1: lambda p: started.set()},
                      more={0: dict(on_segment=on_segment0, owner="ann"), 1: dict(owner="bob"),
                            2: dict(on_segment=raising_segment, owner="cy")})
    assert engine.calls[before:] == [3]  # one batch of 4 rows
    assert isinstance(out[1], GenerationCancelled)
    assert isinstance(out[2], Boom) and "job 2" in str(out[2])
    assert_as_alone(solo[0], out[0])
    assert progress0 and all(type(p).__name__ == "Progress" for p in progress0)
    assert len(segments0) == 1 and len(segments0[0][2]) == 2  # its own two takes, nobody else's audio
    assert all(np.array_equal(a, t.audio) for a, t in zip(segments0[0][2], out[0].takes))


def bad_voices() -> dict[str, Voice]:
    semantic, coarse, fine = np.arange(20), np.zeros((2, 30), np.int64), np.zeros((8, 30), np.int64)
    return {
        "out of range": Voice(np.full(20, 10 ** 7), coarse, fine, name="hostile"),
        "negative": Voice(semantic, np.full((2, 30), -5), fine, name="hostile"),
        "wrong shape": Voice(semantic, np.zeros((3, 7), np.int64), np.zeros((1, 2), np.int64), name="hostile"),
        "NaN": Voice(np.full(20, np.nan), coarse.astype(float), fine, name="hostile"),
    }


@pytest.mark.parametrize("kind", list(bad_voices()))
def test_a_bad_voice_fails_its_own_job_and_a_raising_progress_its_own(engine, exact_engine, kind):
    requests = [req(0), req(1, voice=bad_voices()[kind]), req(2, max_seconds=1.0), req(3, takes=1)]
    solo = {i: exact_engine.generate(requests[i]) for i in (0, 3)}
    seen, on_progress0 = recorder()
    count = {"n": 0}

    def raising_progress(p):
        count["n"] += 1
        if count["n"] >= 3:
            raise Boom("job 2's own progress callback")

    before = len(engine.calls)
    out = run_threads(engine, requests, progress={0: on_progress0, 2: raising_progress},
                      more={i: dict(owner=f"user{i}") for i in range(4)})  # four visitors, one batch
    assert engine.calls[before:] == [4]
    assert isinstance(out[1], ValueError) and "voice" in str(out[1]), out[1]  # a sentence, its own
    assert isinstance(out[2], Boom)
    assert_as_alone(solo[0], out[0])
    assert_as_alone(solo[3], out[3])
    assert seen
