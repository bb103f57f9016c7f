"""Long-form timeline: split modes, editing, stale marking, exact joins, storage, and regenerating one segment."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from bark_core import longform
from bark_core import timeline as T
from bark_core.engine import Engine, EngineSettings
from bark_core.types import Generation, Take, Voice

SR = 24000


# --------------------------------------------------------------------------- a fake engine (fast, records requests)


def segment_spans(tl: T.Timeline) -> list[tuple[int, int]]:
    """``(start, end)`` sample of each segment in ``render(tl)``, by the timeline's join plan."""
    lengths = [0 if s.take is None else len(s.take.audio) for s in tl.segments]
    starts, _, _ = T.join_plan(lengths, tl.sample_rate, tl.pause_ms, tl.crossfade_ms)
    return [(a, a + n) for a, n in zip(starts, lengths)]


def _voice_from(key: str, n: int = 30) -> Voice:
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))
    fine = rng.integers(0, 1024, (8, int(round(n * 1.5))))
    return Voice(semantic=rng.integers(0, 10000, n), coarse=fine[:2].copy(), fine=fine)


class FakeEngine:
    """Deterministic in (text, seed, prompt): like Bark with a fixed seed."""

    def __init__(self):
        self.requests = []

    def load_voice(self, ref):
        if ref not in ("v2/en_speaker_1", "v2/en_speaker_6"):
            raise ValueError(f"Unknown voice {ref!r}.")
        return _voice_from(ref)

    def generate(self, request, on_progress=None, should_stop=None):
        self.requests.append(request)
        seed = 1000 + len(self.requests) if request.seed is None else request.seed
        prompt = "none" if request.voice is None else T._token_hash(request.voice)
        key = f"{request.text}|{seed}|{prompt}|{request.semantic_temp}"
        rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))
        audio = (0.1 * rng.standard_normal(2400 + len(request.text) * 10)).astype(np.float32)
        if on_progress is not None:
            from bark_core.types import Progress

            on_progress(Progress("semantic", 1, 1))
        return Generation(takes=[Take(audio=audio, voice=_voice_from(key))], seed=seed)


def snapshot(tl):
    return [None if s.take is None else s.take.audio.tobytes() for s in tl.segments]


# --------------------------------------------------------------------------- splitting


STORY = ("The night was dark. The wind howled through the trees, and nobody dared to speak. "
         "Then, suddenly, a light appeared!\nIt came closer. Mr. Smith stood up.\n\nHe said nothing at all.")


def words(s: str) -> int:
    return len(s.split())


