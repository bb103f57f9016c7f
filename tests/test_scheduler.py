"""BatchingEngine: requests from many threads gathered into batches; each caller gets its own result."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from bark_core import GenerationCancelled, GenerationRequest
from bark_core.scheduler import BatchingEngine, EngineClosed

SHORT = dict(max_seconds=0.1)


class FakeEngine:
    """Records each batch; answers each job with (its text, its seed); honours a job's should_stop."""

    def __init__(self, delay: float = 0.0, fail: BaseException | None = None):
        self.batches: list[list[str]] = []
        self.delay = delay
        self.fail = fail
        self.lock = threading.Lock()

    def info(self) -> dict:
        return {"device": "fake"}

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate_batch(self, jobs):
        with self.lock:
            self.batches.append([j.request.text for j in jobs])
        if self.fail is not None:
            raise self.fail
        time.sleep(self.delay)
        for j in jobs:
            if j.on_progress:
                j.on_progress(j.request.text)
        out = []
        for j in jobs:
            if j.should_stop and j.should_stop():
                out.append(GenerationCancelled("stopped"))
            else:
                out.append((j.request.text, j.request.seed))
        return out


def run_threads(engine, requests, stops=None, progress=None, more=None):
    """Submit every request from its own thread at once; results (or exceptions) in request order.

    ``stops``/``progress``/``more``: by request index, its should_stop, on_progress, further generate() keywords."""
    results: list = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def one(i):
        barrier.wait()
        try:
            results[i] = engine.generate(requests[i], should_stop=(stops or {}).get(i),
                                         on_progress=(progress or {}).get(i), **(more or {}).get(i, {}))
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a caller hung"
    return results


def req(i: int, **kw) -> GenerationRequest:
    return GenerationRequest(text=f"Line number {i}.", seed=100 + i, **{**SHORT, **kw})


def test_three_callers_share_one_batch_and_get_their_own_results():
    fake = FakeEngine()
    with BatchingEngine(fake, max_batch=3, max_wait_s=5.0) as engine:
        results = run_threads(engine, [req(i) for i in range(3)])
    assert len(fake.batches) == 1 and sorted(fake.batches[0]) == [f"Line number {i}." for i in range(3)]
    assert results == [(f"Line number {i}.", 100 + i) for i in range(3)]


def test_a_full_batch_splits_and_takes_count_as_rows():
    fake = FakeEngine(delay=0.2)
    with BatchingEngine(fake, max_batch=2, max_wait_s=0.5) as engine:
        results = run_threads(engine, [req(0), req(1), req(2), req(3, takes=2), req(4, takes=3)])
    assert results == [(f"Line number {i}.", 100 + i) for i in range(5)]
    assert all(len(b) <= 2 for b in fake.batches)
    sizes = {t: len(b) for b in fake.batches for t in b}
    assert sizes["Line number 3."] == 1 and sizes["Line number 4."] == 1  # 2 takes fill a batch; 3 run alone
    assert sorted(t for b in fake.batches for t in b) == sorted(f"Line number {i}." for i in range(5))
    assert engine.batches_run == len(fake.batches) >= 3


def test_one_stopped_job_cancels_alone():
    fake = FakeEngine()
    seen: list[str] = []
    with BatchingEngine(fake, max_batch=3, max_wait_s=5.0) as engine:
        results = run_threads(engine, [req(i) for i in range(3)], stops={1: lambda: bool(seen)},
                              progress={0: seen.append})
    assert len(fake.batches) == 1
    assert isinstance(results[1], GenerationCancelled)
    assert results[0] == ("Line number 0.", 100) and results[2] == ("Line number 2.", 102)


def test_a_job_stopped_while_waiting_never_enters_the_engine():
    fake = FakeEngine()
    with BatchingEngine(fake, max_batch=4, max_wait_s=0.0) as engine:
        with pytest.raises(GenerationCancelled):
            engine.generate(req(0), should_stop=lambda: True)
    assert fake.batches == []


def test_bad_input_is_refused_in_the_caller_and_batch_failures_reach_every_job():
    fake = FakeEngine(fail=RuntimeError("boom"))
    with BatchingEngine(fake, max_batch=2, max_wait_s=5.0) as engine:
        with pytest.raises(ValueError, match="text"):
            engine.generate(GenerationRequest(text="  "))
        results = run_threads(engine, [req(0), req(1)])
    assert all(isinstance(r, RuntimeError) and str(r) == "boom" for r in results)


