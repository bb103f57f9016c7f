"""Voice cloning (issue 11): audio in -> a Bark voice out, on tiny random HuBERT / quantizer / EnCodec.

Checked here: the quantizer loader against a reference written from the published architecture
(both versions), hidden_states[9] reaching the quantizer, EnCodec codes of a known signal, the
resampler, the automatic window and warnings, hostile inputs (one sentence, nothing written),
a pickle payload refused without running, the weights' resolution, and the whole path through
the CLI on espeak-ng speech into ``generate``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from bark_core import sources
from bark_core.cli import build_parser
from bark_core.cli import main as cli_main
from bark_core.cloning import (
    CloneSettings,
    VoiceCloner,
    check_recording,
    choose_window,
    encode_codes,
    pick_window,
    read_audio,
    resample,
    to_mono,
)
from bark_core.codec import Codec
from bark_core.engine import Engine, EngineSettings
from bark_core.quantizer import HubertQuantizer, QuantizerInfo, load_quantizer, save_quantizer
from bark_core.types import GenerationRequest
from bark_core.voices import load_voice_npz

ROOT = Path(__file__).resolve().parent.parent
SR = 24_000


# --------------------------------------------------------------------------- helpers and fixtures


def bursts(parts: list[tuple[str, float]], sr: int = SR, level: float = 0.3, seed: int = 0) -> np.ndarray:
    """A speech-like test signal: ("s", seconds) = a harmonic tone with a syllable-rate envelope,
    ("p", seconds) = a pause (faint noise at about -70 dBFS)."""
    rng = np.random.default_rng(seed)
    out = []
    for kind, seconds in parts:
        n = int(round(seconds * sr))
        t = np.arange(n) / sr
        if kind == "s":
            voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), start=1))
            env = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2.5 * t))
            out.append(level * env * voiced / 2.1)
        else:
            out.append(3e-4 * rng.standard_normal(n))
    return np.concatenate(out).astype(np.float32)


@pytest.fixture(scope="module")
def cloner(tiny_native) -> VoiceCloner:
    return VoiceCloner.load(CloneSettings(models=str(tiny_native), device="cpu", offline=True))


@pytest.fixture(scope="module")
def engine(tiny_native, tmp_path_factory) -> Engine:
    return Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32",
                                      cache_dir=str(tmp_path_factory.mktemp("cache"))))


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """Real speech: espeak-ng's en-us voice (22.05 kHz mono WAV), about 7 s."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng); it makes the speech these tests clone")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    text = "Hello there. This is a test of voice cloning with a synthetic voice. It ends at the end of a sentence."
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory) -> Path:
    """A speech-like 4 s test signal as a 24 kHz WAV (no espeak-ng needed)."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    sf.write(path, bursts([("p", 0.3), ("s", 3.5), ("p", 0.2)]), SR)
    return path


def _reference_quantizer(version: int, input_size: int, hidden: int, output: int) -> nn.Module:
    """The published quantizer, written here from its architecture (independent of bark_core)."""

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(input_size, hidden, 2, batch_first=True)
            if version == 1:
                self.intermediate = nn.Linear(hidden, 4096)
            self.fc = nn.Linear(4096 if version == 1 else hidden, output)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, x):  # (N, input) unbatched, as the published get_token calls it
            x, _ = self.lstm(x)
            if version == 1:
                x = self.intermediate(x)
            return self.softmax(self.fc(x))

        @torch.no_grad()
        def get_token(self, x):
            return torch.argmax(self(x), dim=1)

    return Reference().eval()


def _save_published(model: nn.Module, path: Path, info: dict | None) -> Path:
    """torch.save(state_dict), then the ``<name>/.info`` JSON appended to the zip (as published)."""
    torch.save(model.state_dict(), path)
    if info is not None:
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(f"{path.stem}/.info", json.dumps(info))
    return path


class _CreatesFile:
    """A pickle payload: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate_in,rate_out", [(22_050, 16_000), (44_100, 24_000), (48_000, 16_000), (16_000, 24_000),
                                               (96_000, 24_000)])
