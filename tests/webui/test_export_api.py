"""/export (gradio_client): one take of your own history as WAV 16/24/float, FLAC, OGG Vorbis, Opus or MP3, with
the audio tools (loudness, trimmed silence, fades); another client's id gets a sentence."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402

FORMATS = {"wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "float": ("WAV", "FLOAT"), "flac": ("FLAC", None),
           "ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"), "mp3": ("MP3", None)}


@pytest.fixture(scope="module")
def made(tiny_engine, tmp_path_factory):
    from conftest import Running

    r = Running(tiny_engine, tmp_path_factory.mktemp("export-api"), request_defaults={"max_seconds": 1.0})
    c = api_client(r.url, verbose=False)
    c.predict(text="Export me, please.", seed=4, takes=2, api_name="/generate")
    rows, files = c.predict(api_name="/history")
    yield r, c, rows[0], files
    r.close()


def test_every_format_round_trips(made):
    r, c, row, files = made
    original, rate = sf.read(files[1], dtype="float32")
    for fmt, (container, subtype) in FORMATS.items():
        path = c.predict(gen_id=row["id"], take=1, format=fmt, api_name="/export")
        info = sf.info(path)
        assert info.format == container and (subtype is None or info.subtype == subtype), (fmt, info)
        audio, sr = sf.read(path, dtype="float32")
        assert sr == 24_000 and audio.ndim == 1, fmt
        assert abs(len(audio) - len(original)) <= 320 + (312 if fmt == "opus" else 0) + (1152 if fmt == "mp3" else 0), \
            (fmt, len(audio), len(original))
        if fmt == "float":
            np.testing.assert_array_equal(audio, original)  # lossless and untouched without tools
        if fmt in ("wav16", "wav24", "flac"):
            assert np.max(np.abs(audio - original)) < 1e-3, fmt


def test_tools_apply_loudness_and_fades(made):
    from bark_core import audiotools

    r, c, row, files = made
    path = c.predict(gen_id=row["id"], take=0, format="wav24", normalize=-20, fade_ms=50, api_name="/export")
    audio, sr = sf.read(path, dtype="float32")
    assert abs(audiotools.measure_loudness(audio, sr) + 20) <= 0.5
    assert abs(audio[0]) < 1e-3 and abs(audio[-1]) < 1e-3  # faded in and out
    trimmed = c.predict(gen_id=row["id"], take=0, format="float", trim_silence=True, api_name="/export")
    assert len(sf.read(trimmed)[0]) <= len(sf.read(files[0])[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(take=2), "take index"),
    (dict(take=-1), "take index"),
    (dict(format="aiff"), "Unknown audio format"),
    (dict(normalize=10), "LUFS"),
    (dict(fade_ms=-5), "fade"),
])
def test_bad_arguments_are_a_sentence(made, kwargs, message):
    r, c, row, files = made
    with pytest.raises(gradio_client.exceptions.AppError) as e:
        c.predict(gen_id=row["id"], api_name="/export", **kwargs)
    assert message.lower() in str(e.value).lower() and "Traceback" not in str(e.value)


def test_another_clients_id_is_refused(made):
    r, c, row, files = made
    other = api_client(r.url, verbose=False)
    for gen_id in (row["id"], "0" * 32, ""):
        with pytest.raises(gradio_client.exceptions.AppError, match="no generation with that id"):
            other.predict(gen_id=gen_id, api_name="/export")
