"""Export: every format round-trips through soundfile; resampling only where a format needs it; zips; the post CLI."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import soundfile as sf

from bark_core import export
from bark_core.audiotools import PostProcess, measure_loudness
from bark_core.cli import main as cli_main
from bark_core.export import FORMATS, export_bytes, export_file, zip_generation
from bark_core.types import Voice
from bark_core.voices import load_voice_npz

SR = 24000
# Length tolerance on reading back, in samples. Measured with soundfile 0.14.0 / libsndfile 1.2.2:
# every format, the lossy ones included (Vorbis and Opus granule positions, MP3's LAME/Xing gapless
# header), gives back exactly the samples written, for lengths 1..48001 (1151/1152/1153 too).
LENGTH_TOLERANCE = {key: 0 for key in FORMATS}
# Lossless formats: at most half a quantisation step away.
LOSSLESS_ERROR = {"wav": 2 ** -15, "wav24": 2 ** -23, "wav32f": 0.0, "flac": 2 ** -15, "flac24": 2 ** -23}


def speechlike(n: int = SR + 123, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    x = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f, a in ((180, 0.4), (360, 0.3), (900, 0.2), (2200, 0.1)))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.4 * x * env).astype(np.float32)


def tiny_voice(t: int = 40) -> Voice:
    rng = np.random.default_rng(0)
    n = int(round(t * 1.5))
    fine = rng.integers(0, 1024, (8, n))
    return Voice(semantic=rng.integers(0, 10000, t), coarse=fine[:2].copy(), fine=fine, name="tiny")


def test_format_table_has_a_label_and_suffix_for_every_choice():
    assert [k for _, k in export.FORMAT_CHOICES] == ["wav", "wav24", "wav32f", "flac", "flac24", "ogg", "opus", "mp3"]
    for key, f in FORMATS.items():
        assert export.get_format(key) is f and f.label and f.suffix.startswith(".")
        assert export.format_for_path(f"x{f.suffix}", key) is f


@pytest.mark.parametrize("key", list(FORMATS))
def test_every_format_round_trips_at_24khz_mono(key, tmp_path):
    x = speechlike()
    data = export_bytes(x, SR, key)
    y, sr = sf.read(io.BytesIO(data), dtype="float32")
    info = sf.info(io.BytesIO(data))
    assert sr == SR and y.ndim == 1 and info.channels == 1
    assert info.subtype == FORMATS[key].subtype
    assert abs(len(y) - len(x)) <= LENGTH_TOLERANCE[key]
    if key in LOSSLESS_ERROR:
        assert float(np.max(np.abs(y - x))) <= LOSSLESS_ERROR[key] + 1e-9
    else:  # lossy: same waveform, aligned (no encoder delay left), same level
        corr = float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))
        assert corr > 0.8, corr
        assert abs(20 * np.log10(np.std(y) / np.std(x))) < 1.0
    path = export_file(x, SR, tmp_path / f"take{FORMATS[key].suffix}", fmt=key)
    # A file holds what a download holds (Ogg streams get a random serial number, so compare samples).
    np.testing.assert_array_equal(sf.read(str(path), dtype="float32")[0], y)
    assert not list(tmp_path.glob(".partial-*"))


@pytest.mark.parametrize("n", [1, 1151, 1152, 1153])
@pytest.mark.parametrize("key", ["ogg", "opus", "mp3"])
def test_lossy_lengths_survive_frame_boundaries(key, n):
    y, _ = sf.read(io.BytesIO(export_bytes(speechlike(n), SR, key)), dtype="float32")
    assert abs(len(y) - n) <= LENGTH_TOLERANCE[key]


def test_resampled_only_where_the_format_needs_it():
    x = speechlike(44100)
    for key, rate in (("wav", 44100), ("flac", 44100), ("ogg", 44100), ("mp3", 44100), ("opus", 48000)):
        assert export.output_rate(key, 44100) == rate
        y, sr = sf.read(io.BytesIO(export_bytes(x, 44100, key)), dtype="float32")
        assert sr == rate and abs(len(y) - len(x) * rate / 44100) <= 1
    assert export.output_rate("mp3", 96000) == 48000 and export.output_rate("opus", 22050) == 24000
    assert export.output_rate("opus", 24000) == 24000 and export.output_rate("mp3", 24000) == 24000


def test_suffix_picks_the_format_and_mismatches_are_refused(tmp_path):
    x = speechlike(2400)
    for name, subtype in (("a.wav", "PCM_16"), ("a.flac", "PCM_16"), ("a.ogg", "VORBIS"), ("a.opus", "OPUS"), ("a.mp3", "MPEG_LAYER_III")):
        assert sf.info(str(export_file(x, SR, tmp_path / name))).subtype == subtype
    assert sf.info(str(export_file(x, SR, tmp_path / "b.wav", fmt="wav24"))).subtype == "PCM_24"
    assert sf.info(str(export_file(x, SR, tmp_path / "b.ogg", fmt="opus"))).subtype == "OPUS"
    with pytest.raises(ValueError, match="must end in .mp3"):
        export_file(x, SR, tmp_path / "c.wav", fmt="mp3")
    with pytest.raises(ValueError, match="Cannot tell the audio format"):
        export_file(x, SR, tmp_path / "c.aiff")
    with pytest.raises(ValueError, match="Unknown audio format"):
        export_bytes(x, SR, "m4a")


def test_bad_audio_is_refused():
    with pytest.raises(ValueError, match="not numbers"):
        export_bytes(np.array([0.0, np.nan], np.float32), SR, "wav")
    with pytest.raises(ValueError, match="empty"):
        export_bytes(np.zeros(0, np.float32), SR, "mp3")
    with pytest.raises(ValueError, match="sample rate"):
        export_bytes(speechlike(100), -1, "wav")


def test_over_full_scale_is_clipped_not_wrapped_except_in_float():
    x = np.array([0.5, 1.5, -2.0, 0.25] * 100, np.float32)
    y, _ = sf.read(io.BytesIO(export_bytes(x, SR, "wav")), dtype="float32")
    assert y[1] == pytest.approx(1.0, abs=1e-4) and y[2] == pytest.approx(-1.0, abs=1e-4)
    f, _ = sf.read(io.BytesIO(export_bytes(x, SR, "wav32f")), dtype="float32")
    np.testing.assert_array_equal(f, x)


def test_post_processing_on_export():
    x = np.concatenate([np.zeros(2400, np.float32), speechlike(2 * SR), np.zeros(2400, np.float32)])
    data = export_bytes(x, SR, "flac24", post=PostProcess(trim_silence=True, normalize_lufs=-20.0))
    y, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert len(y) < len(x) - 4000
    assert abs(measure_loudness(y, SR) - (-20.0)) < 0.5


def test_zip_of_a_history_row(tmp_path):
    takes = [speechlike(SR, seed=1), speechlike(SR // 2, seed=2)]
    voice = tiny_voice()
    settings = {"text": "Hello [laughs]", "seed": np.int64(7), "semantic_temp": 0.7, "voice": None}
    blob = zip_generation(takes, SR, settings, voices=[voice, None], fmt="mp3", stem="row 12/../x")
    assert blob == zip_generation(takes, SR, settings, voices=[voice, None], fmt="mp3", stem="row 12/../x")  # deterministic
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = zf.namelist()
        assert names == ["row_12_.._x-1.mp3", "row_12_.._x-1.npz", "row_12_.._x-2.mp3", "settings.json"]
        y, sr = sf.read(io.BytesIO(zf.read(names[0])), dtype="float32")
        assert sr == SR and len(y) == SR
        (tmp_path / "v.npz").write_bytes(zf.read(names[1]))
        loaded = load_voice_npz(tmp_path / "v.npz")
        np.testing.assert_array_equal(loaded.fine, voice.fine)
        assert json.loads(zf.read("settings.json")) == {"text": "Hello [laughs]", "seed": 7, "semantic_temp": 0.7, "voice": None}
    one = zip_generation(takes[0], SR, {}, voices=[voice], extra={"timeline.json": b"{}"})
    assert zipfile.ZipFile(io.BytesIO(one)).namelist() == ["bark.wav", "bark.npz", "settings.json", "timeline.json"]


def test_zip_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match="JSON"):
        zip_generation([speechlike(100)], SR, {"x": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        zip_generation([speechlike(100)], SR, {"x": object()})
    with pytest.raises(ValueError, match="no audio"):
        zip_generation([], SR, {})
    with pytest.raises(ValueError, match="plain file name"):
        zip_generation([speechlike(100)], SR, {}, extra={"../evil": b""})
    bad = Voice(semantic=np.zeros(3, np.int64), coarse=np.zeros((2, 3), np.int64), fine=np.zeros((8, 3), np.int64))
    with pytest.raises(ValueError, match="voice"):
        zip_generation([speechlike(100)], SR, {}, voices=[bad])


# --------------------------------------------------------------------------- python -m bark_core post


def test_post_command_converts_and_processes(tmp_path, capsys):
    src = tmp_path / "in.wav"
    x = np.concatenate([np.zeros(4800, np.float32), speechlike(2 * SR), np.zeros(4800, np.float32)])
    sf.write(str(src), x, SR, subtype="PCM_16")
    out = tmp_path / "out.opus"
    assert cli_main(["post", str(src), str(out), "--normalize", "-18", "--trim-silence", "--fade-ms", "15", "--limit-db", "-2"]) == 0
    y, sr = sf.read(str(out), dtype="float32")
    assert sr == SR and len(y) < len(x) - 9000
    assert abs(measure_loudness(y, SR) + 18.0) < 0.5
    err = capsys.readouterr().err
    assert "LUFS" in err and "Trimmed" in err
    wav24 = tmp_path / "out.wav"
    assert cli_main(["post", str(src), str(wav24), "--format", "wav24"]) == 0
    assert sf.info(str(wav24)).subtype == "PCM_24"
    np.testing.assert_allclose(sf.read(str(wav24), dtype="float32")[0], sf.read(str(src), dtype="float32")[0], atol=1e-6)


def test_post_command_resamples_only_for_opus_and_says_so(tmp_path, capsys):
    src = tmp_path / "in.flac"
    sf.write(str(src), np.stack([speechlike(44100), speechlike(44100, 3)], axis=1), 44100)
    assert cli_main(["post", str(src), str(tmp_path / "o.opus")]) == 0
    assert "resampled to 48000 Hz" in capsys.readouterr().err
    info = sf.info(str(tmp_path / "o.opus"))
    assert info.samplerate == 48000 and info.channels == 2
    assert cli_main(["post", str(src), str(tmp_path / "o.mp3")]) == 0
    assert sf.info(str(tmp_path / "o.mp3")).samplerate == 44100
    assert "resampled" not in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--normalize", "10"], "loudness target"),
    (["--normalize", "-100"], "loudness target"),
    (["--fade-ms", "-5"], "fade-in"),
    (["--limit-db", "3"], "peak limit"),
])
def test_post_command_bad_settings_are_one_line(tmp_path, capsys, args, message):
    src = tmp_path / "in.wav"
    sf.write(str(src), speechlike(SR), SR)
    assert cli_main(["post", str(src), str(tmp_path / "o.wav"), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "o.wav").exists()


def test_post_command_bad_files(tmp_path, capsys):
    (tmp_path / "text.wav").write_text("not audio")
    assert cli_main(["post", str(tmp_path / "text.wav"), str(tmp_path / "o.wav")]) == 1
    assert "Cannot read" in capsys.readouterr().err
    assert cli_main(["post", str(tmp_path / "missing.wav"), str(tmp_path / "o.wav")]) == 1
    assert "no audio file" in capsys.readouterr().err
    sf.write(str(tmp_path / "nan.wav"), np.array([0.0, np.nan, 0.1] * 100, np.float32), SR, subtype="FLOAT")
    assert cli_main(["post", str(tmp_path / "nan.wav"), str(tmp_path / "o.wav")]) == 1
    assert "not numbers" in capsys.readouterr().err
