"""The engine contract: every engine satisfies EngineProtocol; a generation stream is read one way (contract.follow)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest

from bark_core import Done, EngineProtocol, Failed, GenerationCancelled, Progress, SegmentDone, contract
from bark_core.engine import Engine, EngineSettings
from bark_core.ray_engine import RayEngine
from bark_core.scheduler import BatchingEngine


@pytest.fixture(scope="module")
def tiny(tiny_native):
    return Engine.load(EngineSettings(models=str(tiny_native), offline=True, device="cpu", dtype="float32"))


class _Handle:
    """A deployment handle whose read-only calls answer at once (nothing here needs Ray)."""

    def __init__(self, folder: str):
        self.call = SimpleNamespace(remote=lambda name, *args: SimpleNamespace(
            result=lambda timeout_s: ("ok", {"folder": folder} if name == "info" else None)))


def _parameters(fn) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def test_engine_batching_engine_and_ray_engine_satisfy_the_protocol(tiny, tiny_native):
    ray = RayEngine(_Handle(str(tiny_native)), settings=tiny.settings)
    ray.codec = tiny.codec  # its own codec would be loaded from the weights on this machine
    with BatchingEngine(tiny, max_batch=2) as batching:
        for engine in (tiny, batching, ray):
            assert isinstance(engine, EngineProtocol), type(engine).__name__
            # the same generate() keywords, in the same order, on every engine (isinstance checks names only)
            assert _parameters(type(engine).generate) == _parameters(EngineProtocol.generate), type(engine).__name__
        assert batching.folder == tiny.folder and batching.settings is tiny.settings
    assert not isinstance(object(), EngineProtocol)


def test_bark_core_imports_without_ray():
    import subprocess
    import sys

    code = "import sys, bark_core, bark_core.ray_engine; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _events(*tail):
    return [Progress("semantic", 1, 2), SegmentDone(0, 2, [np.zeros(3, np.float32)]), Progress("decode", 1, 1), *tail]


def test_follow_shows_each_event_and_returns_the_generation():
    gen = object()
    seen = []

    def show(event):
        seen.append(event)
        return {"n": len(seen)} if isinstance(event, SegmentDone) else None

    steps = contract.follow(iter(_events(Done(gen), Progress("fine", 1, 1))), show)
    assert list_and_result(steps) == ([{"n": 2}], gen)  # what show returns is yielded; nothing after Done is read
    assert [type(e) for e in seen] == [Progress, SegmentDone, Progress]
    assert contract.wait(iter(_events(Done(gen)))) is gen


def test_follow_raises_the_jobs_own_error_or_says_there_was_no_result():
    with pytest.raises(GenerationCancelled):
        contract.wait(iter(_events(Failed(GenerationCancelled("stopped")))))
    with pytest.raises(ValueError, match="without a result"):
        contract.wait(iter(_events()))


def list_and_result(steps):
    out = []
    while True:
        try:
            out.append(next(steps))
        except StopIteration as end:
            return out, end.value
