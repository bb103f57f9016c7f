"""Take check (bark_core.takecheck and ``python -m bark_core score``) on real speech from espeak-ng.

PocketSphinx's English model and Resemblyzer's speaker encoder ship inside their wheels, so these
tests run offline on real models. espeak-ng (Debian package) speaks the sentences; the models load
once per session.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from bark_core.takecheck import (
    TakeChecker, TakeScore, Thresholds, prompt_words, rank, voice_reference_audio,
)
from bark_core.takecheck.signal import measure
from bark_core.takecheck.speaker import SpeakerEncoder, cosine, mel_spectrogram

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "A rainbow is a division of white light into many beautiful colors.",
]
VOICES = ["en-us", "en-us+f3"]
SR = 24_000

# resemblyzer 0.1.4's own VoiceEncoder.embed_utterance on _synthetic_voice() (librosa 0.11 mel),
# computed once with resemblyzer installed with its dependencies: float32 little-endian, base64.
_GOLDEN = "".join([
    "AAAAAMMo3jwAAAAAAAAAAAAAAAAAAAAAG8iAOwAAAAAFG9E8AAAAAFjj7z3YtdU91QM5PQAAAABvof49AAAAAFj87z2/mwc9",
    "kE/aPQAAAADXNwo9AAAAAAAAAAAAAAAAAAAAAF6Bpz0AAAAAAAAAAAAAAAAAAAAAAAAAAHMIaj0XMfM9AAAAAAAAAAAAAAAA",
    "LNHBPQAAAAAAAAAACxiFOwAAAAAAAAAAW1Q3PpxohD0AAAAAAAAAAFX63TsAAAAAGAyYO66swT0AAAAA7XfRPQAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAthb8PNvtNTwsA0Y9AAAAAAAAAAAAAAAAe80ZPc4TgD1I3JU9eFwWPAAAAAAAAAAAAAAAAAAAAAA6OnY9",
    "AAAAALaMaT0AAAAAAAAAAAAAAADFBb89AAAAAFgGLD0AAAAAAAAAADQNEj4m5Mk6AAAAAAAAAAAAAAAAbJRVPQAAAAAeoFk9",
    "AAAAAC4NvzwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMsTjj0AAAAAIgkPPAAAAAAAAAAA7bNJPQAAAACTiNA8",
    "AAAAAAAAAAAAAAAAlzjaPQAAAADqRfw9zNBRPQAAAAAAAAAA3lhjPQAAAAAAAAAAec/5PVq6ND5GD7I99D/2PYjfXj2srBY+",
    "LbrJPFsOKz4DL6A9AAAAAAAAAAAAAAAAbbQfPQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQDVjsAAAAAAAAAACJypT0AAAAA",
    "QIpcPa7CFT2y9jI+AAAAAAAAAAAAAAAAWsH5PRcIKz0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMa1o+G1jzPQAAAAAAAAAA",
    "562IPbunHj7qTeA9B6EWPs1x+jwAAAAA3LGUPQAAAAAAAAAAAAAAAAAAAACwhD08AAAAAAAAAAAAAAAAD0QZPbJAej7/Ln47",
    "FQnNPQAAAAAd5Gs6AAAAABispD0AAAAAAAAAAADceToAAAAAyq2IPTSdET4AAAAAAAAAACaxqz0AAAAAz/RzPZRzDT4AAAAA",
    "LssBPnV/Tj0AAAAAd0tzPQDRzj0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADTjhM8AAAAAAAAAADuCkc9XAEGPgAAAABIJPU8",
    "AAAAAIfDKj3r7So9AAAAALsrBz6dkbc779+7PAAAAAD5AF0+AAAAAAAAAAAe3SI9AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAM0SZD4cX4Y9AAAAAKKN+D0G2oI9pBsJPgAAAAA4uJM91679PQAAAAAAAAAAjJojPgAAAAAgC0M+AAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAtgkA8AAAAAA=="
])


def _synthetic_voice() -> np.ndarray:
    """2.7 s of a buzzy vowel with a gliding pitch, at 16 kHz (deterministic)."""
    t = np.arange(int(2.7 * 16000)) / 16000.0
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * ph) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.1 * x).astype(np.float32)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict:
    """{(voice, sentence index): (audio float32, sample rate)} spoken by espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng); it speaks the test sentences")
    folder = tmp_path_factory.mktemp("espeak")
    out = {}
    for v, (i, text) in itertools.product(VOICES, enumerate(SENTENCES)):
        path = folder / f"{v}-{i}.wav"
        subprocess.run([exe, "-v", v, "-w", str(path), text], check=True, capture_output=True, timeout=60)
        audio, rate = sf.read(path, dtype="float32")
        out[(v, i)] = (audio, rate)
    return out


