"""Audio tools: exact trimming, exact fades, BS.1770 loudness to a target, peak limiting, bad input."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from bark_core import audiotools as at
from bark_core.audiotools import PostProcess, apply, process

SR = 24000


def tone(n: int, freq: float = 1000.0, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    """A cosine: starts at its peak; with n a multiple of the period it also ends near one."""
    return (amp * np.cos(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def multitone(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Speech-like: a few partials under a 4 Hz syllable envelope, with pauses."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f, a in ((150, 0.4), (300, 0.3), (800, 0.2), (2500, 0.08)))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.5 * t) > -0.6)
    return (0.5 * x * env).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Real speech from espeak-ng, resampled to 24 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from scipy.signal import resample_poly

    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello there. This is a short test of loudness, spoken by a robot."],
                   check=True, capture_output=True)
    x, sr = sf.read(str(path), dtype="float32")
    return resample_poly(x, SR, sr).astype(np.float32)


# --------------------------------------------------------------------------- trimming


@pytest.mark.parametrize("lead,tail", [(1001, 777), (0, 500), (240, 0), (5, 3)])
def test_trim_keeps_exactly_the_tone(lead, tail):
    body = tone(2400)  # 100 periods of 1 kHz: first and last samples are near the peak
    x = np.concatenate([np.zeros(lead, np.float32), body, np.zeros(tail, np.float32)])
    assert at.silent_edges(x, SR) == (lead, lead + len(body))
    np.testing.assert_array_equal(at.trim_silence(x, SR), body)


def test_trim_is_exact_under_a_quiet_hiss_and_on_stereo():
    rng = np.random.default_rng(1)
    body = tone(4800, freq=500)
    x = np.concatenate([np.zeros(3000, np.float32), body, np.zeros(2000, np.float32)])
    x = x + (10 ** (-70 / 20) * rng.standard_normal(len(x))).astype(np.float32)  # -70 dBFS hiss: 40+ dB below
    assert at.silent_edges(x, SR) == (3000, 7800)
    stereo = np.stack([x, 0.5 * x], axis=1)
    trimmed = at.trim_silence(stereo, SR)
    assert trimmed.shape == (4800, 2)
    np.testing.assert_array_equal(trimmed, stereo[3000:7800])


def test_trim_keep_margin_and_one_stray_click_does_not_stop_it():
    body = tone(2400)
    x = np.concatenate([np.zeros(2400, np.float32), body, np.zeros(2400, np.float32)])
    out = at.trim_silence(x, SR, keep_ms=10)  # 240 samples each side
    np.testing.assert_array_equal(out, x[2400 - 240: 4800 + 240])
    clicked = x.copy()
    clicked[10] = 0.01  # one sample at -34 dB of the tone's peak: its 10 ms frame's RMS is far below -40 dB
    assert at.silent_edges(clicked, SR) == (2400, 4800)


def test_trim_of_silence_says_so():
    with pytest.raises(ValueError, match="silent throughout"):
        at.trim_silence(np.zeros(1000, np.float32), SR)


# --------------------------------------------------------------------------- fades


def test_fades_are_exact_in_samples():
    x = np.ones(4800, np.float32)
    y = at.fade(x, SR, fade_in_ms=10, fade_out_ms=20.5)  # 240 and 492 samples
    assert y[0] == 0.0 and y[-1] == 0.0
    assert np.all(np.diff(y[:240]) > 0) and y[239] < 1.0
    np.testing.assert_array_equal(y[240: 4800 - 492], x[240: 4800 - 492])
    assert y[4800 - 493] == 1.0 and y[4800 - 492] < 1.0
    np.testing.assert_array_equal(x, np.ones(4800, np.float32))  # input untouched
    assert at.ms_to_samples(20.5, SR) == 492


def test_fade_longer_than_the_audio_covers_all_of_it_and_negative_is_refused():
    y = at.fade(np.ones(100, np.float32), SR, fade_in_ms=1000)
    assert y[0] == 0.0 and np.all(np.diff(y) > 0)
    for bad in (-1, float("nan"), "10"):
        with pytest.raises(ValueError, match="fade-in"):
            at.fade(np.ones(100, np.float32), SR, fade_in_ms=bad)
    with pytest.raises(ValueError, match="fade-out"):
        PostProcess(fade_out_ms=-5).validate()


# --------------------------------------------------------------------------- loudness


def test_meter_reads_the_bs1770_calibration_tone():
    # BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS.
    x = np.sin(2 * np.pi * 997 * np.arange(3 * 48000) / 48000).astype(np.float32)
    assert at.measure_loudness(x, 48000) == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("target", [-30.0, -23.0, -16.0, -14.0])
def test_speech_is_normalised_within_half_a_lu(speech, target):
    out = process(speech, SR, PostProcess(normalize_lufs=target, limit_db=-1.0))
    assert abs(at.measure_loudness(out.audio, SR) - target) < 0.5
    assert out.peak_db <= -1.0 + 1e-4


@pytest.mark.parametrize("target", [-23.0, -16.0])
def test_multitone_is_normalised_within_half_a_lu(target):
    x = multitone()
    y = apply(x, SR, PostProcess(normalize_lufs=target))  # peaks stay under full scale: one gain, no limiter
    assert abs(at.measure_loudness(y, SR) - target) < 0.5
    np.testing.assert_allclose(y / max(1e-9, float(np.max(np.abs(y)))), x / float(np.max(np.abs(x))), atol=1e-5)
    z = apply(x, SR, PostProcess(normalize_lufs=target, trim_silence=True, fade_in_ms=5, fade_out_ms=5))
    assert abs(at.measure_loudness(z, SR) - target) < 0.5


def test_normalising_past_full_scale_limits_at_minus_one_and_says_so(speech):
    out = process(speech * 0.05, SR, PostProcess(normalize_lufs=-12.0))
    assert out.peak_db <= -1.0 + 1e-4
    assert any("limited at -1 dBFS" in n for n in out.notes)


def test_unreachable_target_is_reported(speech):
    out = process(speech, SR, PostProcess(normalize_lufs=-5.0, limit_db=-6.0))
    assert any("cannot be reached" in n for n in out.notes)
    assert out.peak_db <= -6.0 + 1e-4


def test_loudness_refuses_short_or_silent_audio():
    with pytest.raises(ValueError, match="at least 0.4 s"):
        at.measure_loudness(tone(2400), SR)
    assert at.measure_loudness(np.zeros(SR, np.float32), SR) == -math.inf
    with pytest.raises(ValueError, match="silent"):
        apply(np.zeros(SR, np.float32), SR, PostProcess(normalize_lufs=-16))
    with pytest.raises(ValueError, match="at most 5 channels"):
        at.measure_loudness(np.full((SR, 6), 0.1, np.float32), SR)


@pytest.mark.parametrize("target", [10, -100, 0, float("nan"), float("inf"), True, "loud"])
def test_absurd_loudness_targets_are_refused(target):
    with pytest.raises(ValueError, match="loudness target"):
        apply(multitone(), SR, PostProcess(normalize_lufs=target))


# --------------------------------------------------------------------------- limiting


def test_limiter_keeps_every_sample_under_the_ceiling_and_never_boosts():
    rng = np.random.default_rng(2)
    x = (multitone() * 3 + 0.3 * rng.standard_normal(3 * SR) * (rng.random(3 * SR) > 0.999)).astype(np.float32)
    for ceiling in (-1.0, -6.0, 0.0):
        y = at.limit_peaks(x, SR, ceiling)
        assert float(np.max(np.abs(y))) <= 10 ** (ceiling / 20) + 1e-7
        assert np.all(np.abs(y) <= np.abs(x) + 1e-7)
    quiet = x * 0.01
    np.testing.assert_array_equal(at.limit_peaks(quiet, SR, -1.0), quiet)  # nothing to do: unchanged


def test_limiter_gain_is_smooth_around_a_single_peak():
    x = np.full(4800, 0.5, np.float32)
    x[2400] = 2.0
    y = at.limit_peaks(x, SR, -6.0, lookahead_ms=5, release_ms=0)
    gain = y / x
    assert gain[2400] == pytest.approx(10 ** (-6 / 20) / 2.0, rel=1e-4)
    assert gain[2400 - 121] == pytest.approx(1.0)  # 5 ms = 120 samples of ramp before the peak
    assert np.all(np.abs(np.diff(gain[2400 - 121: 2401])) < 0.01)  # a ramp, not a step


def test_limit_settings_are_checked():
    for bad in (3.0, -40.0, float("nan")):
        with pytest.raises(ValueError, match="peak limit"):
            PostProcess(limit_db=bad).validate()


# --------------------------------------------------------------------------- bad audio


@pytest.mark.parametrize("audio,match", [
    (np.array([0.1, np.nan, 0.2], np.float32), "not numbers"),
    (np.array([0.1, np.inf], np.float32), "not numbers"),
    (np.zeros(0, np.float32), "empty"),
    (np.zeros((10, 3, 2), np.float32), "shaped"),
    (np.array(["a", "b"]), "numbers"),
])
def test_bad_audio_is_refused_with_a_sentence(audio, match):
    with pytest.raises(ValueError, match=match):
        apply(audio, SR, PostProcess(trim_silence=True))


def test_integer_pcm_is_scaled_and_default_post_is_identity():
    pcm = (tone(2400) * 32767).astype(np.int16)
    out = apply(pcm, SR, PostProcess())
    assert out.dtype == np.float32 and float(np.max(np.abs(out))) == pytest.approx(0.5, abs=1e-3)
    assert PostProcess().is_identity and not PostProcess(fade_in_ms=1).is_identity
    with pytest.raises(ValueError, match="sample rate"):
        apply(tone(100), 0, PostProcess())