def test_read_only_calls_are_the_engines_and_close_is_clean():
    fake = FakeEngine()
    engine = BatchingEngine(fake, max_batch=2)
    assert engine.count_tokens("a b c") == 3
    assert engine.info() == {"device": "fake", "max_batch": 2}
    with pytest.raises(AttributeError):
        engine.no_such_method  # noqa: B018
    thread = engine._worker.thread
    engine.close()
    assert not thread.is_alive()
    with pytest.raises(EngineClosed, match="try again"):
        engine.generate(req(0))


def test_dropping_the_engine_stops_its_worker():
    engine = BatchingEngine(FakeEngine(), max_batch=2)
    thread = engine._worker.thread
    del engine
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="batch size"):
        BatchingEngine(FakeEngine(), max_batch=0)
    with pytest.raises(ValueError, match="wait"):
        BatchingEngine(FakeEngine(), max_wait_s=-1)


# ---------------------------------------------------------------- the real engine (tiny random weights, CPU float32)

@pytest.fixture(scope="module")
def tiny(tiny_native):
    import torch

    from bark_core.engine import Engine, EngineSettings

    assert torch.get_default_dtype() == torch.float32
    return Engine.load(EngineSettings(models=str(tiny_native), offline=True, device="cpu", dtype="float32"))


def tokens(gen) -> list[np.ndarray]:
    return [t.voice.fine for t in gen.takes] + [t.voice.semantic for t in gen.takes]


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_batched_rows_equal_their_solo_runs(tiny):
    """A row's tokens do not depend on which other requests share its batch (CPU float32)."""
    if not hasattr(tiny, "generate_batch"):
        pytest.skip("Engine.generate_batch is not in this checkout yet; the fallback runs jobs one by one")
    calls = []
    original = tiny.generate_batch

    def counting(jobs):
        calls.append(len(jobs))
        return original(jobs)

    requests = [req(0), req(1, semantic_temp=0.9, top_k=50), req(2, takes=2, coarse_temp=0.5)]
    solo = [tiny.generate(r) for r in requests]
    tiny.generate_batch = counting
    try:
        with BatchingEngine(tiny, max_batch=4, max_wait_s=5.0) as engine:
            results = run_threads(engine, requests)
    finally:
        del tiny.generate_batch
    assert calls == [3]
    for r, s, b in zip(requests, solo, results):
        assert not isinstance(b, BaseException), b
        assert b.seed == r.seed and same(tokens(s), tokens(b))
        assert all(np.array_equal(x.audio, y.audio) for x, y in zip(s.takes, b.takes))


def test_a_stopped_row_leaves_the_batch_and_the_others_finish(tiny):
    if not hasattr(tiny, "generate_batch"):
        pytest.skip("Engine.generate_batch is not in this checkout yet")
    requests = [req(0), req(1, max_seconds=2.0), req(2)]
    solo = [tiny.generate(requests[0]), None, tiny.generate(requests[2])]
    started = threading.Event()
    with BatchingEngine(tiny, max_batch=4, max_wait_s=5.0) as engine:
        results = run_threads(engine, requests, stops={1: started.is_set}, progress={1: lambda p: started.set()})
    assert isinstance(results[1], GenerationCancelled)
    for i in (0, 2):
        assert same(tokens(solo[i]), tokens(results[i]))


def test_without_generate_batch_jobs_run_one_by_one_exactly(tiny):
    class Plain:  # the engine's single-job surface only
        def __init__(self, engine):
            self.engine = engine

        def generate(self, *a, **kw):
            return self.engine.generate(*a, **kw)

    requests = [req(0), req(1)]
    with BatchingEngine(Plain(tiny), max_batch=4, max_wait_s=1.0) as engine:
        results = run_threads(engine, requests)
    for r, b in zip(requests, results):
        assert same(tokens(tiny.generate(r)), tokens(b))


