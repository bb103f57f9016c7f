"""``python -m bark_core generate``: what a folder without a codec can still do, and the audio-tool flags."""

from __future__ import annotations

import shutil

import numpy as np
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
