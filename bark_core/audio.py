"""Writing audio files (soundfile), atomically: a temporary name, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .constants import SAMPLE_RATE

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}


def write_audio(path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio to ``path``; the format follows the extension (WAV, FLAC, OGG, MP3)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Unsupported audio extension {path.suffix!r}; use one of {', '.join(FORMATS)}.")
    if fmt not in sf.available_formats():
        raise ValueError(f"This libsndfile cannot write {fmt}; use .wav.")
    subtype = "PCM_16" if fmt in ("WAV", "FLAC") else None
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