def test_resample_keeps_a_tone_and_the_length(rate_in, rate_out):
    n = 2 * rate_in
    x = np.sin(2 * np.pi * 440 * np.arange(n) / rate_in).astype(np.float32)
    y = resample(x, rate_in, rate_out)
    assert y.dtype == np.float32 and len(y) == math.ceil(n * rate_out / rate_in)
    expected = np.sin(2 * np.pi * 440 * np.arange(len(y)) / rate_out)
    assert np.abs(y - expected)[200:-200].max() < 2e-3


def test_resample_filters_what_the_new_rate_cannot_hold():
    rate_in, rate_out = 44_100, 16_000
    x = np.sin(2 * np.pi * 12_000 * np.arange(rate_in) / rate_in).astype(np.float32)  # above 8 kHz
    y = resample(x, rate_in, rate_out)
    assert np.sqrt(np.mean(y[200:-200] ** 2)) < 0.01 * np.sqrt(np.mean(x**2))  # not folded back as an alias
    np.testing.assert_array_equal(resample(x, rate_in, rate_in), x)


# --------------------------------------------------------------------------- the quantizer


@pytest.mark.parametrize("version,with_info", [(0, True), (1, True), (0, False), (1, False)])
def test_quantizer_loader_matches_the_published_architecture(tmp_path, version, with_info):
    torch.manual_seed(version)
    ref = _reference_quantizer(version, input_size=24, hidden=20, output=2_000)  # the loader takes any output size
    with torch.no_grad():  # wider than the default init, so that many different tokens win
        for p in ref.parameters():
            p.normal_(0.0, 0.5)
    info = {"input_size": 24, "hidden_size": 20, "output_size": 2_000, "version": version}
    path = _save_published(ref, tmp_path / "q.pth", info if with_info else None)
    ours = load_quantizer(path)
    assert ours.info == QuantizerInfo(24, 20, 2_000, version)
    features = torch.randn(300, 24)
    ref_tokens = ref.get_token(features)
    np.testing.assert_array_equal(ours.tokens(features).numpy(), ref_tokens.numpy())
    assert len(set(ref_tokens.tolist())) > 10  # a real comparison, not all one token
    with torch.no_grad():
        torch.testing.assert_close(torch.log_softmax(ours(features[None])[0], dim=-1), ref(features))


def test_save_quantizer_writes_the_published_format(tmp_path):
    model = HubertQuantizer(QuantizerInfo(8, 6, 100, 1))
    path = save_quantizer(model, tmp_path / "mine.pth")
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("mine/.info")) == {"input_size": 8, "hidden_size": 6, "output_size": 100, "version": 1}
    state = torch.load(path, weights_only=True)
    assert set(state) == set(model.state_dict()) and "intermediate.weight" in state


def test_a_pickle_payload_in_a_quantizer_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": _CreatesFile(marker)}, tmp_path / "evil.pth")  # a torch.save zip
    with open(tmp_path / "evil_raw.pth", "wb") as f:  # a bare pickle
        pickle.dump(_CreatesFile(marker), f)
    with pytest.raises(ValueError, match="Refusing quantizer file 'evil.pth'.*could run code"):
        load_quantizer(tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="not a quantizer checkpoint"):
        load_quantizer(tmp_path / "evil_raw.pth")
    assert not marker.exists()
    # The payload is real: an unsafe load runs it.
    proof = tmp_path / "proof"
    torch.save({"fc.weight": _CreatesFile(proof)}, tmp_path / "evil2.pth")
    torch.load(tmp_path / "evil2.pth", weights_only=False)
    assert proof.exists()


