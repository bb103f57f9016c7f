"""Previews while the coarse stage runs (``on_preview``): they change no token or sample, arrive
before the fine stage, grow, carry the finished segments first, fail and cancel like the other callbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bark_core import settings as table
from bark_core.engine import HOP
from bark_core.presets import PRESET_SETTINGS
from bark_core.scheduler import BatchingEngine
from bark_core.types import BatchJob, GenerationCancelled, GenerationRequest

# ~80 semantic tokens -> 120 coarse frames (1.6 s) in 4 windows of 60 steps (30 frames each)
REQUEST = GenerationRequest(text="Preview me while you make me.", seed=7, takes=2, early_stop=False, max_seconds=1.6)


@pytest.fixture
def engine(exact_engine, monkeypatch):
    monkeypatch.setattr(exact_engine, "preview_first_s", 0.4)  # a preview at each window's end (0.4 s of audio)
    monkeypatch.setattr(exact_engine, "preview_every_s", 0.4)
    return exact_engine


class Recorder:
    """Every event in order: ("progress", stage) when the stage changes, ("preview"/"segment", k, n, lengths)."""

    def __init__(self):
        self.events, self.previews, self.segments, self.stage = [], [], [], None

    def progress(self, p):
        if p.stage != self.stage:
            self.stage = p.stage
            self.events.append(("progress", p.stage, p.segment))

    def preview(self, k, n, audios):
        self.previews.append((k, n, [a.copy() for a in audios]))
        self.events.append(("preview", k, self.stage))

    def segment(self, k, n, audios):
        self.segments.append((k, n, [a.copy() for a in audios]))
        self.events.append(("segment", k, self.stage))

    def callbacks(self):
        return dict(on_progress=self.progress, on_segment=self.segment, on_preview=self.preview)


def assert_same_generation(a, b):
    assert len(a.takes) == len(b.takes)
    for ta, tb in zip(a.takes, b.takes):
        assert np.array_equal(ta.audio, tb.audio)
        for field in ("semantic", "coarse", "fine"):
            assert np.array_equal(getattr(ta.voice, field), getattr(tb.voice, field))
        for sa, sb in zip(ta.segments, tb.segments):
            assert np.array_equal(sa.tokens.fine, sb.tokens.fine) and (sa.start, sa.end) == (sb.start, sb.end)


def test_final_take_is_byte_identical_with_previews_on_and_off(engine):
    rec = Recorder()
    on = engine.generate(REQUEST, **rec.callbacks())
    off = engine.generate(REQUEST)
    quiet = Recorder()
    switched_off = engine.generate(GenerationRequest(**{**REQUEST.__dict__, "live_preview": False}), **quiet.callbacks())
    assert rec.previews and not quiet.previews  # the request's switch wins over a given callback
    assert_same_generation(on, off)
    assert_same_generation(on, switched_off)

    # the previews arrive during the coarse stage, grow window by window, and end at the take's length
    stages = [e[2] for e in rec.events if e[0] == "preview"]
    assert len(stages) >= 3 and set(stages) == {"coarse"}  # all before the fine stage starts
    for take in range(REQUEST.takes):
        lengths = [p[2][take].size for p in rec.previews]
        assert all(x < y for x, y in zip(lengths, lengths[1:])), lengths
        assert lengths[0] == 30 * HOP and all(n % HOP == 0 for n in lengths)  # the first window's 30 frames
        assert lengths[-1] == on.takes[take].audio.size  # the last preview covers the whole take
        assert np.isfinite(rec.previews[-1][2][take]).all()
    assert all(p[:2] == (0, 1) for p in rec.previews)
    assert on.timings["preview"] > 0 and "preview" not in off.timings


def test_preview_decodes_the_coarse_codebooks_alone(engine, monkeypatch):
    monkeypatch.setattr(engine, "preview_context_s", 0.2)  # a later preview re-reads 15 frames before its new ones
    rec = Recorder()
    gen = engine.generate(GenerationRequest(text="Rough first.", seed=4, early_stop=False, max_seconds=0.8), **rec.callbacks())
    coarse = gen.takes[0].voice.coarse
    first, last = rec.previews[0][2][0], rec.previews[-1][2][0]
    assert np.array_equal(first, engine.decode_preview(coarse[:, : first.size // HOP]))  # decoded from the start
    assert np.array_equal(last[: first.size], first)  # later previews decode only their new frames
    whole = engine.decode_preview(coarse)
    assert last.size == whole.size == gen.takes[0].audio.size
    assert np.allclose(last, whole, atol=0.1 * np.abs(whole).max())  # after a run-in: close to one decode
    assert not np.array_equal(last, gen.takes[0].audio)  # 2 codebooks of 8: a rougher sound, same length
    with pytest.raises(ValueError):
        engine.codec.decode(torch.zeros(1, 2, 3, dtype=torch.long))  # the final decode still wants all 8


def test_long_text_previews_a_segment_after_the_finished_ones(engine):
    text = " ".join(f"This is sentence number {i} of a long story, told slowly and with care." for i in range(3))
    req = GenerationRequest(text=text, seed=2, early_stop=False, max_seconds=0.9, segment_pause_s=0.5, takes=2)
    rec = Recorder()
    gen = engine.generate(req, **rec.callbacks())
    assert_same_generation(gen, engine.generate(req))
    n = len(gen.takes[0].segments)
    assert n >= 2 and {p[0] for p in rec.previews} == set(range(n))
    order = [(e[0], e[1]) for e in rec.events if e[0] in ("preview", "segment")]
    assert order.index(("segment", 0)) < order.index(("preview", 1))  # segment 1's previews follow segment 0's take
    pause = int(0.5 * 24000)
    for take in range(req.takes):
        first = rec.segments[0][2][take]  # segment 0, final
        seconds = [p[2][take] for p in rec.previews if p[0] == 1]
        for audio in seconds:
            assert np.array_equal(audio[: first.size], first)  # the take from its start
            assert not audio[first.size : first.size + pause].any()  # then the pause
            assert audio.size > first.size + pause
        assert seconds[-1].size == gen.takes[take].segments[1].end


def test_a_raising_preview_callback_fails_like_a_raising_segment_callback(engine):
    def boom(k, n, audio):
        raise RuntimeError("the player broke")

    with pytest.raises(RuntimeError, match="the player broke"):
        engine.generate(REQUEST, on_preview=boom)
    other = GenerationRequest(text="I go on.", seed=3, max_seconds=1.0)
    results = engine.generate_batch([BatchJob(REQUEST, on_preview=boom), BatchJob(other)])
    assert isinstance(results[0], RuntimeError)
    assert_same_generation(results[1], engine.generate(other))


def test_stop_during_previews_cancels_before_the_fine_stage(engine):
    rec = Recorder()
    stop = {"now": False}

    def on_preview(k, n, audio):
        rec.preview(k, n, audio)
        stop["now"] = True

    with pytest.raises(GenerationCancelled):
        engine.generate(REQUEST, on_progress=rec.progress, on_preview=on_preview, should_stop=lambda: stop["now"])
    assert len(rec.previews) == 1 and rec.stage == "coarse"
    assert engine.generate(GenerationRequest(text="Next job.", seed=1, max_seconds=0.6)).takes[0].audio.size > 0


def test_the_batching_engine_forwards_previews(engine):
    rec = Recorder()
    req = GenerationRequest(text="Through the queue.", seed=5, early_stop=False, max_seconds=0.8)
    with BatchingEngine(engine, max_batch=4, max_wait_s=0.0) as batching:
        gen = batching.generate(req, on_preview=rec.preview)
        got = []
        batched = batching.generate_batch([BatchJob(req, on_preview=lambda k, n, a: got.append(len(a)))])
    assert rec.previews and got
    assert_same_generation(gen, batched[0])


def test_the_preview_setting_is_for_the_studio_and_api_only():
    row = table.setting("live_preview")
    assert row.default is True and row.kind is bool and row.widget == "checkbox" and row.section == "advanced"
    assert row.api and not row.cli and row not in PRESET_SETTINGS
    assert GenerationRequest(text="x").live_preview is True
    assert "preview" not in table.describe({"live_preview": True, "takes": 1})


def test_a_ray_preview_tail_sends_only_what_changed_and_joins_back():
    """A replica sends each preview as what changed since the last one (bark_core.ray_engine.PreviewTail)."""
    from bark_core.ray_engine import PreviewTail

    rng = np.random.default_rng(0)
    first = [rng.standard_normal(100).astype(np.float32), rng.standard_normal(80).astype(np.float32)]
    grown = [np.concatenate([first[0][:90], rng.standard_normal(50).astype(np.float32)]),  # its tail re-decoded
             np.concatenate([first[1], rng.standard_normal(30).astype(np.float32)])]
    one = PreviewTail.between([], first)
    assert one.starts == [0, 0] and [len(t) for t in one.tails] == [100, 80]
    have = one.apply([])
    two = PreviewTail.between(first, grown)
    assert two.starts == [90, 80] and [len(t) for t in two.tails] == [50, 30]
    for got, want in zip(two.apply(have), grown):
        assert got.dtype == np.float32 and np.array_equal(got, want)
    shorter = [grown[0][:20], grown[1]]  # a segment redrawn: the preview may also shrink
    assert [len(a) for a in PreviewTail.between(grown, shorter).apply(grown)] == [20, 110]