@pytest.fixture(scope="session")
def checker() -> TakeChecker:
    return TakeChecker()


@pytest.fixture(scope="session")
def right_scores(speech, checker) -> dict:
    return {i: checker.score(*speech[("en-us", i)], SENTENCES[i]) for i in range(len(SENTENCES))}


# --------------------------------------------------------------------------- on script


def test_prompt_words_drop_tags_music_and_punctuation():
    assert prompt_words("Hello, [laughs] it’s 42 o'clock! ♪ la la ♪ — well-known [music]") == [
        "hello", "it's", "forty", "two", "o'clock", "la", "la", "well", "known"]
    assert prompt_words("[sighs] ... ♪") == []


def test_right_text_scores_high(right_scores):
    for i, s in right_scores.items():
        assert s.on_script is not None and s.on_script >= 0.8, (SENTENCES[i], s.on_script, s.missing_words)
        assert s.details["passed"], s.issues


def test_right_text_beats_every_wrong_text(speech, checker, right_scores):
    for i, j in itertools.permutations(range(3), 2):  # every ordered pair of three sentences
        wrong = checker.score(*speech[("en-us", i)], SENTENCES[j])
        assert wrong.on_script is not None
        assert right_scores[i].on_script > wrong.on_script, (i, j, right_scores[i].on_script, wrong.on_script)
        assert wrong.on_script < 0.8 and wrong.missing_words
        assert any(x.startswith("off script") for x in wrong.issues)


def test_other_voice_right_text_beats_wrong(speech, checker):
    audio = speech[("en-us+f3", 1)]
    right = checker.score(*audio, SENTENCES[1])
    wrong = checker.score(*audio, SENTENCES[0])
    assert right.on_script > wrong.on_script


