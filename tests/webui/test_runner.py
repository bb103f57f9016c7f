"""Streaming long text segment by segment, cancelling, and voice previews, on the tiny engine."""

from __future__ import annotations

import threading

import pytest

from bark_core import Done, Failed, Progress, SegmentDone, contract
from bark_core.types import GenerationCancelled, GenerationRequest
from webui.runner import stream_generation

LONG = " ".join(["This sentence is one of many in a long text that Bark must split into segments."] * 8)


def test_long_text_streams_each_finished_segment(tiny_engine):
    segments, _ = tiny_engine.split_text(LONG)
    assert len(segments) > 1
    req = GenerationRequest(text=LONG, seed=3, max_seconds=0.15, takes=2)
    events = list(stream_generation(tiny_engine, req, lambda: False))
    seg = [e for e in events if isinstance(e, SegmentDone)]
    assert [s.index for s in seg] == list(range(len(segments)))
    assert all(s.segments == len(segments) and len(s.audio) == 2 for s in seg)  # audio so far, per take
    assert len(seg[0].audio[0]) < len(seg[-1].audio[0])
    assert isinstance(events[-1], Done) and len(events[-1].generation.takes) == 2
    assert any(isinstance(e, Progress) for e in events)
    assert contract.wait(iter(events)) is events[-1].generation  # the one reader of a stream


def test_stop_flag_cancels_within_a_second(tiny_engine):
    stop = threading.Event()
    req = GenerationRequest(text="A long one.", seed=1, early_stop=False, max_seconds=14)
    events = []
    for event in stream_generation(tiny_engine, req, stop.is_set):
        events.append(event)
        if isinstance(event, Progress) and not stop.is_set():
            threading.Timer(0.2, stop.set).start()
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, GenerationCancelled)
    with pytest.raises(GenerationCancelled):
        contract.wait(iter(events))


def test_preview_is_generated_once_and_cached(studio):
    st = studio.demo.studio
    path = st.voices.preview("", "preset:v2/de_speaker_1", lambda: False)
    assert path.endswith(".wav") and "previews" in path
    mtime = __import__("os").stat(path).st_mtime_ns
    assert st.voices.preview("", "preset:v2/de_speaker_1", lambda: False) == path
    assert __import__("os").stat(path).st_mtime_ns == mtime
    with pytest.raises(Exception, match="no preview"):
        st.voices.preview("", "", lambda: False)
