"""The engine as Ray Serve replicas: a local Ray, 2 CPU replicas on tiny weights, the front end's proxy.

20 jobs from 5 client threads: none lost, hung or crossed, both replicas used; Stop through Ray;
a replica killed mid-job fails that job with one sentence and the next job runs.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason='Ray Serve is not installed (pip install "ray[serve]==2.60.0")')

from bark_core import GenerationCancelled, GenerationRequest  # noqa: E402
from bark_core.ray_engine import REPLICA_LOST, RayOptions, ReplicaLost, deploy  # noqa: E402
from conftest import api_client

pytestmark = pytest.mark.timeout(300)
QUICK = dict(max_seconds=0.1, decode=False)  # a few tokens per stage: the routing is under test, not Bark
LONG = dict(max_seconds=5.0, early_stop=False, decode=False)  # long enough to be stopped or killed mid-job


@pytest.fixture(scope="module")
def served(tiny_native):
    import ray
    from ray import serve

    from bark_core.engine import EngineSettings

    settings = EngineSettings(models=str(tiny_native), offline=True, device="cpu", dtype="float32")
    proxy = deploy(settings, RayOptions(replicas=2, cpus_per_replica=0, threads=1, max_batch=4, max_wait_s=0.05))
    yield proxy
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def local(tiny_native):
    from bark_core.engine import Engine, EngineSettings

    return Engine.load(EngineSettings(models=str(tiny_native), offline=True, device="cpu", dtype="float32"))


def local_results(engine, requests):
    """What each request must give, computed here (one batch when the engine batches; rows are exact)."""
    if hasattr(engine, "generate_batch"):
        from bark_core.types import BatchJob

        return engine.generate_batch([BatchJob(r) for r in requests])
    return [engine.generate(r) for r in requests]


def wait_idle(proxy, timeout=60.0):
    """Until every replica seen reports no job on its engine (the Stop reached the engine)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        info = proxy.info()
        seen[info["replica"]] = info["running"]
        if len(seen) >= 2 and not any(seen.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"replicas still busy: {seen}")


