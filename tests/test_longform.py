"""Long-form text splitting, duration estimates and audio joining."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bark_core.longform import (
    DEFAULT_MAX_WORDS,
    SplitResult,
    _speech_words,
    estimate_seconds,
    join_audio,
    normalize_text,
    split_text,
)


def words(s: str) -> int:
    return len(s.split())


def chars(s: str) -> int:
    return len(s)


def reference_normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()  # bark.generation._normalize_whitespace


def rebuilds(segments: list[str], text: str) -> bool:
    """The segments are consecutive slices of ``text`` separated by at most one space."""
    pos = 0
    for seg in segments:
        if not seg or seg != seg.strip() or not text.startswith(seg, pos):
            return False
        pos += len(seg)
        if text[pos : pos + 1] == " ":
            pos += 1
    return pos == len(text)


def within(segments: list[str], count, max_tokens: int, max_words: float = DEFAULT_MAX_WORDS) -> bool:
    return all(count(s) <= max_tokens and _speech_words(s) <= max_words for s in segments)


STORY = (
    "Hello, my name is Suno. And, uh — and I like pizza. [laughs] But I also have other interests "
    "such as playing tic tac toe.\nMr. Smith went to Washington... and then he left! Did he? Yes, "
    "e.g. on Monday, at 3.30 p.m. sharp. ♪ In the jungle, the mighty jungle. The lion sleeps tonight ♪ "
    "[clears throat] Well. That was something. “Stop.” She said. Dr. Jones agreed."
)


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("text", ["Hello world", "  Hello \t\n  world \r\n", "a\u00a0b\u2003c", "\n\n", "x"])
def test_normalize_matches_reference(text):
    assert normalize_text(text) == reference_normalize(text)


def test_control_characters_are_removed_with_a_warning():
    warnings: list[str] = []
    assert normalize_text("Hel\x00lo\x07 wor\x7fld\u009b", warnings) == "Hello world"
    assert len(warnings) == 1 and "control" in warnings[0] and "U+0000" in warnings[0]
    res = split_text("Bell\x07 rings.", words)
    assert res.segments == ["Bell rings."] and res.warnings
    with pytest.raises(ValueError):
        normalize_text(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- splitting


def test_text_that_fits_comes_back_normalised_and_whole():
    text = "  Hello,   my name is Suno.\n And, uh — and I like pizza. [laughs]  "
    res = split_text(text, words)
    assert isinstance(res, SplitResult)
    assert res.segments == [reference_normalize(text)] and res.warnings == []
    assert split_text("   \n ", words).segments == []


def test_long_text_splits_at_sentences_within_budget():
    text = " ".join(f"This is sentence number {i} and it has some words." for i in range(40))
    res = split_text(text, words, max_tokens=30)
    assert len(res.segments) > 1 and res.warnings == []
    assert within(res.segments, words, 30)
    assert all(s.endswith(".") for s in res.segments)  # every cut is at a sentence end
    assert rebuilds(res.segments, normalize_text(text))
    assert " ".join(res.segments).split() == text.split()


def test_word_budget_keeps_segments_short_enough_to_speak():
    text = " ".join(["Short one."] * 100)
    res = split_text(text, words, max_tokens=256)
    assert all(_speech_words(s) <= DEFAULT_MAX_WORDS for s in res.segments)
    assert all(estimate_seconds(s) <= 14 for s in res.segments)
    res = split_text(text, words, max_tokens=256, max_words=4)
    assert res.segments[0] == "Short one. Short one."


def test_story_with_tags_abbreviations_and_lyrics():
    for budget in range(6, 40, 3):
        res = split_text(STORY, words, max_tokens=budget)
        assert rebuilds(res.segments, normalize_text(STORY)), budget
        assert within(res.segments, words, budget), budget
        for tag in ("[laughs]", "[clears throat]"):
            assert sum(tag in s for s in res.segments) == 1, (budget, tag)
        lyric = "♪ In the jungle, the mighty jungle. The lion sleeps tonight ♪"
        if budget >= words(lyric):
            assert any(lyric in s for s in res.segments), budget
    res = split_text(STORY, words, max_tokens=12)
    assert not any(s.startswith(("Smith", "Jones", "g. on")) for s in res.segments)  # Mr. / Dr. / e.g. kept
    assert "Did he?" in " ".join(res.segments)


def test_line_breaks_are_sentence_ends():
    text = "one two three\nfour five six seven\r\n\neight"
    res = split_text(text, words, max_tokens=4)
    assert res.segments == ["one two three", "four five six seven", "eight"]
    assert res.warnings == []


def test_ellipsis_before_lowercase_is_not_a_sentence_end():
    text = "So I said... well, nothing really. Then we left... Later we came back."
    res = split_text(text, words, max_tokens=7)
    assert "So I said... well, nothing really." in res.segments
    assert rebuilds(res.segments, text)


def test_overlong_sentence_is_cut_at_commas_then_words_with_warnings():
    sentence = "one two three, four five six, seven eight nine, ten eleven twelve."
    res = split_text(sentence, words, max_tokens=4)
    assert res.segments == ["one two three,", "four five six,", "seven eight nine,", "ten eleven twelve."]
    assert len(res.warnings) == 1 and "split at commas" in res.warnings[0]
    res = split_text("a b c d e f g h i j", words, max_tokens=3)
    assert res.segments == ["a b c", "d e f", "g h i", "j"] and "between words" in res.warnings[0]
    res = split_text("x" * 50, chars, max_tokens=20)
    assert res.segments == ["x" * 20, "x" * 20, "x" * 10] and res.warnings


def test_tag_too_long_for_a_segment_is_split_with_a_warning():
    lyric = "♪ " + " ".join(f"la{i}" for i in range(30)) + " ♪"
    res = split_text(lyric, words, max_tokens=10)
    assert within(res.segments, words, 10) and rebuilds(res.segments, lyric)
    assert any("sung passage" in w for w in res.warnings)


def test_cjk_rtl_and_emoji():
    zh = "这是一个很长的句子，没有任何空格，我们需要把它切开。第二句话在这里！第三句呢？" * 3
    res = split_text(zh, chars, max_tokens=20)
    assert within(res.segments, chars, 20) and "".join(res.segments) == zh
    assert res.segments[0].endswith("，") and any(s.endswith("。") for s in res.segments)
    ja = "今日はいい天気ですね。散歩に行きましょう。" * 4
    res = split_text(ja, chars, max_tokens=25)
    assert all(s.endswith("。") for s in res.segments) and "".join(res.segments) == ja
    ar = "مرحبا بكم في هذا العرض. كيف حالك اليوم؟ أنا بخير، شكرا لك. " * 3
    res = split_text(ar, words, max_tokens=8)
    assert within(res.segments, words, 8) and rebuilds(res.segments, normalize_text(ar))
    assert all(s.endswith((".", "؟")) for s in res.segments)
    hi = "नमस्ते, आप कैसे हैं। मैं ठीक हूँ। " * 5
    res = split_text(hi, words, max_tokens=5)
    assert all(s.endswith("।") for s in res.segments)
    family = "👨‍👩‍👧‍👦"
    emoji = (family * 12) + " 🎉🎉🎉 ok!"
    res = split_text(emoji, chars, max_tokens=16)
    assert within(res.segments, chars, 16) and rebuilds(res.segments, emoji)
    joined = "".join(res.segments)
    assert joined.replace(" ", "") == emoji.replace(" ", "")
    assert all(s.count("\u200d") % 3 == 0 for s in res.segments if family[0] in s)  # no family cut apart


def test_bert_tokenizer_budget(tmp_path):
    transformers = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "[", "]"]
    vocab += "hello my name is suno and i like pizza but also have other interests such as playing tic tac toe".split()
    vocab += ["##s", "##ing", "##a", "##e", "##o", "la", "##ugh"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=True)

    def count(s: str) -> int:
        return len(tok.encode(s, add_special_tokens=False))

    text = ("Hello, my name is Suno. And I like pizza! [laughs] But I also have other interests, "
            "such as playing tic tac toe? ") * 20
    for budget in (12, 40, 256):
        res = split_text(text, count, max_tokens=budget)
        assert within(res.segments, count, budget) and rebuilds(res.segments, normalize_text(text))
        assert all(s.count("[laughs]") == s.count("[") for s in res.segments)


def test_bad_budgets_raise_value_error():
    for kwargs in ({"max_tokens": 0}, {"max_tokens": 2.5}, {"max_words": 0}, {"max_words": float("nan")}):
        with pytest.raises(ValueError):
            split_text("hello", words, **kwargs)


# --------------------------------------------------------------------------- estimates and audio


def test_estimate_seconds():
    assert estimate_seconds("") == 0.0 and estimate_seconds("   ") == 0.0
    assert estimate_seconds("Hi") == 0.5
    assert estimate_seconds(" ".join(["word"] * 27)) == pytest.approx(10.0)
    assert estimate_seconds("[laughs]") == pytest.approx(1.0)
    assert estimate_seconds("你好世界你好世界你好") > 1.5  # CJK counted per character


def test_join_audio():
    a = np.ones(100, dtype=np.float64)
    b = np.full(50, 0.5, dtype=np.float32)
    out = join_audio([a, b], pause_s=0.01, sample_rate=1000)
    assert out.dtype == np.float32 and out.shape == (160,)
    assert np.all(out[100:110] == 0) and out[110] == 0.5 and out[99] == 1.0
    assert join_audio([], 0.25).shape == (0,)
    assert join_audio([b], 1.0).shape == (50,)
    for bad in ([np.ones((2, 5))], [np.array(["x"])]):
        with pytest.raises(ValueError):
            join_audio(bad, 0.1)
    for pause in (-1, float("inf"), True):
        with pytest.raises(ValueError):
            join_audio([b], pause)


# --------------------------------------------------------------------------- fuzz

_ALPHABET = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list(" \n\t.!?…,;:—。！？，[]♪\u200d\ufe0f\u0301") + ["[laughs]", "♪", "Mr.", "..."]),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_ALPHABET, max_size=300).map("".join),
    st.sampled_from(["words", "chars"]),
    st.integers(4, 60),
    st.sampled_from([1.0, 5.0, DEFAULT_MAX_WORDS]),
)
def test_fuzz_split_text_keeps_everything_and_fits(text, counter, max_tokens, max_words):
    count = words if counter == "words" else chars
    res = split_text(text, count, max_tokens=max_tokens, max_words=max_words)
    norm = normalize_text(text)
    assert rebuilds(res.segments, norm)
    assert "".join(res.segments).replace(" ", "") == norm.replace(" ", "")
    if counter == "chars":  # any single character fits, so every segment must
        assert within(res.segments, count, max_tokens, max_words)
    else:  # a "word" of many CJK characters is cut between them, so this fits too
        assert within(res.segments, count, max_tokens, max_words)
    if count(norm) <= max_tokens and _speech_words(norm) <= max_words and norm:
        assert res.segments == [norm]
