"""Load: 20 gradio_client clients x 3 requests against a queue of 5 (bench/load_test.py does the work).

Every request completes with its own audio or is refused as queue-full; none hang, none are lost,
none get another client's audio; a completed request's audio is what its own seed produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("gradio_client")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


def test_twenty_clients_against_a_small_queue(launch, tiny_engine, tmp_path):
    from load_test import run_load

    from bark_core.types import GenerationRequest

    r = launch(tiny_engine, tmp_path, queue_size=5, request_defaults={"max_seconds": 0.05})
    res = run_load(r.url, clients=20, requests=3, timeout=60)
    print({k: v for k, v in res.items() if k != "outcomes"})
    assert res["returned"] == res["expected"] == 60 and res["hung_clients"] == 0
    assert res["error"] == 0 and res["timeout"] == 0, [o.detail for o in res["outcomes"] if o.status == "error"]
    assert res["completed"] >= 1 and res["refused"] >= 1  # the queue really was smaller than the load
    for o in res["outcomes"]:
        if o.status == "refused":
            assert "queue is full" in o.detail.lower()
    assert res["problems"] == []
    # Audio is what that client's own seed makes (the engine is deterministic on CPU).
    for o in [o for o in res["outcomes"] if o.status == "completed"][:2]:
        want = tiny_engine.generate(GenerationRequest(text=o.prompt, seed=o.seed, max_seconds=0.05)).takes[0].audio
        np.testing.assert_array_equal(sf.read(o.files[0], dtype="float32")[0], want)
