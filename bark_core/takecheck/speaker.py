"""Same-speaker check: Resemblyzer's speaker encoder (GE2E, Apache-2.0), reimplemented small.

The network and its preprocessing follow ``resemblyzer`` 0.1.4 exactly: audio at 16 kHz,
volume raised to -30 dBFS (never lowered), long silences cut with WebRTC's voice activity detector
(``webrtcvad-wheels``), a 40-band mel power spectrogram (25 ms Hann window, 10 ms hop), partial
utterances of 160 frames at 1.3 per second through ``LSTM(40, 256, 3)`` -> ``Linear(256, 256)`` ->
ReLU -> L2 norm, averaged and normalised again. The weights are the ``pretrained.pt`` (17 MB) that
ships inside resemblyzer's wheel; resemblyzer's own modules are never imported (they pull in
librosa, numba and more), so resemblyzer is installed with ``--no-deps``.

Similarity is the cosine of two embeddings. The encoder's ReLU makes every embedding
non-negative, so cosines lie in [0, 1]; the same voice usually scores above ~0.8.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
PARTIALS_PER_SECOND = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
VAD_WINDOW = 480  # 30 ms at 16 kHz
VAD_AVERAGE = 8
VAD_MAX_SILENCE = 6
INT16_MAX = 2 ** 15 - 1


class EncoderUnavailable(RuntimeError):
    """The speaker encoder's weights or its voice detector are not installed."""


def resemblyzer_weights() -> Path:
    """Path of ``pretrained.pt`` inside the installed resemblyzer package (found without importing it)."""
    spec = importlib.util.find_spec("resemblyzer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "pretrained.pt"
        if path.is_file():
            return path
    raise EncoderUnavailable(
        "The same-speaker check needs the speaker encoder weights from resemblyzer: "
        "pip install --no-deps resemblyzer==0.1.4."
    )


# --------------------------------------------------------------------------- mel front-end (librosa's)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mel = f / f_sp
    log = f >= min_log_hz
    return np.where(log, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) triangular filters, Slaney-normalised: librosa.filters.mel's defaults."""
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


_MEL = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram, as librosa.feature.melspectrogram(center=True, constant pad)."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, N_FFT // 2)
    n = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n]
    spec = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2  # (frames, 201)
    return (spec.astype(np.float32) @ _MEL.T).astype(np.float32)


# --------------------------------------------------------------------------- preprocessing


def resample(audio: np.ndarray, sample_rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 audio at ``target`` Hz (polyphase filter)."""
    from math import gcd

    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == target:
        return audio
    g = gcd(int(sample_rate), int(target))
    return resample_poly(audio, target // g, int(sample_rate) // g).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Raise (never lower) the level to ``target_dbfs`` RMS, as resemblyzer does."""
    rms = float(np.sqrt(np.mean((wav.astype(np.float64) * INT16_MAX) ** 2))) if len(wav) else 0.0
    if rms <= 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else (wav * (10 ** (change / 20))).astype(np.float32)


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """Cut silences longer than ~0.2 s with WebRTC's VAD (mode 3), smoothed and dilated like resemblyzer."""
    try:
        import webrtcvad
    except ImportError as e:
        raise EncoderUnavailable("The same-speaker check needs webrtcvad: pip install webrtcvad-wheels==2.0.14.post1.") from e
    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    if len(wav) == 0:
        return wav
    pcm = np.round(wav * INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[i * 2:(i + VAD_WINDOW) * 2], SAMPLE_RATE)
                      for i in range(0, len(wav), VAD_WINDOW)], dtype=np.float64)
    w = VAD_AVERAGE
    padded = np.concatenate((np.zeros((w - 1) // 2), flags, np.zeros(w // 2)))
    c = np.cumsum(padded)
    c[w:] = c[w:] - c[:-w]
    mask = np.round(c[w - 1:] / w).astype(bool)
    k = VAD_MAX_SILENCE + 1  # binary dilation with a flat structuring element of k
    r = k // 2
    idx = np.flatnonzero(mask)
    dil = np.zeros_like(mask)
    for i in idx:  # few windows per second: a plain loop is fine
        dil[max(0, i - r): i + (k - r)] = True
    return wav[np.repeat(dil, VAD_WINDOW)]


def preprocess(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resemblyzer's ``preprocess_wav``: 16 kHz, volume raised to -30 dBFS, long silences trimmed."""
    wav = resample(audio, sample_rate)
    wav = normalize_volume(wav)
    return trim_long_silences(wav)


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame slices of the 1.6 s partial utterances (resemblyzer's compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SAMPLE_RATE / PARTIALS_PER_SECOND) / HOP))
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / ((last.stop - last.start) * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


# --------------------------------------------------------------------------- network


@contextlib.contextmanager
def _single_thread():
    """Run torch on one thread for a moment: a batch of ~12 partials x 160 LSTM steps gains nothing
    from more, and on a busy 2-core machine the second thread's waits cost up to 15x (measured 0.10 s
    on one thread against 0.12-1.6 s on two for a 14 s take)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)



class SpeakerEncoder(nn.Module):
    """LSTM(40, 256, 3) -> Linear(256, 256) -> ReLU -> L2 norm: one 256-d embedding per utterance."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "SpeakerEncoder":
        """Resemblyzer's pretrained weights (``weights_only`` load; its extra GE2E scalars are ignored)."""
        path = Path(path) if path is not None else resemblyzer_weights()
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        state = ckpt.get("model_state", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise EncoderUnavailable(f"{path} holds no speaker encoder weights.")
        model = cls()
        wanted = set(model.state_dict())
        missing = wanted - set(state)
        if missing:
            raise EncoderUnavailable(f"{path} lacks speaker encoder weights: {', '.join(sorted(missing))}.")
        model.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=True)
        return model.float().eval().requires_grad_(False)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)  # mels (B, T, 40) -> hidden (3, B, 256)
        e = torch.relu(self.linear(hidden[-1]))  # (B, 256)
        return e / torch.norm(e, dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def embed_wav(self, wav: np.ndarray) -> np.ndarray:
        """Embedding (256,) of an already preprocessed 16 kHz utterance (resemblyzer's embed_utterance)."""
        slices = partial_slices(len(wav))
        need = slices[-1].stop * HOP
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = mel_spectrogram(wav)
        mels = torch.from_numpy(np.stack([mel[s] for s in slices]))
        with _single_thread():
            partials = self(mels).numpy()
        raw = partials.mean(axis=0)
        return (raw / max(float(np.linalg.norm(raw)), 1e-12)).astype(np.float32)

    def embed(self, audio: np.ndarray, sample_rate: int) -> Optional[np.ndarray]:
        """Embedding of raw mono audio, or None when it holds no speech the detector keeps."""
        wav = preprocess(audio, sample_rate)
        if len(wav) < HOP * 10:  # under 0.1 s of voice: nothing to compare
            return None
        return self.embed_wav(wav)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
