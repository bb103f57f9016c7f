"""The engine contract: a generation stream is read one way (contract.follow)."""

from __future__ import annotations

import numpy as np
import pytest

from bark_core import Done, Failed, GenerationCancelled, Progress, SegmentDone, contract


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