def test_unusable_quantizer_files_get_one_sentence(tmp_path):
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(ValueError, match="not a quantizer checkpoint"):
        load_quantizer(tmp_path / "text.pth")
    ref = _reference_quantizer(0, 24, 20, 10_000)
    lying = _save_published(ref, tmp_path / "lying.pth", {"input_size": 24, "hidden_size": 20, "output_size": 10_000,
                                                          "version": 1})
    with pytest.raises(ValueError, match="does not match a version 1 quantizer"):
        load_quantizer(lying)
    wrong_size = _save_published(ref, tmp_path / "size.pth", {"input_size": 32, "hidden_size": 20,
                                                              "output_size": 10_000, "version": 0})
    with pytest.raises(ValueError, match="does not match its declared sizes"):
        load_quantizer(wrong_size)
    torch.save({"something": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="does not hold quantizer weights"):
        load_quantizer(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="does not exist"):
        load_quantizer(tmp_path / "missing.pth")


# --------------------------------------------------------------------------- HuBERT and EnCodec


def test_make_test_weights_writes_the_cloning_weights(tiny_native):
    q = load_quantizer(tiny_native / "quantizer.pth")
    assert q.info == QuantizerInfo(input_size=32, hidden_size=16, output_size=10_000, version=0)
    with zipfile.ZipFile(tiny_native / "quantizer.pth") as zf:
        assert any(n.endswith("/.info") for n in zf.namelist())
    config = json.loads((tiny_native / "hubert" / "config.json").read_text())
    assert config["hidden_size"] == 32 and config["num_hidden_layers"] >= 9
    assert sources.resolve_hubert(str(tiny_native / "hubert")) == tiny_native / "hubert"


def test_hidden_state_9_is_what_reaches_the_quantizer(cloner, tiny_native):
    from transformers import HubertModel

    full = HubertModel.from_pretrained(str(tiny_native / "hubert"), local_files_only=True).eval()
    assert len(full.encoder.layers) == 10 and len(cloner.hubert.encoder.layers) == 9  # layer 10 dropped
    wav = bursts([("s", 2.0)], sr=16_000)
    with torch.no_grad():
        states = full(torch.from_numpy(wav)[None], output_hidden_states=True).hidden_states
    assert len(states) == 11 and states[9].shape == (1, 99, 32)  # 50 frames per second at 16 kHz
    seen = []
    hook = cloner.quantizer.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    try:
        tokens = cloner.semantic_tokens(wav)
    finally:
        hook.remove()
    assert len(seen) == 1 and seen[0].shape == (1, 99, 32)
    torch.testing.assert_close(seen[0][0], states[9][0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(seen[0][0], states[8][0]) and not torch.allclose(seen[0][0], states[10][0])
    np.testing.assert_array_equal(tokens, cloner.quantizer.tokens(states[9][0]).numpy())


def test_encodec_codes_of_a_known_signal(tiny_native):
    codec = Codec.from_folder(tiny_native / "codec")
    t = np.arange(SR) / SR
    signal = (0.5 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)  # 1 s
    codes = encode_codes(codec, signal)
    assert codes.shape == (8, 75) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 1024 and len(np.unique(codes)) > 1
    np.testing.assert_array_equal(codes, encode_codes(codec, signal))  # deterministic
    # The same codes by hand: encoder, then nearest codeword per codebook on the running residual.
    with torch.no_grad():
        residual = codec.model.encoder(torch.from_numpy(signal).view(1, 1, -1))[0].T  # (N, D)
        for q, layer in enumerate(codec.model.quantizer.layers[:8]):
            book = layer.codebook.embed  # (1024, D)
            idx = ((residual.double()[:, None, :] - book.double()[None]) ** 2).sum(-1).argmin(dim=1)
            np.testing.assert_array_equal(codes[q], idx.numpy())
            residual = residual - book[idx]
    assert codec.decode(torch.from_numpy(codes)).shape == (1, 75 * 320)  # round trip: one frame per 320 samples
    assert encode_codes(codec, signal[:1000]).shape == (8, 4)  # ceil(1000 / 320)


# --------------------------------------------------------------------------- window and warnings


def test_automatic_window_ends_at_a_pause_and_trims_silence():
    audio = bursts([("p", 1.0), ("s", 4.0), ("p", 0.5), ("s", 4.0), ("p", 0.5), ("s", 4.0), ("p", 1.0)])
    start, end = pick_window(audio, SR)
    assert start == pytest.approx(0.9, abs=0.03) and end == pytest.approx(9.6, abs=0.03)  # ends before the 3rd
    short = bursts([("p", 1.0), ("s", 3.0), ("p", 2.0)])
    assert pick_window(short, SR) == pytest.approx((0.9, 4.1), abs=0.03)
    no_pause = bursts([("p", 0.5), ("s", 15.0)])
    start, end = pick_window(no_pause, SR)
    assert start == pytest.approx(0.4, abs=0.03) and 5.0 <= end - start <= 10.0
    click = bursts([("p", 2.0), ("s", 0.2), ("p", 2.0)])
    start, end = pick_window(click, SR)
    assert end - start == pytest.approx(1.0, abs=0.01) and start < 2.0 < 2.2 < end  # at least 1 s, around it


def test_explicit_windows_and_their_limits():
    audio = bursts([("s", 12.0)])
    assert choose_window(audio, SR, start=2.0, seconds=5.0) == (2.0, 7.0)
    assert choose_window(audio, SR, start=5.0) == (5.0, 12.0)  # at most 10 s, or what is left
    assert choose_window(audio, SR, seconds=4.0)[1] <= 4.2
    for kwargs, message in [
        (dict(start=10.0, seconds=5.0), "goes past the end"),
        (dict(start=-1.0), "outside the 12.00 s recording"),
        (dict(seconds=0.5), "between 1 and 30 seconds"),
        (dict(seconds=45.0), "between 1 and 30 seconds"),
        (dict(start=11.5), "needs at least 1 s"),
        (dict(start=float("nan")), "must be a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            choose_window(audio, SR, **kwargs)
    with pytest.raises(ValueError, match="at least 1 s"):
        choose_window(bursts([("s", 0.5)]), SR)


def test_warnings_too_short_clipped_mostly_silence_and_long():
    clean = bursts([("p", 0.3), ("s", 6.0), ("p", 0.3)])
    assert check_recording(clean, SR, pick_window(clean, SR))[0] == []
    short = bursts([("p", 1.0), ("s", 1.5), ("p", 1.0)])
    warnings, speech = check_recording(short, SR, pick_window(short, SR))
    assert speech == pytest.approx(1.5, abs=0.1)
    assert [w.split(":")[0] for w in warnings] == ["Too short", "Mostly silence"]
    assert "1.5 s of speech" in warnings[0]
    loud = np.clip(bursts([("s", 5.0)], level=2.0), -1, 1)
    warnings, _ = check_recording(loud, SR, pick_window(loud, SR))
    assert len(warnings) == 1 and warnings[0].startswith("Clipping:")
    long = bursts([("s", 4.0), ("p", 0.5)] * 5)
    window = pick_window(long, SR)
    warnings, _ = check_recording(long, SR, window)
    assert len(warnings) == 1 and warnings[0].startswith("Long recording: it lasts 22.5 s")
    with pytest.raises(ValueError, match="holds no speech"):
        check_recording(bursts([("s", 3.0), ("p", 3.0)]), SR, (3.5, 5.5))
    with pytest.raises(ValueError, match="is silent"):
        pick_window(np.zeros(SR * 2, np.float32), SR)


# --------------------------------------------------------------------------- cloning end to end


def test_clone_a_recording_and_generate_with_it(cloner, engine, speech_wav, tmp_path):
    result = cloner.clone_file(speech_wav)
    voice = result.voice
    assert voice.name == "speech" and result.warnings == []
    start, end = result.window
    assert 0.0 <= start < 0.5 and 5.0 < end - start <= 10.2 and result.speech_seconds >= 4.0
    assert abs(voice.fine.shape[1] - 75 * (end - start)) <= 1  # EnCodec: 75 frames per second of the window
    assert abs(voice.semantic.shape[0] - 50 * (end - start)) <= 1  # HuBERT: 50 per second
    np.testing.assert_array_equal(voice.coarse, voice.fine[:2])
    assert voice.semantic.dtype == np.int64 and 0 <= voice.semantic.min() and voice.semantic.max() < 10_000
    again = cloner.clone_file(speech_wav, name="Me")
    np.testing.assert_array_equal(again.voice.semantic, voice.semantic)  # deterministic
    assert again.voice.name == "Me"
    gen = engine.generate(GenerationRequest(text="Hello world.", voice=voice, max_seconds=0.5, seed=1))
    assert gen.takes[0].audio.size > 0 and np.isfinite(gen.takes[0].audio).all()


def test_the_engine_codec_is_reused_and_stereo_44k_is_accepted(engine, tmp_path):
    settings = CloneSettings.from_engine(engine, offline=True)
    assert settings.models == str(engine.settings.models) and settings.device == "cpu"
    shared = VoiceCloner.load(settings, codec=engine.codec)
    assert shared.codec is engine.codec
    mono = bursts([("p", 0.5), ("s", 4.0), ("p", 0.5)], sr=44_100)
    stereo = np.stack([mono, 0.5 * mono], axis=1)
    sf.write(tmp_path / "stereo.flac", stereo, 44_100)
    audio, rate = read_audio(tmp_path / "stereo.flac")
    assert rate == 44_100 and audio.ndim == 1 and np.abs(audio - 0.75 * mono).max() < 1e-3  # channels averaged
    result = shared.clone(audio, rate, start=0.25, seconds=4.5, name="two channels")
    assert result.window == (0.25, 4.75) and result.voice.fine.shape == (8, math.ceil(4.5 * SR / 320))
    gen = engine.generate(GenerationRequest(text="Two channels.", voice=result.voice, max_seconds=0.4, seed=2))
    assert gen.takes[0].audio.size > 0  # works without espeak-ng too
    with open(tmp_path / "stereo.flac", "rb") as f:  # bytes and file objects are read too
        assert read_audio(f.read())[1] == 44_100
    with open(tmp_path / "stereo.flac", "rb") as f:
        np.testing.assert_array_equal(read_audio(f)[0], audio)


def test_cli_clone_writes_a_voice_that_generate_accepts(tiny_native, speech_wav, tmp_path, capsys):
    out = tmp_path / "cloned.npz"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bark_core", "clone", str(speech_wav), "-o", str(out), "--models", str(tiny_native),
         "--device", "cpu", "--offline"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cloned.npz  window 0." in proc.stderr and "warning" not in proc.stderr
    voice = load_voice_npz(out)
    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        assert data["coarse_prompt"].shape == (2, voice.fine.shape[1])
    wav = tmp_path / "spoken.wav"
    rc = cli_main(["generate", "Hello world.", "--voice", str(out), "--models", str(tiny_native), "--device", "cpu",
                   "--offline", "--max-seconds", "0.5", "--seed", "1", "-o", str(wav),
                   "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0 and sf.info(str(wav)).frames > 0


def test_cli_prints_one_line_per_warning(tiny_native, tmp_path, capsys):
    sf.write(tmp_path / "short.wav", bursts([("p", 1.0), ("s", 1.5), ("p", 1.0)]), SR)
    out = tmp_path / "short.npz"
    rc = cli_main(["clone", str(tmp_path / "short.wav"), "-o", str(out), "--models", str(tiny_native),
                   "--device", "cpu", "--offline"])
    err = capsys.readouterr().err
    assert rc == 0 and out.is_file()
    warning_lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert [w.split(":")[1].strip() for w in warning_lines] == ["Too short", "Mostly silence"]


# --------------------------------------------------------------------------- hostile input


def _hostile_files(folder: Path) -> dict[str, tuple[Path, str]]:
    tone = bursts([("s", 3.0)])
    files = {}

    def add(name, message):
        files[name] = (folder / name, message)
        return folder / name

    add("text.wav", "is not audio that can be read").write_text("I am not audio.\n" * 40)
    add("empty.wav", "is empty").write_bytes(b"")
    sf.write(folder / "good.flac", tone, SR)
    data = bytearray((folder / "good.flac").read_bytes())
    data[200:4000] = np.random.default_rng(1).integers(0, 256, 3800, dtype=np.uint8).tobytes()
    add("corrupt.flac", "is damaged").write_bytes(bytes(data))
    sf.write(add("no_samples.wav", "holds no audio samples"), np.zeros((0, 1), np.float32), SR)
    sf.write(add("silent.wav", "is silent"), np.zeros(3 * SR, np.float32), SR)
    nan = tone.copy()
    nan[1000] = np.nan
    sf.write(add("nan.wav", r"invalid samples \(NaN"), nan, SR, subtype="FLOAT")
    sf.write(add("ch8.wav", "has 8 channels; use a mono or stereo"), np.tile(tone[:, None], (1, 8)), SR)
    sf.write(add("rate8k.wav", "sampled at 8000 Hz; voice cloning needs at least 16000 Hz"), tone[::3], 8_000)
    sf.write(add("rate192k.wav", "sampled at 192000 Hz, above the 96000 Hz limit"), np.repeat(tone, 8), 192_000)
    sf.write(add("too_long.wav", r"is 301.0 s long, more than the 300 s limit"), np.zeros(301 * 16_000, np.float32),
             16_000, subtype="PCM_16")
    big = add("too_big.wav", "more than the 67,108,864-byte limit")
    sf.write(big, tone, SR)
    with open(big, "r+b") as f:  # grown (sparsely) past the 64 MiB cap: refused before it is read
        f.truncate(65 * 1024 * 1024)
    return files


HOSTILE = ["text.wav", "empty.wav", "corrupt.flac", "no_samples.wav", "silent.wav", "nan.wav", "ch8.wav",
           "rate8k.wav", "rate192k.wav", "too_long.wav", "too_big.wav"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return _hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_recordings_get_one_sentence_and_nothing_is_written(hostile, name, tiny_native, tmp_path, capsys):
    path, message = hostile[name]
    out = tmp_path / "voice.npz"
    rc = cli_main(["clone", str(path), "-o", str(out), "--models", str(tiny_native), "--device", "cpu", "--offline"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and err.startswith("error: "), err
    assert re.search(message, err), err
    assert err.rstrip().endswith("."), err
    assert list(tmp_path.iterdir()) == []


def test_hostile_arrays_and_caps_in_the_api(cloner):
    audio = bursts([("s", 3.0)])
    with pytest.raises(ValueError, match="NaN"):
        cloner.clone(np.where(np.arange(len(audio)) == 5, np.inf, audio).astype(np.float32), SR)
    with pytest.raises(ValueError, match="has 8 channels"):
        cloner.clone(np.tile(audio[:, None], (1, 8)), SR)
    with pytest.raises(ValueError, match="between 16000 and 96000 Hz"):
        cloner.clone(audio, 8_000)
    with pytest.raises(ValueError, match="must be numbers"):
        cloner.clone(audio.astype(np.complex64), SR)
    with pytest.raises(ValueError, match="holds no audio samples"):
        cloner.clone(np.zeros(0, np.float32), SR)
    # What gr.Audio(type="numpy") gives: int16 (samples, channels), with a NumPy integer rate.
    pcm = np.stack([(audio * 32767).astype(np.int16)] * 2, axis=1)
    np.testing.assert_allclose(to_mono(pcm), audio, atol=1e-4)
    assert cloner.clone(pcm, np.int64(SR)).voice.fine.shape[0] == 8
    with pytest.raises(ValueError, match="larger than the 1,000-byte limit"):
        read_audio(b"\0" * 2000, max_bytes=1000)
    with pytest.raises(ValueError, match="more than the 1 s limit"):
        read_audio(_wav_bytes(audio), max_seconds=1.0)


def _wav_bytes(audio: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, audio, SR, format="WAV")
    return buf.getvalue()


def test_a_pickle_quantizer_is_refused_by_the_cli(tiny_native, tone_wav, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"lstm.weight_ih_l0": _CreatesFile(marker)}, evil)
    out = tmp_path / "voice.npz"
    rc = cli_main(["clone", str(tone_wav), "-o", str(out), "--models", str(tiny_native), "--quantizer", str(evil),
                   "--device", "cpu", "--offline"])
    err = capsys.readouterr().err
    assert rc == 1 and "Refusing quantizer file 'evil.pth'" in err and err.count("\n") == 1
    assert not marker.exists() and not out.exists()


def test_bad_output_and_bad_window_are_refused_before_loading(tone_wav, tmp_path, capsys):
    assert cli_main(["clone", str(tone_wav), "-o", str(tmp_path / "voice.wav")]) == 1
    assert "must end in .npz" in capsys.readouterr().err
    assert cli_main(["clone", str(tone_wav), "-o", str(tmp_path / "v.npz"), "--start", "100"]) == 1
    assert "outside the" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- where the weights come from


def test_missing_weights_offline_give_one_line_of_advice(tmp_path):
    empty_cache = str(tmp_path / "hub")
    with pytest.raises(sources.WeightsNotFound) as e:
        sources.resolve_hubert(None, offline=True, cache_dir=empty_cache)
    text = str(e.value)
    assert "facebook/hubert-base-ls960" in text and "download --clone" in text and "--hubert DIR" in text
    assert "\n" not in text
    with pytest.raises(sources.WeightsNotFound) as e:
        sources.resolve_quantizer(None, offline=True, cache_dir=empty_cache)
    text = str(e.value)
    assert "GitMylo/bark-voice-cloning" in text and "quantifier_hubert_base_ls960_14.pth (104 MB)" in text
    assert "download --clone" in text and "\n" not in text
    with pytest.raises(sources.WeightsNotFound, match="download --clone"):
        VoiceCloner.load(CloneSettings(offline=True, cache_dir=empty_cache))


def test_default_hub_weights_from_the_cache_offline(tiny_native, tone_wav, tmp_path):
    """The default Hub ids resolve from a populated Hugging Face cache without the network."""
    cache = tmp_path / "hub"
    commit = "0" * 40
    for repo, files in ((sources.HUBERT_REPO, {f: tiny_native / "hubert" / f for f in ("config.json", "model.safetensors")}),
                        (sources.QUANTIZER_REPO, {sources.QUANTIZER_FILE: tiny_native / "quantizer.pth"})):
        folder = cache / ("models--" + repo.replace("/", "--"))
        (folder / "refs").mkdir(parents=True)
        (folder / "refs" / "main").write_text(commit)
        (folder / "snapshots" / commit).mkdir(parents=True)
        for name, target in files.items():
            os.symlink(target, folder / "snapshots" / commit / name)
    snapshot = cache / "models--facebook--hubert-base-ls960" / "snapshots" / commit
    assert sources.resolve_hubert(None, offline=True, cache_dir=cache) == snapshot
    quantizer = sources.resolve_quantizer(None, offline=True, cache_dir=cache)
    assert quantizer.name == "quantifier_hubert_base_ls960_14.pth" and quantizer.resolve() == tiny_native / "quantizer.pth"
    cloner = VoiceCloner.load(CloneSettings(codec=str(tiny_native / "codec"), device="cpu", offline=True,
                                            cache_dir=str(cache)))
    assert cloner.clone_file(tone_wav).voice.fine.shape[0] == 8


def test_weights_by_flag_and_spec_parsing(tiny_native, tmp_path):
    assert sources.resolve_quantizer(str(tiny_native / "quantizer.pth")) == tiny_native / "quantizer.pth"
    assert sources.parse_quantizer_spec("GitMylo/bark-voice-cloning@main:q.pth") == ("GitMylo/bark-voice-cloning",
                                                                                    "main", "q.pth")
    for bad in ("nobody:q.pth", "a/b:../q.pth", "a/b:"):
        with pytest.raises(ValueError, match="neither an existing file nor REPO:FILE"):
            sources.parse_quantizer_spec(bad)
    with pytest.raises(sources.WeightsNotFound, match="does not exist"):
        sources.resolve_quantizer(str(tmp_path / "missing.pth"))
    with pytest.raises(sources.WeightsNotFound, match="not a HuBERT folder"):
        sources.resolve_hubert(str(tmp_path))
    with pytest.raises(ValueError, match="takes a local folder"):
        VoiceCloner.load(CloneSettings(models=str(tmp_path / "nowhere")))


def test_download_clone_flag(monkeypatch, capsys):
    assert build_parser().parse_args(["download", "--clone"]).clone is True
    assert build_parser().parse_args(["download"]).clone is False
    calls = []
    monkeypatch.setattr(sources, "download", lambda **kw: calls.append(("bark", kw)) or "bark weights")
    monkeypatch.setattr(sources, "download_clone", lambda **kw: calls.append(("clone", kw)) or "clone weights")
    assert cli_main(["download", "--clone", "--cache-dir", "/tmp/x"]) == 0
    assert [c[0] for c in calls] == ["bark", "clone"] and calls[1][1] == {"cache_dir": "/tmp/x"}
    assert capsys.readouterr().out.splitlines() == ["bark weights", "clone weights"]
