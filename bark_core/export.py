"""Exporting audio: WAV (16-bit, 24-bit, float), FLAC, OGG Vorbis, OGG Opus and MP3, all through soundfile.

    data = export_bytes(audio, 24000, "mp3")                     # for a download
    path = export_file(audio, 24000, "take.flac")                # format from the suffix
    path = export_file(audio, 24000, "take.wav", fmt="wav24")    # or named
    blob = zip_generation([audio], 24000, settings={...}, voices=[voice])

The libsndfile inside the soundfile 0.14.0 wheel (1.2.2) writes every format here with no ffmpeg.
Measured on it: every format reads back with exactly the samples written (Vorbis, Opus and MP3
included: their encoder delay and padding are undone on reading), at any sample rate for WAV, FLAC
and Vorbis. Opus only takes 8/12/16/24/48 kHz and MP3 only 8/11.025/12/16/22.05/24/32/44.1/48 kHz:
for any other rate the audio is resampled (polyphase, scipy) to the nearest higher allowed rate
(48 kHz above 48 kHz), and ``output_rate`` says so beforehand. Bark's 24 kHz is never resampled.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import soundfile as sf

from .audiotools import PostProcess, apply, check_audio, check_sample_rate
from .types import Voice

log = logging.getLogger(__name__)

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class ExportFormat:
    """One export choice: its name, the label a user sees, and how soundfile writes it."""

    key: str  # "wav24"
    label: str  # "WAV, 24-bit"
    container: str  # soundfile format: WAV, FLAC, OGG, MP3
    subtype: str  # soundfile subtype: PCM_16, PCM_24, FLOAT, VORBIS, OPUS, MPEG_LAYER_III
    suffix: str  # file name ending, with the dot
    mime: str
    lossless: bool
    rates: Optional[tuple[int, ...]] = None  # the sample rates it allows; None = any


FORMATS: dict[str, ExportFormat] = {f.key: f for f in (
    ExportFormat("wav", "WAV, 16-bit", "WAV", "PCM_16", ".wav", "audio/wav", True),
    ExportFormat("wav24", "WAV, 24-bit", "WAV", "PCM_24", ".wav", "audio/wav", True),
    ExportFormat("wav32f", "WAV, 32-bit float", "WAV", "FLOAT", ".wav", "audio/wav", True),
    ExportFormat("flac", "FLAC, 16-bit", "FLAC", "PCM_16", ".flac", "audio/flac", True),
    ExportFormat("flac24", "FLAC, 24-bit", "FLAC", "PCM_24", ".flac", "audio/flac", True),
    ExportFormat("ogg", "OGG Vorbis", "OGG", "VORBIS", ".ogg", "audio/ogg", False),
    ExportFormat("opus", "OGG Opus", "OGG", "OPUS", ".opus", "audio/ogg", False, OPUS_RATES),
    ExportFormat("mp3", "MP3", "MP3", "MPEG_LAYER_III", ".mp3", "audio/mpeg", False, MP3_RATES),
)}
DEFAULT_FORMAT = "wav"
# For a dropdown: (label, key) pairs in the order above.
FORMAT_CHOICES: list[tuple[str, str]] = [(f.label, f.key) for f in FORMATS.values()]
# What each file name ending means when no format is named.
SUFFIXES: dict[str, str] = {".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".opus": "opus", ".mp3": "mp3"}
ALIASES: dict[str, str] = {"wav16": "wav", "wavf": "wav32f", "float": "wav32f", "flac16": "flac", "vorbis": "ogg"}


def get_format(name: Union[str, ExportFormat]) -> ExportFormat:
    """The format named ``name`` (a key like "wav24", an alias like "vorbis", or a suffix like ".mp3")."""
    if isinstance(name, ExportFormat):
        return name
    if not isinstance(name, str):
        raise ValueError(f"An audio format must be named by text, got {type(name).__name__}.")
    key = name.strip().lower()
    key = SUFFIXES.get(key, ALIASES.get(key, key))
    if key not in FORMATS:
        raise ValueError(f"Unknown audio format {name!r}; choose one of {', '.join(FORMATS)}.")
    fmt = FORMATS[key]
    if fmt.container not in sf.available_formats() or fmt.subtype not in sf.available_subtypes(fmt.container):
        raise ValueError(f"This soundfile/libsndfile build cannot write {fmt.label}; choose WAV or FLAC.")
    return fmt


def format_for_path(path: Union[str, os.PathLike], fmt: Union[str, ExportFormat, None] = None) -> ExportFormat:
    """The format a file should be written in: ``fmt`` if given (it must suit the suffix), else from the suffix."""
    suffix = Path(path).suffix.lower()
    if fmt is None:
        if suffix not in SUFFIXES:
            raise ValueError(
                f"Cannot tell the audio format from {Path(path).name!r}; end the name in one of "
                f"{', '.join(SUFFIXES)} or name a format ({', '.join(FORMATS)})."
            )
        return get_format(SUFFIXES[suffix])
    chosen = get_format(fmt)
    fits = [s for s, k in SUFFIXES.items() if FORMATS[k].container == chosen.container]
    if suffix not in fits:
        raise ValueError(f"{chosen.label} files must end in {' or '.join(fits)}, not {Path(path).name!r}.")
    return chosen


def output_rate(fmt: Union[str, ExportFormat], sr: int) -> int:
    """The sample rate ``fmt`` will be written at: ``sr`` if the format allows it, else the nearest higher allowed rate."""
    f = get_format(fmt)
    sr = check_sample_rate(sr)
    if f.rates is None or sr in f.rates:
        return sr
    higher = [r for r in f.rates if r > sr]
    return higher[0] if higher else max(f.rates)


def resample(audio: np.ndarray, sr: int, new_sr: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly) of (samples,) or (samples, channels) audio."""
    from scipy.signal import resample_poly

    if new_sr == sr:
        return audio
    g = math.gcd(int(sr), int(new_sr))
    return resample_poly(audio, new_sr // g, sr // g, axis=0).astype(np.float32)


def _prepare(audio, sr: int, f: ExportFormat, post: Optional[PostProcess]) -> tuple[np.ndarray, int]:
    a = check_audio(audio)
    sr = check_sample_rate(sr)
    if post is not None:
        a = apply(a, sr, post)
    rate = output_rate(f, sr)
    if rate != sr:
        log.info("%s does not allow %d Hz: resampled to %d Hz", f.label, sr, rate)
        a = resample(a, sr, rate)
    if f.subtype != "FLOAT":  # integer PCM and lossy codecs have no room above full scale
        over = int(np.count_nonzero(np.abs(a) > 1.0))
        if over:
            log.warning("%d sample(s) above full scale were clipped for %s; limit the peaks to avoid it.", over, f.label)
            a = np.clip(a, -1.0, 1.0)
    return np.ascontiguousarray(a, dtype=np.float32), rate


def export_bytes(audio, sr: int, fmt: Union[str, ExportFormat] = DEFAULT_FORMAT, post: Optional[PostProcess] = None) -> bytes:
    """The encoded file's bytes (for a download). ``post``: audio tools applied first."""
    f = get_format(fmt)
    a, rate = _prepare(audio, sr, f, post)
    buf = io.BytesIO()
    sf.write(buf, a, rate, format=f.container, subtype=f.subtype)
    return buf.getvalue()


def export_file(audio, sr: int, path: Union[str, os.PathLike], fmt: Union[str, ExportFormat, None] = None,
                post: Optional[PostProcess] = None) -> Path:
    """Write ``path`` atomically (a temporary name in the same folder, then a rename); the format from the suffix or ``fmt``."""
    path = Path(path)
    f = format_for_path(path, fmt)
    data = export_bytes(audio, sr, f, post)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- zip of a history row

_ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # fixed, so the same row always zips to the same bytes


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray) and o.size <= 4096:
        return o.tolist()
    if isinstance(o, (Path, os.PathLike)):
        return os.fspath(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON")


def settings_json(settings: Mapping) -> bytes:
    """``settings`` as indented UTF-8 JSON; ValueError for values JSON cannot hold (NaN, objects)."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"Settings must be a mapping of names to values, got {type(settings).__name__}.")
    try:
        text = json.dumps(dict(settings), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The settings cannot be written as JSON: {e}.") from None
    return (text + "\n").encode("utf-8")


def voice_npz_bytes(voice: Voice) -> bytes:
    """A voice as the bytes of a Bark history-prompt .npz (validated first)."""
    from .voices import validate_voice

    if not isinstance(voice, Voice):
        raise ValueError(f"A voice must be a Voice, got {type(voice).__name__}.")
    checked = validate_voice(voice.semantic, voice.coarse, voice.fine, name=voice.name)
    buf = io.BytesIO()
    np.savez(buf, **checked.as_npz_dict())
    return buf.getvalue()


def _safe_stem(stem: str) -> str:
    if not isinstance(stem, str):
        raise ValueError("The file name stem must be text.")
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem.strip()).strip("._")
    return clean[:80] or "bark"


def zip_generation(
    audio: Union[np.ndarray, Sequence[np.ndarray]],
    sr: int,
    settings: Mapping,
    voices: Sequence[Optional[Voice]] = (),
    fmt: Union[str, ExportFormat] = DEFAULT_FORMAT,
    stem: str = "bark",
    post: Optional[PostProcess] = None,
    extra: Optional[Mapping[str, bytes]] = None,
) -> bytes:
    """A zip of one history row: each take's audio, its voice .npz, and ``settings.json``.

    ``audio`` is one take (samples,) or a list of takes; ``voices`` the takes' voices (None or
    missing entries are skipped: e.g. a take that stopped at once is no voice). One take is
    ``{stem}.{ext}`` + ``{stem}.npz``; several are ``{stem}-1.{ext}``, ``{stem}-1.npz``, ...
    ``extra`` adds files by name (e.g. a timeline's JSON). The bytes are the same for the same input.
    """
    f = get_format(fmt)
    takes = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
    if not takes:
        raise ValueError("There is no audio to put in the zip.")
    voices = list(voices)
    if len(voices) > len(takes):
        raise ValueError(f"There are {len(voices)} voices for {len(takes)} take(s).")
    stem = _safe_stem(stem)
    names = [stem] if len(takes) == 1 else [f"{stem}-{k}" for k in range(1, len(takes) + 1)]
    files: list[tuple[str, bytes]] = []
    for k, (name, take) in enumerate(zip(names, takes)):
        files.append((name + f.suffix, export_bytes(take, sr, f, post)))
        voice = voices[k] if k < len(voices) else None
        if voice is not None:
            files.append((name + ".npz", voice_npz_bytes(voice)))
    files.append(("settings.json", settings_json(settings)))
    for name, data in (extra or {}).items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"Extra zip entries need a plain file name, got {name!r}.")
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"The zip entry {name!r} must be bytes.")
        files.append((name, bytes(data)))
    seen = set()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files:
            if name in seen:
                raise ValueError(f"Two zip entries are named {name!r}.")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if name.endswith((".json", ".wav", ".npz")) else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()
