"""With --max-batch, one visitor's hostile /generate input is refused before it reaches the batch,
and another visitor's batched job is not held up by it (issue 23)."""

from __future__ import annotations

import threading
import time

import pytest

import rawhttp
from bark_core import SETTINGS
from bark_core.scheduler import BatchingEngine

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402
AppError = gradio_client.exceptions.AppError


class Held:
    """The tiny engine whose batches wait for ``gate`` (the queue fills behind one); records each batch's texts."""

    def __init__(self, engine):
        self._engine = engine
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[list[str]] = []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def generate_batch(self, jobs):
        self.batches.append([j.request.text for j in jobs])
        self.entered.set()
        self.gate.wait(60)
        return self._engine.generate_batch(jobs)


def test_hostile_input_is_refused_before_the_batch_and_does_not_delay_anothers_job(launch, tiny_engine, tmp_path):
    if not hasattr(tiny_engine, "generate_batch"):
        pytest.skip("this engine has no generate_batch")
    held = Held(tiny_engine)
    engine = BatchingEngine(held, max_batch=4, max_wait_s=0.0)
    app = launch(engine, tmp_path / "d", engine_concurrency=8, request_defaults={"max_seconds": 0.1})
    try:
        bob = api_client(app.url, verbose=False)
        job = bob.submit(text="Bob's line.", seed=7, api_name="/generate")
        assert held.entered.wait(60), "bob's job never reached the engine"
        names = ["text", "voice", *(s.name for s in SETTINGS if s.api), "preset"]
        good = ["Hostile.", "", *(1 if s.name == "seed" else s.default for s in SETTINGS if s.api), ""]
        nan_temp = list(good)
        nan_temp[names.index("semantic_temp")] = float("nan")
        overlong = ["x" * 100_000, *good[1:]]
        fn = rawhttp.fn_index(app.demo, "api_generate")
        for data, message in ((nan_temp, "Semantic temperature"), (overlong, "at most 5,000")):
            t0 = time.monotonic()
            reply = rawhttp.queued(app.url, fn, data, session_hash=rawhttp.session())
            assert time.monotonic() - t0 < 10, "the refusal waited for the running batch"
            assert reply.get("success") is False and message in rawhttp.error_text(reply), reply
        assert not job.done(), "bob's job should still be held in its batch"
        held.gate.set()
        files, _ = job.result(timeout=120)
        assert len(files) == 1
        assert held.batches == [["Bob's line."]]  # nothing of the hostile visitor's reached a batch
    finally:
        held.gate.set()
        engine.close()
