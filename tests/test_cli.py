"""``python -m bark_core generate``: what a folder without a codec can still do, and the audio-tool flags."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from bark_core.cli import main


def test_tokens_only_needs_no_codec(tiny_native, tmp_path, capsys):
    folder = tmp_path / "no-codec"
    shutil.copytree(tiny_native, folder)
    shutil.rmtree(folder / "codec")
    out = tmp_path / "take.wav"
    assert main(["generate", "Hi there.", "--models", str(folder), "--offline", "--device", "cpu",
                 "--tokens-only", "--max-seconds", "0.2", "--seed", "3", "-o", str(out)]) == 0
    with np.load(out.with_suffix(".npz"), allow_pickle=False) as z:
        assert z["fine_prompt"].shape[0] == 8
    assert not out.exists()
    # audio needs the codec, and says so in one line
    assert main(["generate", "Hi there.", "--models", str(folder), "--offline", "--device", "cpu",
                 "--max-seconds", "0.2", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "codec" in err.lower()


def test_generate_writes_the_format_and_applies_the_audio_tools(tiny_native, tmp_path):
    out = tmp_path / "take.flac"
    assert main(["generate", "Hi there.", "--models", str(tiny_native), "--offline", "--device", "cpu",
                 "--max-seconds", "0.3", "--seed", "3", "-o", str(out), "--fade-ms", "20", "--limit-db", "-6"]) == 0
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24_000 and sf.info(out).format == "FLAC"
    assert np.max(np.abs(audio)) <= 10 ** (-6 / 20) + 1e-3
    assert abs(audio[0]) < 1e-3  # faded in


def test_rank_and_retake_score_every_take_and_write_them_best_first(tiny_native, tmp_path, capsys):
    out = tmp_path / "take.wav"
    assert main(["generate", "Hello there.", "--models", str(tiny_native), "--offline", "--device", "cpu",
                 "--max-seconds", "0.2", "--seed", "3", "--takes", "2", "--rank", "--retake", "2", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("take ")]
    # random weights make noise: no take passes, so both retakes run; four takes, ranked, four files
    assert len(lines) == 4 and "retake 2: seed 6" in err
    assert all("on script" in line for line in lines)
    assert sorted(p.name for p in tmp_path.glob("take-*.wav")) == [f"take-{k}.wav" for k in range(1, 5)]
    assert main(["generate", "x", "--models", str(tiny_native), "--tokens-only", "--rank", "-o", str(out)]) == 1


# --------------------------------------------------------------------------- issue 22 #7: offline found at once


@pytest.fixture
def no_hub(monkeypatch):
    """The Hub unreachable (the probe says so; nothing touches the network) and HF_HUB_OFFLINE not set."""
    from bark_core import sources

    probes = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout=sources.HUB_PROBE_SECONDS: probes.append(timeout) or False)
    return probes


def test_generate_without_models_goes_offline_after_one_probe(no_hub, monkeypatch, tmp_path, capsys):
    from bark_core import engine as engine_mod

    asked = []

    def load(settings, **kw):  # what the engine was asked: offline, so huggingface_hub never retries
        asked.append(settings)
        raise engine_mod.sources.WeightsNotFound("Bark's weights are not here: they are not in the local cache and "
                                                 "offline mode is on.")

    monkeypatch.setattr(engine_mod.Engine, "load", staticmethod(load))
    assert main(["generate", "Hi.", "-o", str(tmp_path / "a.wav"), "--cache-dir", str(tmp_path / "c")]) == 1
    assert no_hub == [1.5] and asked[0].offline is True
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "working offline" in err and "error: Bark's weights are not here" in err


def test_clone_without_models_goes_offline_after_one_probe(no_hub, monkeypatch, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from bark_core import cloning

    wav = tmp_path / "speech.wav"
    t = np.arange(24_000 * 3) / 24_000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 24_000)
    asked = []
    real = cloning.VoiceCloner.load

    def load(settings, *a, **kw):
        asked.append(settings)
        return real(settings, *a, **kw)

    monkeypatch.setattr(cloning.VoiceCloner, "load", staticmethod(load))
    rc = main(["clone", str(wav), "-o", str(tmp_path / "me.npz"), "--cache-dir", str(tmp_path / "c"), "--device", "cpu"])
    assert rc == 1 and no_hub == [1.5] and asked[0].offline is True
    err = capsys.readouterr().err
    assert "working offline" in err and "offline mode is on" in err  # the good final error, from the cache lookup


def test_download_offline_says_so_without_trying(no_hub, monkeypatch, capsys):
    from bark_core import sources

    monkeypatch.setattr(sources, "download", lambda **kw: pytest.fail("no download may be tried offline"))
    assert main(["download", "--small"]) == 1
    assert no_hub == [1.5] and "cannot be reached" in capsys.readouterr().err


def test_a_local_models_folder_or_offline_flag_needs_no_probe(no_hub, tiny_native, tmp_path):
    assert main(["generate", "Hi there.", "--models", str(tiny_native), "--device", "cpu", "--max-seconds", "0.2",
                 "-o", str(tmp_path / "a.wav")]) == 0
    assert no_hub == []