def test_take_that_stops_half_way_loses_its_last_words(speech, checker):
    audio, rate = speech[("en-us", 0)]
    half = checker.score(audio[: len(audio) // 2], rate, SENTENCES[0])
    assert half.on_script is not None and half.on_script < 0.8
    assert "bank" in half.missing_words


def test_scores_are_deterministic(speech, checker):
    ref = checker.reference(*speech[("en-us", 0)])
    a = checker.score(*speech[("en-us", 1)], SENTENCES[1], reference=ref)
    b = checker.score(*speech[("en-us", 1)], SENTENCES[1], reference=ref)
    assert a == b and json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_language_without_a_model_is_not_checked(speech, checker):
    s = checker.score(*speech[("en-us", 0)], "Der schnelle braune Fuchs springt über den faulen Hund.", language="de")
    assert s.on_script is None and s.missing_words == []
    assert "on-script not checked for de" in s.issues
    assert s.details["passed"]  # not checked is not a failure


def test_unknown_words_are_reported_not_counted(speech, checker):
    s = checker.score(*speech[("en-us", 1)], SENTENCES[1].replace("summer", "zzxqv"))
    assert s.details["unknown_words"] == ["zzxqv"] and s.details["words_checked"] == 10
    assert any("zzxqv" in x for x in s.issues) and "zzxqv" not in s.missing_words


# --------------------------------------------------------------------------- speaker


def test_encoder_matches_resemblyzer():
    golden = np.frombuffer(base64.b64decode(_GOLDEN), dtype="<f4")
    ours = SpeakerEncoder.load().embed_wav(_synthetic_voice())
    assert ours.shape == (256,)
    assert cosine(ours, golden) > 0.99999 and np.abs(ours - golden).max() < 1e-4


def test_mel_spectrogram_shape_and_energy():
    x = _synthetic_voice()
    mel = mel_spectrogram(x)
    assert mel.shape == (1 + len(x) // 160, 40) and mel.dtype == np.float32
    assert np.all(mel >= 0) and mel[:, :8].sum() > mel[:, -8:].sum()  # a low voice: energy in the low bands


def test_same_voice_is_more_similar_than_same_sentence_in_another_voice(speech, checker):
    refs = {(v, i): checker.reference(*speech[(v, i)]) for v in VOICES for i in (0, 1)}
    for v, other in itertools.permutations(VOICES, 2):
        same_voice = cosine(refs[(v, 0)].embedding, refs[(v, 1)].embedding)
        same_sentence = cosine(refs[(v, 0)].embedding, refs[(other, 0)].embedding)
        assert same_voice > same_sentence + 0.1, (v, other, same_voice, same_sentence)
    s = checker.score(*speech[("en-us", 2)], SENTENCES[2], reference=refs[("en-us", 0)])
    d = checker.score(*speech[("en-us", 2)], SENTENCES[2], reference=refs[("en-us+f3", 0)])
    assert s.speaker_similarity > d.speaker_similarity
    assert s.details["passed"] and not d.details["passed"]
    assert any(x.startswith("different speaker") for x in d.issues)


def test_reference_may_be_raw_audio(speech, checker):
    audio, rate = speech[("en-us", 0)]
    take = speech[("en-us", 3)]
    by_ref = checker.score(*take, SENTENCES[3], reference=checker.reference(audio, rate))
    by_audio = checker.score(*take, SENTENCES[3], reference=audio)
    assert by_ref.speaker_similarity == by_audio.speaker_similarity


def test_no_reference_no_similarity(right_scores):
    assert right_scores[0].speaker_similarity is None


def test_voice_reference_audio_decodes_the_fine_prompt(tiny_native):
    from bark_core.codec import load_codec
    from bark_core.voices import load_voice

    codec = load_codec(models_folder=tiny_native)
    voice = load_voice("v2/en_speaker_6", models_folder=tiny_native)
    audio = voice_reference_audio(voice, codec)
    assert audio.dtype == np.float32 and audio.shape == (voice.fine.shape[1] * codec.hop_length,)


# --------------------------------------------------------------------------- signal


def _tone(seconds: float, amp: float = 0.3, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)) / 1.3).astype(np.float32)


def _signal_issues(audio, text="la la la la la la la", rate=SR) -> list[str]:
    return TakeChecker().score(audio, rate, text, language="xx").issues


def test_clean_tone_has_no_signal_issue():
    assert _signal_issues(_tone(3.0)) == ["on-script not checked for xx"]


def test_clipping_is_flagged():
    clipped = np.clip(_tone(3.0, amp=3.0), -1.0, 1.0)
    assert any(x.startswith("clipping") for x in _signal_issues(clipped))


def test_silence_in_the_middle_is_flagged():
    audio = np.concatenate([_tone(1.0), np.zeros(int(2.0 * SR), np.float32), _tone(1.0)])
    issues = _signal_issues(audio)
    assert any(x.startswith("long silence: 2.0 s at 1.0 s") for x in issues), issues
    assert measure(audio, SR).longest_silence_s == pytest.approx(2.0, abs=0.05)


def test_silence_at_the_ends_is_not_flagged():
    audio = np.concatenate([np.zeros(2 * SR, np.float32), _tone(2.0), np.zeros(2 * SR, np.float32)])
    assert not any(x.startswith("long silence") for x in _signal_issues(audio))


def test_very_short_take_stopped_early():
    text = "This sentence has a good many words in it and takes several seconds to say out loud."
    issues = _signal_issues(_tone(0.6), text)
    assert any(x.startswith("stopped early") for x in issues), issues


def test_level_checks():
    assert any(x.startswith("too quiet") for x in _signal_issues(_tone(3.0, amp=0.005)))
    assert any(x.startswith("too loud") for x in _signal_issues(_tone(3.0, amp=0.999 * 1.3)))
    assert any(x.startswith("silent take") for x in _signal_issues(np.zeros(SR, np.float32)))


def test_bad_input_is_refused_with_a_sentence():
    c = TakeChecker()
    with pytest.raises(ValueError, match="mono"):
        c.score(np.zeros((2, 100), np.float32), SR, "hi")
    with pytest.raises(ValueError, match="sample rate"):
        c.score(np.zeros(100, np.float32), 0, "hi")
    with pytest.raises(ValueError, match="NaN"):
        c.score(np.full(100, np.nan, np.float32), SR, "hi")
    with pytest.raises(ValueError, match="between 0 and 1"):
        Thresholds(min_on_script=2).validate()


# --------------------------------------------------------------------------- ranking and thresholds


def _fake(on_script, sim, passed_signal=True) -> TakeScore:
    signal = {"clipped_fraction": 0.0 if passed_signal else 0.5, "longest_silence_s": 0.0, "longest_silence_at_s": 0.0,
              "speech_s": 2.0, "level_dbfs": -20.0}
    return TakeScore(on_script, [], sim, [], {"signal": signal, "expected_s": 2.0, "words_checked": 10, "missing_count": 0})


def test_rank_puts_passing_takes_first_then_by_score():
    scores = [_fake(0.7, 0.9), _fake(0.95, 0.8), _fake(1.0, 0.9, passed_signal=False), _fake(0.95, 0.85), _fake(0.9, 0.9)]
    assert rank(scores) == [3, 1, 4, 2, 0]  # failing takes too: higher on-script first
    assert rank(scores, Thresholds(max_clipped_fraction=None)) == [2, 3, 1, 4, 0]
    assert rank([]) == []


def test_rank_dicts_ranks_stored_scores_and_puts_unscored_takes_last():
    from bark_core.takecheck import rank_dicts

    scores = [_fake(0.7, 0.9), _fake(0.95, 0.8), _fake(1.0, 0.9, passed_signal=False), _fake(0.95, 0.85), _fake(0.9, 0.9)]
    stored = [s.to_dict() for s in scores]
    assert TakeScore.from_dict(stored[1]) == scores[1]
    assert rank_dicts(stored) == rank(scores)
    assert rank_dicts([None, *stored[:2]]) == [2, 1, 0]
    assert rank_dicts([]) == []


def test_passes_follows_thresholds(checker):
    s = _fake(0.85, 0.7)
    assert not checker.passes(s)
    assert checker.passes(s, Thresholds(min_speaker_similarity=0.6))
    assert not checker.passes(s, Thresholds(min_on_script=0.9, min_speaker_similarity=None))


# --------------------------------------------------------------------------- CLI


def _cli(capsys, *argv) -> tuple[int, str, str]:
    from bark_core.cli import main

    rc = main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json(speech, tmp_path, capsys):
    audio, rate = speech[("en-us", 1)]
    take, ref = tmp_path / "take.flac", tmp_path / "ref.wav"
    sf.write(take, audio, rate)
    sf.write(ref, speech[("en-us", 0)][0], rate)
    rc, out, _ = _cli(capsys, take, "--text", SENTENCES[1], "--reference", ref, "--json")
    assert rc == 0
    data = json.loads(out)
    assert 0.8 <= data["on_script"] <= 1.0 and 0.0 <= data["speaker_similarity"] <= 1.0
    assert data["issues"] == [] and data["passed"] is True
    rc, out, _ = _cli(capsys, take, "--text", SENTENCES[1], "--language", "ja", "--json")
    data = json.loads(out)
    assert data["on_script"] is None and data["speaker_similarity"] is None
    assert "on-script not checked for ja" in data["issues"]


def test_cli_text_output_and_errors(speech, tmp_path, capsys):
    take = tmp_path / "take.wav"
    sf.write(take, speech[("en-us", 2)][0], speech[("en-us", 2)][1])
    rc, out, _ = _cli(capsys, take, "--text", SENTENCES[0])
    assert rc == 0 and "on-script: " in out and "passed: no" in out and "missing words:" in out
    rc, _, err = _cli(capsys, tmp_path / "none.wav", "--text", "hi")
    assert rc == 1 and "does not exist" in err and "Traceback" not in err
    voice = tmp_path / "voice.npz"
    np.savez(voice, semantic_prompt=np.zeros(10, np.int64), coarse_prompt=np.zeros((2, 15), np.int64),
             fine_prompt=np.zeros((8, 15), np.int64))
    rc, _, err = _cli(capsys, take, "--text", "hi", "--reference", voice)
    assert rc == 1 and "needs the codec" in err
