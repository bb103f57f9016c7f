"""Rows: per-row samplers and generators, per-take seeds, "regenerate this take", segment data, segment retakes.

On the exact placement (CPU float32) every take is computed as a batch of one with its own
generator, so take b of a request equals a one-take request seeded with ``Take.seed``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bark_core import MAX_SEED
from bark_core.engine import Engine, EngineSettings
from bark_core.settings import take_seed
from bark_core.sampling import Sampling, sample, sample_rows
from bark_core.types import GenerationRequest, SegmentCheck, SegmentTake

SHORT = dict(max_seconds=0.3)
LONG_TEXT = ("This first sentence is long enough to need company, told slowly and with care. The second sentence "
             "follows it with more words and a pause. Then a third one ends the quiet story with a happy ending.")


@pytest.fixture(scope="module")
def engine(exact_engine) -> Engine:
    return exact_engine


def same_tokens(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("semantic", "coarse", "fine"))


# ---------------------------------------------------------------- the sampler


@pytest.mark.parametrize("row_by_row", [False, True])
def test_each_row_draws_what_it_draws_alone(row_by_row):
    logits = torch.randn(4, 3, 50, generator=torch.Generator().manual_seed(0))
    settings = [Sampling(0.7), Sampling(0.7, top_k=5), Sampling(1.3, top_p=0.5), Sampling(None)]
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3, 4)]
    ids, probs = sample_rows(logits, settings, gens, row_by_row=row_by_row)
    assert ids.shape == (4, 3) and probs.shape == (4, 3, 50)
    for b, s in enumerate(settings):
        alone, alone_probs = sample(logits[b : b + 1], s, torch.Generator().manual_seed(b + 1))
        assert torch.equal(ids[b : b + 1], alone), b
        if alone_probs is not None:
            assert torch.equal(probs[b : b + 1], alone_probs), b
    # the streams moved on: the next draw of row 0 continues its own generator only
    again, _ = sample_rows(logits[:1], settings[:1], gens[:1])
    g = torch.Generator().manual_seed(1)
    sample(logits[:1], settings[0], g)
    assert torch.equal(again, sample(logits[:1], settings[0], g)[0])


def test_one_generator_for_all_rows_draws_one_stream_as_before():
    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(5))
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    ids, _ = sample_rows(logits, [Sampling(0.8)] * 3, [g1] * 3)
    assert torch.equal(ids, sample(logits, Sampling(0.8), g2)[0])
    with pytest.raises(ValueError):
        sample_rows(logits, [Sampling(0.8)], [g1])


# ---------------------------------------------------------------- per-take seeds


def test_take_seeds_count_up_from_the_request_seed_and_wrap():
    assert [take_seed(5, b) for b in range(3)] == [5, 6, 7]
    assert [take_seed(MAX_SEED - 1, b) for b in range(3)] == [MAX_SEED - 1, MAX_SEED, 0]


def test_regenerate_take_gives_that_take_exactly(engine):
    request = GenerationRequest(text="Hello [laughs] there.", takes=3, seed=MAX_SEED - 1, top_k=40, **SHORT)
    gen = engine.generate(request)
    assert gen.seed == MAX_SEED - 1 and [t.seed for t in gen.takes] == [MAX_SEED - 1, MAX_SEED, 0]
    assert len({t.voice.semantic.tobytes() for t in gen.takes}) == 3
    for index in (2,):
        again = engine.regenerate_take(request, gen, index)
        assert len(again.takes) == 1 and again.seed == gen.takes[index].seed
        assert same_tokens(again.takes[0].voice, gen.takes[index].voice)
        np.testing.assert_array_equal(again.takes[0].audio, gen.takes[index].audio)
    solo = engine.generate(dataclasses.replace(request, seed=gen.takes[1].seed, takes=1))
    assert same_tokens(solo.takes[0].voice, gen.takes[1].voice)
    with pytest.raises(ValueError, match="no take 3"):
        engine.regenerate_take(request, gen, 3)


def test_long_form_takes_keep_their_own_generators_and_segments(engine):
    """Two segments, no voice: each take continues its own speaker, all takes in one batch."""
    segments, _ = engine.plan_segments(LONG_TEXT)
    assert len(segments) == 2
    request = GenerationRequest(text=LONG_TEXT, takes=2, seed=40, max_seconds=0.2, segment_pause_s=0.25)
    gen = engine.generate(request)
    pause = int(0.25 * 24000)
    for take in gen.takes:
        assert [s.text for s in take.segments] == segments
        first, second = take.segments
        assert isinstance(first, SegmentTake) and first.tries == second.tries == 1
        assert first.start == 0 and second.start == first.end + pause and second.end == len(take.audio)
        for seg in take.segments:
            assert seg.end - seg.start == seg.tokens.fine.shape[1] * 320
            np.testing.assert_array_equal(take.audio[seg.start : seg.end], engine.decode(seg.tokens.fine))
        assert same_tokens(take.voice, second.tokens)
    again = engine.regenerate_take(request, gen, 1)
    for a, b in zip(again.takes[0].segments, gen.takes[1].segments):
        assert same_tokens(a.tokens, b.tokens) and (a.start, a.end) == (b.start, b.end)
    np.testing.assert_array_equal(again.takes[0].audio, gen.takes[1].audio)


# ---------------------------------------------------------------- segment retakes


def test_a_rejected_segment_is_drawn_again_alone(engine):
    request = GenerationRequest(text="Check every segment.", takes=2, seed=3, **SHORT)
    plain = engine.generate(request)
    seen: list[SegmentCheck] = []

    def accept(check: SegmentCheck) -> bool:
        seen.append(check)
        return not (check.take == 0 and check.tries == 1)  # take 0's first draw is refused

    gen = engine.generate(request, accept_segment=accept, segment_retakes=2)
    assert [(c.take, c.segment, c.tries) for c in seen] == [(0, 0, 1), (1, 0, 1), (0, 0, 2)]
    assert seen[0].text == "Check every segment." and seen[0].audio.size == seen[0].tokens.fine.shape[1] * 320
    assert same_tokens(seen[0].tokens, plain.takes[0].voice)  # the first draw is the plain run's
    assert [t.segments[0].tries for t in gen.takes] == [2, 1]
    assert not same_tokens(gen.takes[0].voice, plain.takes[0].voice)  # the generator went on: a new draw
    assert same_tokens(gen.takes[1].voice, plain.takes[1].voice)  # the other take is untouched
    np.testing.assert_array_equal(gen.takes[1].audio, plain.takes[1].audio)

    never = engine.generate(dataclasses.replace(request, takes=1), accept_segment=lambda c: False, segment_retakes=1)
    assert never.takes[0].segments[0].tries == 2  # out of retakes: the last draw is kept
    assert same_tokens(never.takes[0].voice, gen.takes[0].voice)
    with pytest.raises(ValueError, match="retakes"):
        engine.generate(request, segment_retakes=-1)


# ---------------------------------------------------------------- the fused (non-exact) path


def test_fused_batches_still_give_distinct_repeatable_takes(engine, monkeypatch):
    """row_exact off (what a GPU runs): rows of one shape share the batched math; results stay per take."""
    monkeypatch.setattr(engine, "row_exact", False)
    request = GenerationRequest(text=LONG_TEXT, takes=2, seed=8, max_seconds=0.2, early_stop=False)
    a, b = engine.generate(request), engine.generate(request)
    assert len({t.voice.semantic.tobytes() for t in a.takes}) == 2
    for x, y in zip(a.takes, b.takes):
        assert same_tokens(x.voice, y.voice) and len(x.segments) == 2
        assert len(x.audio) == x.segments[-1].end


def test_row_exact_setting_is_checked(tiny_native, tmp_path):
    with pytest.raises(ValueError, match="row_exact"):
        Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32", row_exact="maybe",
                                   cache_dir=str(tmp_path)))