def test_twenty_jobs_from_five_clients_none_lost_hung_or_crossed(served, local):
    requests = [GenerationRequest(text=f"Client {c} line {r}.", seed=1000 * c + r, **QUICK)
                for c in range(5) for r in range(4)]
    results: dict[int, object] = {}
    lock = threading.Lock()

    def client(c: int) -> None:
        for r in range(4):
            i = 4 * c + r
            try:
                out = served.generate(requests[i], on_progress=lambda p: None)
            except BaseException as e:  # noqa: BLE001 - inspected below
                out = e
            with lock:
                results[i] = out

    threads = [threading.Thread(target=client, args=(c,)) for c in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert sorted(results) == list(range(20)), "a job was lost"
    expected = local_results(local, requests)
    for i, (req, got, want) in enumerate(zip(requests, [results[i] for i in range(20)], expected)):
        assert not isinstance(got, BaseException), f"job {i}: {got!r}"
        assert got.seed == req.seed
        for a, b in zip(got.takes, want.takes):
            assert np.array_equal(a.voice.semantic, b.voice.semantic) and np.array_equal(a.voice.fine, b.voice.fine)
    assert len(served.replica_counts) == 2, f"jobs per replica: {dict(served.replica_counts)}"
    assert sum(served.replica_counts.values()) == 20


def test_read_only_calls_go_through_the_deployment(served, local):
    assert served.count_tokens("Hello there.") == local.count_tokens("Hello there.")
    assert served.split_text("One. Two.") == local.split_text("One. Two.")
    assert [p.name for p in served.presets()] == [p.name for p in local.presets()]
    info = served.info()
    assert info["serving"] == "ray" and info["replicas"] == 2 and info["size"] == "tiny"
    with pytest.raises(ValueError, match="nothing the tokenizer"):
        served.plan_segments("   ")


def test_calls_work_from_inside_a_running_event_loop(served, local):
    """An async caller (or Playwright's sync API, which leaves a loop marked running) still gets answers."""
    import asyncio

    async def inside() -> tuple:
        gen = served.generate(GenerationRequest(text="From a loop.", seed=4, **QUICK))
        return served.count_tokens("Hello there."), gen

    box: dict = {}
    caller = threading.Thread(target=lambda: box.update(result=asyncio.run(inside())))  # its own running loop
    caller.start()
    caller.join(timeout=120)
    count, gen = box["result"]
    assert count == local.count_tokens("Hello there.") and len(gen.takes) == 1


def test_stop_reaches_the_replica_and_cancels_only_that_job(served):
    progressed = threading.Event()
    other: dict = {}
    neighbour = threading.Thread(target=lambda: other.update(
        gen=served.generate(GenerationRequest(text="Not stopped.", seed=6, **QUICK))))
    neighbour.start()
    t0 = time.monotonic()
    with pytest.raises(GenerationCancelled):
        served.generate(GenerationRequest(text="A long one.", seed=7, **LONG),
                        on_progress=lambda p: progressed.set(), should_stop=progressed.is_set)
    assert time.monotonic() - t0 < 120
    neighbour.join(120)
    assert other["gen"].seed == 6  # the job running beside it finished
    wait_idle(served)  # the engine itself stopped, on whichever replica ran it
    gen = served.generate(GenerationRequest(text="The next one.", seed=8, **QUICK))
    assert gen.seed == 8


def test_a_killed_replica_fails_its_job_with_a_sentence_and_the_next_job_runs(served):
    import ray

    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = served.generate(GenerationRequest(text="Doomed.", seed=9, **LONG),
                                                on_progress=lambda p: None)
        except BaseException as e:  # noqa: BLE001
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while not served.active_jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    active = list(served.active_jobs().values())
    assert len(active) == 1, f"the job never reached a replica: {active}"
    replica = active[0]
    ray.kill(ray.get_actor(replica, namespace="serve"), no_restart=True)
    worker.join(120)
    assert not worker.is_alive(), "the job on the killed replica hung"
    err = outcome.get("error")
    assert isinstance(err, ReplicaLost) and str(err) == REPLICA_LOST, outcome
    gen = served.generate(GenerationRequest(text="After the crash.", seed=10, **QUICK))
    assert gen.seed == 10


def test_the_studio_runs_on_the_proxy_and_app_wires_ray(served, tmp_path, monkeypatch, launch):
    """The Gradio front end around the proxy: a generation is saved in its owner's history; app.py --ray wiring."""

    import app

    r = launch(served, tmp_path / "studio", allow_model_changes=False, engine_concurrency=2)
    client = api_client(r.url)
    files = client.predict(text="Through Ray.", seed=11, max_seconds=0.1, api_name="/generate")[0]
    assert len(files) == 1
    rows, _ = client.predict(api_name="/history")
    assert [(row["prompt"], row["seed"]) for row in rows] == [("Through Ray.", 11)]

    monkeypatch.setattr(app, "ray_engine", lambda settings, args: served)
    args = app.parse_args(["--ray", "--replicas", "2", "--max-batch", "3", "--data-dir", str(tmp_path / "d"),
                           "--offline"])
    demo, _ = app.build(args, environ={})
    assert demo.studio.holder.engine is served and not demo.studio.allow_model_changes
    assert {fn.concurrency_limit for fn in demo.fns.values() if fn.concurrency_id == "engine"} == {6}


def test_previews_travel_from_the_replica_and_change_nothing(served, local, tmp_path, launch):
    """on_preview hears the replica's previews (sent as tails, joined by the proxy), the same a local engine
    makes; the final take is the same with them; /generate streams them through a studio on Ray."""
    request = GenerationRequest(text="Preview me through Ray.", seed=12, max_seconds=3.0, early_stop=False)
    got, want = [], []
    gen = served.generate(request, on_preview=lambda k, n, audio: got.append((k, n, [a.copy() for a in audio])))
    expected = local.generate(request, on_preview=lambda k, n, audio: want.append((k, n, [a.copy() for a in audio])))
    assert len(got) >= 2 and [(k, n) for k, n, _ in got] == [(k, n) for k, n, _ in want]
    for (_, _, a), (_, _, b) in zip(got, want):
        assert [len(x) for x in a] == [len(x) for x in b]
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=1e-5)
    plain = served.generate(request)  # no on_preview: the replica makes none
    assert np.array_equal(gen.takes[0].audio, plain.takes[0].audio)
    np.testing.assert_allclose(gen.takes[0].audio, expected.takes[0].audio, atol=1e-5)

    r = launch(served, tmp_path / "studio", allow_model_changes=False, engine_concurrency=2)
    job = api_client(r.url).submit(text="Streamed through Ray.", seed=13, max_seconds=3.0, early_stop=False,
                                   api_name="/generate")
    files, scores = job.result()
    previews = [o for o in job.outputs()[:-1] if isinstance(o[1], dict) and "preview" in o[1]]
    assert previews and isinstance(scores, list) and len(files) == 1