def test_split_by_sentence_is_todays_long_form_split():
    pairs, warnings = T.split_segments(STORY, "sentence", count_tokens=words)
    assert [t for _, t in pairs] == longform.split_text(STORY, words).segments
    small, _ = T.split_segments(STORY * 3, "sentence", count_tokens=lambda s: len(s) // 2)
    assert len(small) > 1 and " ".join(t for _, t in small) == longform.normalize_text(STORY * 3)


def test_split_by_line():
    pairs, warnings = T.split_segments(STORY, "line", count_tokens=words)
    assert [t for _, t in pairs] == [
        "The night was dark. The wind howled through the trees, and nobody dared to speak. Then, suddenly, a light appeared!",
        "It came closer. Mr. Smith stood up.",
        "He said nothing at all.",
    ]
    assert not warnings and all(s == "" for s, _ in pairs)
    long_line = " ".join(["A sentence of several words here."] * 12)  # over 35 spoken words: too long for one generation
    pairs, warnings = T.split_segments(long_line + "\nShort.", "line", count_tokens=words)
    assert len(pairs) > 2 and pairs[-1][1] == "Short." and any("Line 1 is too long" in w for w in warnings)


@pytest.mark.parametrize("max_chars", [20, 40, 80])
def test_split_by_length_respects_the_limit_and_keeps_every_word(max_chars):
    pairs, _ = T.split_segments(STORY, "length", count_tokens=words, max_chars=max_chars)
    texts = [t for _, t in pairs]
    assert all(len(t) <= max_chars for t in texts)
    assert " ".join(texts) == longform.normalize_text(STORY)
    assert "Mr. Smith" in " ".join(texts)
    longer, _ = T.split_segments(STORY, "length", count_tokens=words, max_chars=400)
    assert len(longer) <= len(texts)


def test_split_by_length_also_respects_the_token_budget():
    pairs, _ = T.split_segments("word " * 100, "length", count_tokens=lambda s: 10 * len(s.split()), max_chars=2000)
    assert all(10 * words(t) <= 256 for _, t in pairs) and sum(words(t) for _, t in pairs) == 100


DIALOGUE = """A radio play.
ALICE: Hello Bob. How are you today?
BOB: I'm fine [laughs]. And you?
  I mean it.
Alice: Never better.
Dr. Who: Visit http://example.com at 10:30 sharp.
"""


def test_dialogue_maps_names_to_voices():
    tl, warnings = T.create_timeline(DIALOGUE, "dialogue", count_tokens=words, voice="v2/en_speaker_9",
                                     speakers={"alice": "v2/en_speaker_1", "BOB": "v2/en_speaker_6"})
    got = [(s.speaker, s.voice, s.text) for s in tl.segments]
    assert got == [
        ("", "v2/en_speaker_9", "A radio play."),
        ("ALICE", "v2/en_speaker_1", "Hello Bob. How are you today?"),
        ("BOB", "v2/en_speaker_6", "I'm fine [laughs]. And you? I mean it."),
        ("Alice", "v2/en_speaker_1", "Never better."),
        ("Dr. Who", None, "Visit http://example.com at 10:30 sharp."),
    ]
    assert any("Dr. Who" in w and "random speaker" in w for w in warnings)
    assert tl.speakers == {"ALICE": "v2/en_speaker_1", "BOB": "v2/en_speaker_6", "Alice": "v2/en_speaker_1", "Dr. Who": None}


def test_dialogue_without_names_says_so_and_unmapped_speakers_continue_themselves():
    tl, warnings = T.create_timeline("Just prose. No names here.", "dialogue", count_tokens=words)
    assert len(tl.segments) == 1 and any("No line starts with a NAME" in w for w in warnings)
    tl, _ = T.create_timeline("A: one\nB: two\nA: three\nB: four", "dialogue", count_tokens=words)
    assert [T.chain_source(tl, k) for k in range(4)] == [None, None, 0, 1]


@pytest.mark.parametrize("kwargs,match", [
    (dict(text="", mode="line"), "enter some text"),
    (dict(text="  \n ", mode="sentence"), "enter some text"),
    (dict(text="BOB:", mode="dialogue"), "enter some text"),
    (dict(text="Hi.", mode="paragraph"), "Unknown split mode"),
    (dict(text="Hi.", mode="length", max_chars=5), "maximum segment length"),
    (dict(text="Hi.", mode="sentence", seed=-1), "Seed"),
    (dict(text="Hi.", mode="sentence", pause_ms=-1), "pause"),
    (dict(text="Hi.", mode="sentence", crossfade_ms=float("nan")), "crossfade"),
    (dict(text="Hi.", mode="sentence", semantic_temp=0), "temperature"),
])
def test_bad_creation_input_is_a_sentence(kwargs, match):
    text, mode = kwargs.pop("text"), kwargs.pop("mode")
    with pytest.raises(ValueError, match=match):
        T.create_timeline(text, mode, count_tokens=words, **kwargs)


def test_segment_temperatures_have_the_settings_tables_defaults_and_ranges():
    from bark_core import settings as table

    tl, _ = T.create_timeline("One.\nTwo.", "line")
    for name in T.TEMPERATURES:
        row = table.setting(name)
        assert getattr(T.Segment(text="x"), name) == row.default
        assert {getattr(s, name) for s in tl.segments} == {row.default}
        for inside in (row.minimum, row.maximum):
            assert getattr(T.edit_segment(tl, 1, **{name: inside}).segments[1], name) == inside
        for outside in (row.minimum / 2, row.maximum * 2, 3.0, 0, float("nan"), True, "0.7"):
            with pytest.raises(ValueError, match=rf"Segment 2's {row.label.lower()} must be a number in 0\.05\.\.1\.5"):
                T.edit_segment(tl, 1, **{name: outside})
            with pytest.raises(ValueError, match=row.label.lower()):
                T.insert_segment(tl, 1, "Three.", **{name: outside})
        with pytest.raises(ValueError, match=row.label.lower()):
            T.create_timeline("One.", "line", **{name: 3.0})
    bad = T.to_dict(tl)
    bad["segments"][0]["fine_temp"] = 3.0  # a draft saved before the table's range was enforced
    with pytest.raises(ValueError, match="Saved segment 1's fine temperature must be a number in 0.05..1.5"):
        T.from_dict(bad)


def test_seeds_are_per_segment():
    tl, _ = T.create_timeline("One.\nTwo.\nThree.", "line", seed=2**32 - 2)
    assert [s.seed for s in tl.segments] == [2**32 - 2, 2**32 - 1, 0]
    assert len({s.id for s in tl.segments}) == 3


# --------------------------------------------------------------------------- generating and stale marking


@pytest.fixture
def four():
    tl, _ = T.create_timeline("One one.\nTwo two.\nThree three.\nFour four.", "line", seed=10)
    return T.generate_timeline(FakeEngine(), tl)


def test_generation_chains_each_segment_from_the_previous_tokens():
    eng = FakeEngine()
    tl, _ = T.create_timeline("One one.\nTwo two.\nThree three.", "line", seed=10, semantic_temp=0.8)
    tl = T.generate_timeline(eng, tl, max_seconds=2.0, top_k=50)
    assert [r.text for r in eng.requests] == ["One one.", "Two two.", "Three three."]
    assert eng.requests[0].voice is None
    assert eng.requests[1].voice is tl.segments[0].take.tokens and eng.requests[2].voice is tl.segments[1].take.tokens
    for r, seed in zip(eng.requests, (10, 11, 12)):
        assert r.seed == seed and r.long_form is False and r.takes == 1 and r.semantic_temp == 0.8
        assert r.max_seconds == 2.0 and r.top_k == 50
    assert T.stale_segments(tl) == {}
    assert T.generate_timeline(eng, tl) is tl and len(eng.requests) == 3  # nothing stale: nothing generated


def test_regenerating_one_segment_marks_only_its_followers_stale(four):
    before = snapshot(four)
    eng = FakeEngine()
    tl = T.regenerate_segment(eng, T.edit_segment(four, 1, seed=99), 1)
    assert len(eng.requests) == 1 and eng.requests[0].text == "Two two." and eng.requests[0].seed == 99
    after = snapshot(tl)
    assert after[1] != before[1]
    assert [after[i] for i in (0, 2, 3)] == [before[i] for i in (0, 2, 3)]
    assert all(tl.segments[i] is four.segments[i] for i in (0, 2, 3))
    stale = T.stale_segments(tl)
    assert list(stale) == [2] and "continues segment 2's voice" in stale[2]
    assert T.affected_by(tl, 1) == [2, 3]
    # Regenerating the stale ones in order brings the cascade along: 3, then 4 (which continued 3).
    tl2 = T.generate_timeline(eng, tl)
    assert [r.text for r in eng.requests[1:]] == ["Three three.", "Four four."] and T.stale_segments(tl2) == {}


def test_edits_deletes_moves_and_inserts_make_the_right_segments_stale(four):
    edited = T.edit_segment(four, 2, text="  Three,   changed. ")
    assert edited.segments[2].text == "Three, changed."
    assert T.stale_segments(edited).keys() == {2}  # its follower still continues the old tokens, which still exist
    assert T.segment_state(T.edit_segment(four, 0, semantic_temp=0.9), 0) == "edited"
    assert T.segment_state(T.edit_segment(four, 0, seed=None), 0) == "fresh"  # random seed: any seed matches
    assert T.segment_state(T.edit_segment(four, 0, seed=10), 0) == "fresh"
    deleted = T.delete_segment(four, 1)
    assert [s.text for s in deleted.segments] == ["One one.", "Three three.", "Four four."]
    assert T.stale_segments(deleted).keys() == {1}
    moved = T.move_segment(four, 3, 0)
    assert [s.text for s in moved.segments] == ["Four four.", "One one.", "Two two.", "Three three."]
    assert T.stale_segments(moved).keys() == {0, 1}  # 4 no longer continues 3; 1 now continues 4
    inserted = T.insert_segment(four, 2, "New line.")
    assert inserted.segments[2].take is None and T.stale_segments(inserted).keys() == {2, 3}
    assert "no audio yet" in T.stale_segments(inserted)[2]
    with pytest.raises(ValueError, match="no audio yet; generate segment 3 first"):
        T.regenerate_segment(FakeEngine(), inserted, 3)


def test_segments_with_their_own_voice_never_go_stale_from_upstream():
    eng = FakeEngine()
    tl, _ = T.create_timeline("One.\nTwo.\nThree.", "line", voice="v2/en_speaker_6", seed=1)
    tl = T.generate_timeline(eng, tl)
    assert all(T._token_hash(r.voice) == T._token_hash(_voice_from("v2/en_speaker_6")) for r in eng.requests)
    tl = T.regenerate_segment(eng, T.edit_segment(tl, 0, seed=5), 0)
    assert T.stale_segments(tl) == {} and T.affected_by(tl, 0) == []
    tl = T.edit_segment(tl, 1, voice="v2/en_speaker_1")
    assert T.segment_state(tl, 1) == "edited"
    seen = []
    tl, _ = T.create_timeline("A: hi\nB: yo\nA: bye", "dialogue", speakers={"A": "v2/en_speaker_1"})
    assert [s.voice for s in tl.segments] == ["v2/en_speaker_1", None, "v2/en_speaker_1"]
    tl = T.generate_timeline(eng, tl, on_progress=lambda p: seen.append((p.segment, p.segments)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(ValueError, match="Unknown voice"):
        T.regenerate_segment(eng, T.edit_segment(tl, 0, voice="nope"), 0)


def test_generate_segments_yields_each_segment_scored_and_stops_between_segments(four):
    from bark_core.types import GenerationCancelled

    eng, started, stop = FakeEngine(), [], []
    stale = T.edit_segment(T.edit_segment(four, 1, seed=99), 3, text="Four, again.")  # 2 and 4 edited; 3 follows 2
    assert T.pending(stale) == [1, 3] and T.pending(stale, 2, only_stale=False) == [2, 3]

    def score(tl, k):  # what the Timeline tab does with each made segment: a take check's numbers
        seg = tl.segments[k]
        return T._with_segments(tl, tl.segments[:k] + (replace(seg, take=replace(seg.take, scores={"on_script": 0.5})),)
                                + tl.segments[k + 1:])

    steps = T.generate_segments(eng, stale, on_start=started.append, should_stop=lambda: bool(stop),
                                after_segment=score)
    k, tl = next(steps)
    assert k == 1 and started == [1] and tl.segments[1].take.scores == {"on_script": 0.5}
    assert T.pending(tl) == [2, 3]  # segment 3 continues segment 2's new voice: made stale, and made next
    stop.append(True)  # Stop pressed while segment 2 was made: nothing more starts
    with pytest.raises(GenerationCancelled, match="before segment 3"):
        next(steps)
    assert started == [1] and len(eng.requests) == 1
    done = T.generate_timeline(eng, tl, after_segment=score)
    assert [r.text for r in eng.requests[1:]] == ["Three three.", "Four, again."] and T.pending(done) == []
    assert all(s.take.scores == {"on_script": 0.5} for s in done.segments[1:])


@pytest.mark.parametrize("call,match", [
    (lambda tl: T.edit_segment(tl, 9, text="x"), "no segment 10; the timeline has 4"),
    (lambda tl: T.edit_segment(tl, 0, text="   "), "no text"),
    (lambda tl: T.edit_segment(tl, 0, fine_temp=9), "fine temperature"),
    (lambda tl: T.edit_segment(tl, 0, seed=2**40), "seed"),
    (lambda tl: T.edit_segment(tl, 0, colour="red"), "no setting 'colour'"),
    (lambda tl: T.delete_segment(tl, -1), "no segment"),
    (lambda tl: T.move_segment(tl, 0, 4), "no segment 5"),
    (lambda tl: T.insert_segment(tl, 5, "x"), "no segment"),
    (lambda tl: T.set_joins(tl, pause_ms=-5), "pause"),
    (lambda tl: T.set_joins(tl, crossfade_ms=-1), "crossfade"),
    (lambda tl: T.regenerate_segment(FakeEngine(), tl, 0, text="sneaky"), "cannot be set"),
    (lambda tl: T.render(T.insert_segment(tl, 0, "new")), "Segment\\(s\\) 1 have no audio"),
])
def test_bad_operations_are_sentences(four, call, match):
    with pytest.raises(ValueError, match=match):
        call(four)


# --------------------------------------------------------------------------- joins


def test_pause_lengths_are_exact_in_samples():
    chunks = [np.ones(1000, np.float32), np.full(500, 0.5, np.float32), np.full(700, 0.25, np.float32)]
    out = T.join_segments(chunks, SR, pause_ms=250, crossfade_ms=0)
    assert len(out) == 2200 + 2 * 6000
    np.testing.assert_array_equal(out[:1000], chunks[0])
    assert not out[1000:7000].any()
    np.testing.assert_array_equal(out[7000:7500], chunks[1])
    assert T.join_plan([1000, 500, 700], SR, 250, 0) == ([0, 7000, 13500], [0, 0], 14200)


def test_crossfade_overlaps_exactly_and_sums_to_one():
    a, b = np.ones(1000, np.float32), np.ones(800, np.float32)
    out = T.join_segments([a, b], SR, pause_ms=0, crossfade_ms=10)  # 240 samples of overlap
    assert len(out) == 1800 - 240
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # equal-gain: constant stays constant through the join
    ramp = T.join_segments([a, np.zeros(800, np.float32)], SR, pause_ms=0, crossfade_ms=10)
    assert ramp[759] == 1.0 and ramp[760] == 1.0 and 0 < ramp[1000 - 1] < 0.01 and not ramp[1000:].any()


def test_crossfade_around_a_pause_fades_out_and_in():
    a, b = np.ones(1000, np.float32), np.ones(1000, np.float32)
    out = T.join_segments([a, b], SR, pause_ms=5, crossfade_ms=2)  # 120 samples of silence, 48-sample fades
    assert len(out) == 2000 + 120
    assert out[951] == 1.0 and out[999] == 0.0 and not out[1000:1120].any() and out[1120] == 0.0 and out[1120 + 48] == 1.0


def test_crossfade_longer_than_a_segment_is_clamped_to_it():
    starts, fades, total = T.join_plan([1000, 100, 1000], SR, 0, 100)  # 2400 samples asked
    assert fades == [100, 100] and starts == [0, 900, 900] and total == 1900
    assert len(T.join_segments([np.ones(n, np.float32) for n in (1000, 100, 1000)], SR, 0, 100)) == 1900
    assert T.join_plan([1000, 0, 1000], SR, 0, 10) == ([0, 1000, 1000], [0, 0], 2000)


def test_render_uses_the_joins_and_spans_locate_each_segment(four):
    tl = T.set_joins(four, pause_ms=100, crossfade_ms=0)
    out = T.render(tl)
    spans = segment_spans(tl)
    for seg, (a, b) in zip(tl.segments, spans):
        np.testing.assert_array_equal(out[a:b], seg.take.audio)
    assert len(out) == spans[-1][1] and spans[1][0] - spans[0][1] == 2400
    tl = T.set_joins(tl, pause_ms=0, crossfade_ms=20)
    assert len(T.render(tl)) == sum(len(s.take.audio) for s in tl.segments) - 3 * 480
    assert tl.segments is T.set_joins(tl, pause_ms=0).segments


# --------------------------------------------------------------------------- storage


def test_json_round_trip_keeps_audio_tokens_and_staleness(four):
    tl = T.edit_segment(T.regenerate_segment(FakeEngine(), T.edit_segment(four, 1, seed=5), 1), 3, text="Changed.")
    data = json.loads(json.dumps(T.to_dict(tl)))
    back = T.from_dict(data)
    assert snapshot(back) == snapshot(tl)
    assert [s.id for s in back.segments] == [s.id for s in tl.segments]
    assert T.stale_segments(back) == T.stale_segments(tl) and set(T.stale_segments(back)) == {2, 3}
    np.testing.assert_array_equal(back.segments[1].take.tokens.fine, tl.segments[1].take.tokens.fine)
    np.testing.assert_array_equal(T.render(back), T.render(tl))


def test_arrays_can_be_stored_beside_the_json_as_npz(four):
    arrays: dict = {}
    meta = json.dumps(T.to_dict(four, arrays=arrays))
    assert "data" not in meta and len(arrays) == 16
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        back = T.from_dict(json.loads(meta), arrays={k: npz[k] for k in npz.files})
    assert snapshot(back) == snapshot(four) and T.stale_segments(back) == {}


@pytest.mark.parametrize("tamper,match", [
    (lambda d: d.update(version=99), "not a saved timeline"),
    (lambda d: d["segments"][0].update(text=""), "no text"),
    (lambda d: d["segments"][0].update(id="../x"), "valid id"),
    (lambda d: d["segments"][0]["take"]["audio"].update(shape=[5]), "bytes"),
    (lambda d: d["segments"][0]["take"]["audio"].update(dtype="object"), "dtype"),
    (lambda d: d["segments"][0]["take"]["semantic"].update(data="!!!"), "base64"),
    (lambda d: d.update(pause_ms=-1), "pause"),
    (lambda d: d.update(split_mode="chaos"), "split mode"),
])
def test_tampered_storage_is_refused(four, tamper, match):
    d = json.loads(json.dumps(T.to_dict(four)))
    tamper(d)
    with pytest.raises(ValueError, match=match):
        T.from_dict(d)


def test_stored_tokens_out_of_range_are_refused(four):
    arrays: dict = {}
    d = T.to_dict(four, arrays=arrays)
    key = d["segments"][0]["take"]["fine"]["array"]
    arrays[key] = arrays[key] + 5000
    with pytest.raises(ValueError, match="outside 0..1023"):
        T.from_dict(d, arrays)


# --------------------------------------------------------------------------- the real engine (tiny random model)


@pytest.fixture(scope="module")
def engine(tiny_native, tmp_path_factory) -> Engine:
    return Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32", offline=True,
                                      cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_regenerating_segment_k_with_the_engine_leaves_the_others_byte_identical(engine):
    tl, warnings = T.create_timeline("First part here.\nSecond part here.\nThird part here.", "line",
                                     count_tokens=engine.count_tokens, seed=3, pause_ms=50)
    assert not warnings and len(tl.segments) == 3
    tl = T.generate_timeline(engine, tl, max_seconds=0.2)
    assert all(s.take.audio.size > 0 and s.take.audio.dtype == np.float32 for s in tl.segments)
    assert T.stale_segments(tl) == {}
    before, rendered = snapshot(tl), T.render(tl)
    k = 1
    tl2 = T.regenerate_segment(engine, T.edit_segment(tl, k, seed=4, semantic_temp=0.9), k, max_seconds=0.2)
    after = snapshot(tl2)
    for i in (0, 2):
        assert after[i] == before[i]  # byte-identical
    assert not np.array_equal(tl2.segments[k].take.tokens.semantic, tl.segments[k].take.tokens.semantic)
    assert tl2.segments[k].take.seed == 4
    assert T.stale_segments(tl2).keys() == {2}  # it continued segment 2's old tokens
    a, _ = segment_spans(tl2)[k]
    np.testing.assert_array_equal(T.render(tl2)[:a], rendered[:a])


# --------------------------------------------------------------------------- importing a finished long-form take


class _Seg:
    """What ``Take.segments`` holds for one segment (bark_core.types.SegmentTake's fields)."""

    def __init__(self, text, tokens, start, end, tries=1):
        self.text, self.tokens, self.start, self.end, self.tries = text, tokens, start, end, tries


def fake_long_form(texts, voice=None, pause_s=0.25, seed=11, fake=None):
    """A take made as the engine's long-form makes one: segment k continues k-1's tokens (no voice), joined with pauses."""
    fake = fake or FakeEngine()
    parts, segs, prompt, pos = [], [], voice, 0
    gap = int(round(pause_s * SR))
    for k, text in enumerate(texts):
        from bark_core.types import GenerationRequest

        gen = fake.generate(GenerationRequest(text=text, voice=prompt, seed=seed + 100 * k))
        take = gen.takes[0]
        if k:
            pos += gap
        segs.append(_Seg(text, take.voice, pos, pos + len(take.audio), tries=1 + k % 2))
        pos += len(take.audio)
        parts.append(take.audio)
        if voice is None:
            prompt = take.voice
    audio = longform.join_audio(parts, pause_s)
    full = Take(audio=audio, voice=segs[-1].tokens)
    full.segments, full.seed = segs, seed
    return full


TEXTS = ["The first part is here.", "Then the second part follows.", "And the third one ends it."]


def test_an_imported_take_keeps_every_segments_audio_and_tokens_and_renders_back_exactly():
    from bark_core.types import GenerationRequest

    take = fake_long_form(TEXTS, pause_s=0.3)
    req = GenerationRequest(text=" ".join(TEXTS), semantic_temp=0.8, coarse_temp=0.6, fine_temp=0.4, top_k=40,
                            segment_pause_s=0.3, seed=11)
    tl = T.from_generation(req, take, scores=[{"on_script": 0.9, "similarity_to_first": 1.0, "issues": []},
                                              {"on_script": 0.5, "similarity_to_first": 0.8}, None])
    assert [s.text for s in tl.segments] == TEXTS and len(tl) == 3
    for seg, src in zip(tl.segments, take.segments):
        assert seg.take.audio.tobytes() == take.audio[src.start:src.end].tobytes()  # byte for byte
        assert seg.take.token_hash == T._token_hash(src.tokens)
        assert seg.voice is None and seg.seed is None and seg.take.seed == 11
        assert (seg.semantic_temp, seg.coarse_temp, seg.fine_temp) == (0.8, 0.6, 0.4)
    assert [s.take.tries for s in tl.segments] == [1, 2, 1]
    assert [dict(s.take.scores) for s in tl.segments] == [{"on_script": 0.9}, {"on_script": 0.5, "similarity_to_first": 0.8}, {}]
    assert tl.pause_ms == 300.0 and tl.crossfade_ms == 0.0 and tl.options["top_k"] == 40
    assert T.stale_segments(tl) == {}  # nothing to generate: every segment is fresh, chained as the engine chained it
    assert [T.chain_source(tl, k) for k in range(3)] == [None, 0, 1]
    rendered = T.render(tl)
    assert rendered.tobytes() == take.audio.tobytes()  # the same joins give back the take, sample for sample
    assert segment_spans(tl) == [(s.start, s.end) for s in take.segments]

    # storage keeps scores, tries and the request's settings
    back = T.from_dict(json.loads(json.dumps(T.to_dict(tl))))
    assert [dict(s.take.scores) for s in back.segments] == [dict(s.take.scores) for s in tl.segments]
    assert [s.take.tries for s in back.segments] == [1, 2, 1] and dict(back.options) == dict(tl.options)
    assert T.stale_segments(back) == {}


def test_regenerating_an_imported_segment_keeps_the_others_and_uses_the_requests_settings():
    from bark_core.types import GenerationRequest

    fake = FakeEngine()
    take = fake_long_form(TEXTS, fake=fake)
    req = GenerationRequest(text=" ".join(TEXTS), top_k=40, top_p=0.9, min_eos_p=0.3, max_seconds=3.0)
    tl = T.from_generation(req, take)
    before = snapshot(tl)
    tl2 = T.regenerate_segment(fake, tl, 1, max_seconds=0.5, top_k=5)
    sent = fake.requests[-1]
    assert (sent.top_k, sent.top_p, sent.min_eos_p, sent.max_seconds) == (40, 0.9, 0.3, 3.0)  # the take's own settings
    assert sent.text == TEXTS[1] and T._token_hash(sent.voice) == T._token_hash(take.segments[0].tokens)
    after = snapshot(tl2)
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    assert T.stale_segments(tl2).keys() == {2}


def test_an_imported_take_with_a_voice_gives_every_segment_that_voice():
    from bark_core.types import GenerationRequest

    voice = _voice_from("v2/en_speaker_6")
    take = fake_long_form(TEXTS, voice=voice)
    req = GenerationRequest(text=" ".join(TEXTS), voice=voice)
    tl = T.from_generation(req, take, voice="v2/en_speaker_6")
    assert [s.voice for s in tl.segments] == ["v2/en_speaker_6"] * 3 and T.stale_segments(tl) == {}
    with pytest.raises(ValueError, match="which voice"):
        T.from_generation(req, take)
    fake = FakeEngine()
    tl2 = T.regenerate_segment(fake, tl, 2)
    assert T._token_hash(fake.requests[-1].voice) == T._token_hash(voice)
    assert snapshot(tl2)[:2] == snapshot(tl)[:2]


@pytest.mark.parametrize("change, match", [
    (lambda t: setattr(t, "segments", []), "no segment data"),
    (lambda t: setattr(t.segments[1], "start", t.segments[0].end - 10), "not inside the take"),
    (lambda t: setattr(t.segments[2], "end", len(t.audio) + 1), "not inside the take"),
    (lambda t: setattr(t.segments[1], "tokens", None), "no tokens"),
    (lambda t: setattr(t.segments[1], "text", "   "), "no text"),
    (lambda t: setattr(t, "audio", None), "no audio"),
])
def test_a_take_that_cannot_be_imported_is_a_sentence(change, match):
    from bark_core.types import GenerationRequest

    take = fake_long_form(TEXTS)
    change(take)
    with pytest.raises(ValueError, match=match):
        T.from_generation(GenerationRequest(text="x"), take)


def test_uneven_gaps_take_the_requests_pause_and_bad_scores_are_refused():
    from bark_core.types import GenerationRequest

    take = fake_long_form(TEXTS, pause_s=0.1)
    take.segments[2].start += 5
    take.segments[2].end += 5
    take.audio = np.concatenate([take.audio, np.zeros(5, np.float32)])
    tl = T.from_generation(GenerationRequest(text="x", segment_pause_s=0.5), take)
    assert tl.pause_ms == 500.0
    with pytest.raises(ValueError, match="evenly spaced"):
        T.from_segments(take.audio, take.segments, seed=1)
    with pytest.raises(ValueError, match="on script score"):
        T.from_generation(GenerationRequest(text="x"), fake_long_form(TEXTS), scores=[{"on_script": 7}, None, None])
    with pytest.raises(ValueError, match="3 segments"):
        T.from_generation(GenerationRequest(text="x"), fake_long_form(TEXTS), scores=[None])