def test_generate_batch_and_regenerate_take_go_through_the_queue():
    from types import SimpleNamespace

    from bark_core import BatchJob

    fake = FakeEngine()
    done = []
    with BatchingEngine(fake, max_batch=4, max_wait_s=0.5) as engine:
        with pytest.raises(ValueError, match="text"):
            GenerationRequest(text=" ")  # a bad request cannot be made, so none reaches the queue
        out = engine.generate_batch([BatchJob(req(0), on_done=done.append), BatchJob(req(2))])
        assert out[0] == ("Line number 0.", 100) and out[1] == ("Line number 2.", 102)
        assert done == [out[0]]
        gen = SimpleNamespace(takes=[SimpleNamespace(seed=5), SimpleNamespace(seed=6)])
        assert engine.regenerate_take(req(3, takes=2), gen, 1) == ("Line number 3.", 6)
        with pytest.raises(ValueError, match="no take 2"):
            engine.regenerate_take(req(3), gen, 2)
    assert sorted(len(b) for b in fake.batches) == [1, 2]


def test_stop_of_a_queued_job_answers_at_once_and_it_never_runs():
    fake = FakeEngine(delay=3.0)
    stop = threading.Event()
    with BatchingEngine(fake, max_batch=1, max_wait_s=0.0) as engine:
        first = threading.Thread(target=engine.generate, args=(req(0),))
        first.start()
        while not fake.batches:  # the first job holds the engine
            time.sleep(0.01)
        outcome: dict = {}

        def second():
            try:
                engine.generate(req(1), should_stop=stop.is_set)
            except GenerationCancelled as e:
                outcome["error"] = e
                outcome["running"] = first.is_alive()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.2)
        stop.set()
        waiter.join(10)
        assert isinstance(outcome.get("error"), GenerationCancelled)
        assert outcome["running"], "the stopped job waited for the running batch to end"
        first.join(10)
    assert fake.batches == [["Line number 0."]]


# ---------------------------------------------------------------- fair order between owners (issue 23)

class GatedEngine(FakeEngine):
    """A FakeEngine whose first batch waits for ``gate``: the queue fills behind it."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def generate_batch(self, jobs):
        if not self.batches:
            with self.lock:
                self.batches.append([j.request.text for j in jobs])
            self.gate.wait(30)
            return [(j.request.text, j.request.seed) for j in jobs]
        return super().generate_batch(jobs)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queue_in_order(engine, jobs: list[tuple[str, GenerationRequest]], results: dict) -> list[threading.Thread]:
    """Submit (owner, request) jobs one after another, each queued before the next; results by text."""
    threads = []
    for owner, request in jobs:
        def one(owner=owner, request=request):
            results[request.text] = engine.generate(request, owner=owner)

        def arrived(text=request.text) -> bool:  # waiting in the queue, or taken into a batch
            return (any(j.request.text == text for j in list(engine._worker.pending))
                    or any(text in batch for batch in list(engine.engine.batches)) or text in results)

        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
        wait_for(arrived)
    return threads


@pytest.mark.parametrize("max_batch", [1, 2, 4])
def test_one_owner_with_many_jobs_does_not_starve_another(max_batch):
    fake = GatedEngine()
    results: dict = {}
    a_jobs = [("alice", req(i, takes=min(2, max_batch))) for i in range(6)]
    with BatchingEngine(fake, max_batch=max_batch, max_wait_s=0.0) as engine:
        threads = queue_in_order(engine, a_jobs + [("bob", req(9))], results)
        fake.gate.set()
        for t in threads:
            t.join(30)
    order = [i for i, batch in enumerate(fake.batches) for text in batch if text == "Line number 9."]
    assert order and order[0] <= 1, fake.batches  # bob's one job runs in the first or second batch, not last
    assert len(results) == 7 and results["Line number 9."] == ("Line number 9.", 109)
    alice = [text for batch in fake.batches for text in batch if text != "Line number 9."]
    assert alice == [f"Line number {i}." for i in range(6)]  # an owner's own jobs keep their order


def test_owners_take_turns_and_unowned_jobs_are_one_owner():
    fake = GatedEngine()
    results: dict = {}
    jobs = [("a", req(0)), ("a", req(1)), ("a", req(2)), ("", req(3)), ("", req(4)), ("b", req(5))]
    with BatchingEngine(fake, max_batch=1, max_wait_s=0.0) as engine:
        threads = queue_in_order(engine, jobs, results)
        fake.gate.set()
        for t in threads:
            t.join(30)
    served = [batch[0] for batch in fake.batches]
    # a ran first; then the owners not served yet in arrival order, then turns by what each was served recently
    assert served[:3] == ["Line number 0.", "Line number 3.", "Line number 5."], served
    assert sorted(served) == sorted(f"Line number {i}." for i in range(6))
    assert served.index("Line number 1.") < served.index("Line number 2.")
