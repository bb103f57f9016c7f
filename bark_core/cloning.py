"""Voice cloning: a recording of a person speaking -> a Bark voice (history prompt).

The community method (GitMylo's bark-voice-cloning-HuBERT-quantizer, MIT), without fairseq
or torchaudio:

- semantic_prompt: the window resampled to 16 kHz -> HuBERT base, output of layer 9
  (``hidden_states[9]``, 50 Hz) -> the quantizer (LSTM -> Linear, argmax) -> tokens (T,);
- fine_prompt: the window resampled to 24 kHz -> EnCodec encoder + residual quantizer at
  6 kbps -> codes (8, N) at 75 Hz; coarse_prompt = the first 2 codebooks.

    cloner = VoiceCloner.load(CloneSettings(models="DIR"), codec=engine.codec)
    result = cloner.clone_file("me.wav", name="Me")  # or cloner.clone(audio, sample_rate)
    save_voice(result.voice, "me.npz"); result.warnings; result.window

Accepted input (everything else is refused with a one-sentence ValueError, nothing written):
the formats libsndfile reads (WAV, FLAC, OGG, MP3), 1 or 2 channels (mixed to mono),
16 kHz to 96 kHz, finite samples, at most ``DEFAULT_MAX_BYTES`` bytes and
``DEFAULT_MAX_SECONDS`` seconds, not silent, a window of 1 to 30 seconds.

Resampling is polyphase windowed-sinc (``scipy.signal.resample_poly``: a Kaiser-windowed
sinc low-pass, beta 5.0, applied at the rational ratio up/down in lowest terms).
"""

from __future__ import annotations

import io
import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Optional, Union

import numpy as np
import torch

from .constants import N_COARSE_CODEBOOKS, N_FINE_CODEBOOKS, SAMPLE_RATE, SEMANTIC_VOCAB_SIZE
from .files import open_limited
from .hubert import HUBERT_LAYER, HUBERT_SAMPLE_RATE, hubert_features
from .types import Voice

logger = logging.getLogger(__name__)

# Input limits.
MIN_SAMPLE_RATE = 16_000  # HuBERT listens at 16 kHz; lower rates have lost what it needs
MAX_SAMPLE_RATE = 96_000
MAX_CHANNELS = 2
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SECONDS = 300.0

# The window of the recording that becomes the voice.
AUTO_WINDOW_SECONDS = 10.0  # the automatic pick: up to this much speech, ending at a pause
MIN_WINDOW_SECONDS = 1.0
MAX_WINDOW_SECONDS = 30.0  # Bark reads only the last ~7 s of a voice anyway
MIN_SPEECH_SECONDS = 2.0  # less than this gets a warning
LONG_INPUT_SECONDS = 15.0  # longer recordings get a note that only the window is used

# Speech detection (frame loudness against the recording's loudest frame).
FRAME_SECONDS = 0.02
SILENT_DBFS = -60.0  # a recording whose loudest frame is quieter than this is silent
SPEECH_BELOW_PEAK_DB = 35.0  # frames within this many dB of the loudest frame count as speech
SPEECH_FLOOR_DBFS = -55.0
PAUSE_SECONDS = 0.25  # a gap in speech at least this long is a pause
EDGE_PAD_SECONDS = 0.1  # silence kept before the first and after the last word of the window
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.001  # more than 0.1 % of the window's samples at full scale: clipped
MOSTLY_SILENCE_FRACTION = 0.5

RESAMPLING_METHOD = "polyphase windowed-sinc (scipy.signal.resample_poly, Kaiser window, beta 5.0)"

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]


# --------------------------------------------------------------------------- reading


def _label(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"The audio file '{Path(source).name}'"
    return "The audio file"


def _open_bytes(source: Source, max_bytes: int, label: str) -> io.BytesIO:
    if isinstance(source, (str, os.PathLike)):
        with open_limited(Path(source), label, max_bytes,
                          lambda size: f"{label} is {size:,} bytes, more than the {max_bytes:,}-byte limit for recordings.") as f:
            data = f.read(max_bytes + 1)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("An audio upload must be opened in binary mode.")
    else:
        raise ValueError(f"Audio must be a file path, bytes or a binary file, got {type(source).__name__}.")
    if len(data) > max_bytes:
        raise ValueError(f"{label} is larger than the {max_bytes:,}-byte limit for recordings.")
    if not data:
        raise ValueError(f"{label} is empty.")
    return io.BytesIO(data)


def read_audio(
    source: Source, max_bytes: int = DEFAULT_MAX_BYTES, max_seconds: float = DEFAULT_MAX_SECONDS
) -> tuple[np.ndarray, int]:
    """Read a recording as (mono float32 samples, sample rate); channels are averaged.

    Every unusable input raises ValueError with one sentence: missing, empty, over ``max_bytes``,
    not audio, damaged, more than 2 channels, a rate outside 16..96 kHz, no samples, longer than
    ``max_seconds``, or NaN / infinite samples.
    """
    import soundfile as sf

    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError("max_bytes must be a positive whole number.")
    if not (isinstance(max_seconds, (int, float)) and math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError("max_seconds must be a positive number.")
    label = _label(source)
    buf = _open_bytes(source, max_bytes, label)
    try:
        f = sf.SoundFile(buf)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError):
        raise ValueError(f"{label} is not audio that can be read (WAV, FLAC, OGG or MP3), or it is damaged.") from None
    with f:
        channels, rate = f.channels, f.samplerate
        if channels > MAX_CHANNELS:
            raise ValueError(f"{label} has {channels} channels; use a mono or stereo recording.")
        if channels < 1:
            raise ValueError(f"{label} has no audio channels.")
        if rate < MIN_SAMPLE_RATE:
            raise ValueError(
                f"{label} is sampled at {rate} Hz; voice cloning needs at least {MIN_SAMPLE_RATE} Hz "
                "(telephone-quality audio has lost too much of the voice)."
            )
        if rate > MAX_SAMPLE_RATE:
            raise ValueError(
                f"{label} is sampled at {rate} Hz, above the {MAX_SAMPLE_RATE} Hz limit; "
                "convert it to 48 kHz or 44.1 kHz first."
            )
        cap = int(max_seconds * rate)
        declared = f.frames
        if 0 < cap < declared < 2**62:
            raise ValueError(
                f"{label} is {declared / rate:.1f} s long, more than the {max_seconds:g} s limit; cut out the part to use first."
            )
        try:
            data = f.read(frames=cap + 1, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError, EOFError):
            raise ValueError(f"{label} is damaged: reading its audio failed part-way.") from None
    if data.shape[0] == 0:
        raise ValueError(f"{label} holds no audio samples.")
    if data.shape[0] > cap:
        raise ValueError(f"{label} is longer than the {max_seconds:g} s limit; cut out the part to use first.")
    if not np.isfinite(data).all():
        raise ValueError(f"{label} holds invalid samples (NaN or infinite values).")
    return to_mono(data), int(rate)


def to_mono(data: np.ndarray) -> np.ndarray:
    """Float32 mono samples from an array of shape (samples,) or (samples, channels) with 1-2 channels:
    float as is, integer PCM scaled to [-1, 1] (int16, int32, uint8), channels averaged."""
    data = np.asarray(data)
    if data.ndim == 2 and data.shape[1] > MAX_CHANNELS:
        raise ValueError(f"The audio has {data.shape[1]} channels; use a mono or stereo recording.")
    if data.ndim not in (1, 2) or (data.ndim == 2 and data.shape[1] == 0):
        raise ValueError(f"Audio must have shape (samples,) or (samples, channels); got {data.shape}.")
    if data.dtype.kind == "f":
        x = data.astype(np.float32, copy=False)
    elif data.dtype.kind == "i":
        x = (data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))).astype(np.float32)
    elif data.dtype == np.uint8:
        x = ((data.astype(np.float64) - 128.0) / 128.0).astype(np.float32)
    else:
        raise ValueError(f"Audio samples must be numbers (float or integer PCM), not {data.dtype}.")
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float64).astype(np.float32) if x.shape[1] > 1 else x[:, 0]
    return np.ascontiguousarray(x)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample mono audio by polyphase windowed-sinc filtering (see ``RESAMPLING_METHOD``).

    The output has ``ceil(len(audio) * rate_out / rate_in)`` samples, float32.
    """
    from scipy.signal import resample_poly

    if rate_in <= 0 or rate_out <= 0:
        raise ValueError("Sample rates must be positive.")
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return audio.copy()
    ratio = Fraction(rate_out, rate_in)
    out = resample_poly(audio.astype(np.float64), ratio.numerator, ratio.denominator, window=("kaiser", 5.0))
    return out.astype(np.float32)


# --------------------------------------------------------------------------- analysis


def _frame_db(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Loudness (dBFS) of consecutive 20 ms frames, and the frame length in samples."""
    hop = max(1, int(round(FRAME_SECONDS * sample_rate)))
    n = len(audio) // hop
    if n == 0:
        frames = audio[None, :].astype(np.float64)
    else:
        frames = audio[: n * hop].reshape(n, hop).astype(np.float64)
        rest = audio[n * hop :]
        if len(rest):
            frames = np.concatenate([frames, np.pad(rest, (0, hop - len(rest)))[None, :]])
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20.0 * np.log10(rms + 1e-12), hop


def speech_frames(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Which 20 ms frames hold sound loud enough to be speech, and the frame length in seconds.

    Raises ValueError when the whole recording is silent.
    """
    db, hop = _frame_db(audio, sample_rate)
    peak = float(db.max())
    if peak < SILENT_DBFS:
        raise ValueError(
            f"The recording is silent (nothing in it is louder than {SILENT_DBFS:.0f} dBFS); record someone speaking."
        )
    threshold = max(peak - SPEECH_BELOW_PEAK_DB, SPEECH_FLOOR_DBFS)
    return db >= threshold, hop / sample_rate


def _runs(mask: np.ndarray, value: bool) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask == value``."""
    padded = np.concatenate([[False], mask == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def pick_window(audio: np.ndarray, sample_rate: int, max_seconds: float = AUTO_WINDOW_SECONDS) -> tuple[float, float]:
    """The automatic window (start_s, end_s): up to ``max_seconds`` of speech from the first word,
    ending at a pause, with the silence around it trimmed (0.1 s kept at each edge).

    Without a pause in reach, the window ends at the quietest moment of its second half.
    Raises ValueError for a silent recording.
    """
    if not (math.isfinite(max_seconds) and MIN_WINDOW_SECONDS <= max_seconds <= MAX_WINDOW_SECONDS):
        raise ValueError(f"The window length must be between {MIN_WINDOW_SECONDS:g} and {MAX_WINDOW_SECONDS:g} seconds.")
    duration = len(audio) / sample_rate
    if duration < MIN_WINDOW_SECONDS:
        raise ValueError(f"The recording is {duration:.2f} s long; voice cloning needs at least {MIN_WINDOW_SECONDS:g} s.")
    active, frame_s = speech_frames(audio, sample_rate)
    idx = np.flatnonzero(active)
    first, last = idx[0] * frame_s, (idx[-1] + 1) * frame_s
    if last - first > max_seconds:
        # Pauses (runs of quiet frames long enough) that start within reach of the first word.
        min_pause = int(math.ceil(PAUSE_SECONDS / frame_s - 1e-9))
        reach = first + max_seconds - EDGE_PAD_SECONDS
        ends = [a * frame_s for a, b in _runs(active, False)
                if b - a >= min_pause and first < a * frame_s <= reach and a > idx[0]]
        good = [e for e in ends if e - first >= min(MIN_SPEECH_SECONDS * 1.5, max_seconds / 2)]
        if good:
            last = max(good)
        else:  # no pause in reach: cut at the quietest frame of the window's second half
            db, _ = _frame_db(audio, sample_rate)
            lo = int((first + max_seconds / 2) / frame_s)
            hi = max(lo + 1, int((first + max_seconds - EDGE_PAD_SECONDS) / frame_s))
            last = (lo + int(np.argmin(db[lo:hi]))) * frame_s
    start = max(0.0, first - EDGE_PAD_SECONDS)
    end = min(duration, last + EDGE_PAD_SECONDS)
    if end - start < MIN_WINDOW_SECONDS:  # a very short sound: a 1 s window around it, within the recording
        start = min(max(0.0, (start + end - MIN_WINDOW_SECONDS) / 2), duration - MIN_WINDOW_SECONDS)
        end = start + MIN_WINDOW_SECONDS
    return round(float(start), 3), round(float(min(end, duration)), 3)


def choose_window(
    audio: np.ndarray, sample_rate: int, start: Optional[float] = None, seconds: Optional[float] = None
) -> tuple[float, float]:
    """The window to clone: explicit (``start`` and/or ``seconds``) or automatic.

    ``start`` only: ``seconds`` defaults to 10 (or what is left). ``seconds`` only: the automatic
    pick, up to that length. A window that leaves the recording, is shorter than 1 s or longer
    than 30 s is refused with a sentence.
    """
    duration = len(audio) / sample_rate
    for name, v in (("start", start), ("seconds", seconds)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise ValueError(f"The window {name} must be a number of seconds, got {v!r}.")
    if seconds is not None and not MIN_WINDOW_SECONDS <= seconds <= MAX_WINDOW_SECONDS:
        raise ValueError(
            f"The window must last between {MIN_WINDOW_SECONDS:g} and {MAX_WINDOW_SECONDS:g} seconds "
            f"(Bark reads only the last few seconds of a voice); got {seconds:g}."
        )
    if duration < MIN_WINDOW_SECONDS:
        raise ValueError(f"The recording is {duration:.2f} s long; voice cloning needs at least {MIN_WINDOW_SECONDS:g} s.")
    if start is None:
        return pick_window(audio, sample_rate, AUTO_WINDOW_SECONDS if seconds is None else float(seconds))
    if start < 0 or start >= duration:
        raise ValueError(f"The window start {start:g} s is outside the {duration:.2f} s recording.")
    if seconds is None:
        seconds = min(AUTO_WINDOW_SECONDS, duration - start)
        if seconds < MIN_WINDOW_SECONDS:
            raise ValueError(
                f"Only {duration - start:.2f} s of the recording follow {start:g} s; the window needs at least "
                f"{MIN_WINDOW_SECONDS:g} s."
            )
    end = start + seconds
    if end > duration + 1e-6:
        raise ValueError(
            f"The window {start:g}-{end:g} s goes past the end of the {duration:.2f} s recording."
        )
    return float(start), float(min(end, duration))


def check_recording(audio: np.ndarray, sample_rate: int, window: tuple[float, float]) -> tuple[list[str], float]:
    """Warnings about a recording and its window, and the seconds of speech in the window.

    Warnings: too little speech (< 2 s), clipping, mostly silence, a long recording of which only
    the window is used. Raises ValueError when the window itself is silent.
    """
    warnings = []
    duration = len(audio) / sample_rate
    a, b = int(round(window[0] * sample_rate)), int(round(window[1] * sample_rate))
    part = audio[a:b]
    active_all, frame_s = speech_frames(audio, sample_rate)
    first, last = int(window[0] / frame_s), int(math.ceil(window[1] / frame_s))
    speech = float(active_all[first:last].sum()) * frame_s
    if speech == 0.0:
        raise ValueError(
            f"The chosen window ({window[0]:.1f}-{window[1]:.1f} s) holds no speech, only silence; choose another part."
        )
    if speech < MIN_SPEECH_SECONDS:
        warnings.append(
            f"Too short: only {speech:.1f} s of speech in the window; 5 to 10 s of clear speech make a better voice."
        )
    clipped = float(np.mean(np.abs(part) >= CLIP_LEVEL)) if len(part) else 0.0
    if clipped > CLIP_FRACTION:
        warnings.append(
            f"Clipping: {100 * clipped:.1f}% of the window's samples are at full scale, so the voice may sound "
            "distorted; record at a lower level if you can."
        )
    speech_share = float(active_all.mean())
    if speech_share < MOSTLY_SILENCE_FRACTION:
        warnings.append(
            f"Mostly silence: only {100 * speech_share:.0f}% of the recording is speech; check that it is the "
            "right recording and that the microphone picked up the voice."
        )
    if duration > LONG_INPUT_SECONDS:
        warnings.append(
            f"Long recording: it lasts {duration:.1f} s, and only the {window[1] - window[0]:.1f} s from "
            f"{window[0]:.1f} s to {window[1]:.1f} s are used."
        )
    return warnings, speech


# --------------------------------------------------------------------------- EnCodec


@torch.no_grad()
def encode_codes(codec, audio_24k: np.ndarray) -> np.ndarray:
    """EnCodec codes (8, N) int64 of 24 kHz mono audio at 6 kbps: encoder, then the residual
    quantizer's first 8 codebooks; N = ceil(samples / 320). The inverse of ``Codec.decode``."""
    model = codec.model
    if int(model.config.sampling_rate) != SAMPLE_RATE:
        raise ValueError(f"The codec runs at {model.config.sampling_rate} Hz; cloning needs the {SAMPLE_RATE} Hz EnCodec.")
    if getattr(model.config, "normalize", False) or getattr(model.config, "chunk_length_s", None):
        raise ValueError("This EnCodec normalises or chunks its input; Bark's 24 kHz EnCodec does neither.")
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(audio_24k, dtype=np.float32), device=device).view(1, 1, -1)  # (B, C, samples)
    emb = model.encoder(x)  # (B, D, N)
    n_q = model.quantizer.get_num_quantizers_for_bandwidth(6.0)
    if n_q < N_FINE_CODEBOOKS:
        raise ValueError(f"This EnCodec gives {n_q} codebooks at 6 kbps; Bark needs {N_FINE_CODEBOOKS}.")
    codes = model.quantizer.encode(emb, 6.0)  # (n_q, B, N)
    return codes[:N_FINE_CODEBOOKS, 0].to("cpu", torch.int64).numpy()


# --------------------------------------------------------------------------- the cloner


@dataclass(frozen=True)
class CloneSettings:
    """Where the cloning weights come from and where they run.

    ``models``: a local folder that may hold ``hubert/``, ``quantizer.pth`` and ``codec/`` (a
    ``make-test-weights`` folder does); each is used when its own setting is None. Otherwise
    ``hubert`` = facebook/hubert-base-ls960, ``quantizer`` =
    GitMylo/bark-voice-cloning:quantifier_hubert_base_ls960_14.pth, ``codec`` = the models
    folder's, else facebook/encodec_24khz (each a local path or Hub id).
    """

    models: Optional[str] = None
    hubert: Optional[str] = None
    quantizer: Optional[str] = None
    codec: Optional[str] = None
    device: str = "auto"
    offline: bool = False
    cache_dir: Optional[str] = None

    @classmethod
    def from_engine(cls, engine, **overrides) -> "CloneSettings":
        """Settings that match a loaded ``Engine``: its compute device (the GPU also under offload
        placement), offline mode and cache; its models folder (the one it was given when local, else
        the folder it loaded)."""
        s = engine.settings
        folder = s.models if s.models and Path(s.models).expanduser().is_dir() else str(engine.folder)
        device = engine.placement.device.type if hasattr(engine, "placement") else engine.codec.device.type
        values = dict(models=folder, device=device, offline=s.offline, cache_dir=s.cache_dir)
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class CloneResult:
    """A cloned voice, the warnings for the user, the window used (seconds) and its speech seconds."""

    voice: Voice
    warnings: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)
    speech_seconds: float = 0.0


class VoiceCloner:
    """HuBERT + quantizer + EnCodec, loaded once; ``clone`` turns audio into a Voice."""

    def __init__(self, hubert, quantizer, codec, layer: int = HUBERT_LAYER):
        from .codec import Codec

        if not isinstance(codec, Codec):
            raise TypeError("VoiceCloner needs a bark_core.codec.Codec.")
        hidden = int(hubert.config.hidden_size)
        if quantizer.info.input_size != hidden:
            raise ValueError(
                f"The quantizer reads {quantizer.info.input_size}-wide features but this HuBERT gives {hidden}; "
                "they do not belong together."
            )
        if quantizer.info.output_size != SEMANTIC_VOCAB_SIZE:
            raise ValueError(
                f"The quantizer predicts {quantizer.info.output_size} classes; Bark's semantic vocabulary has "
                f"{SEMANTIC_VOCAB_SIZE}."
            )
        self.hubert = hubert
        self.quantizer = quantizer.to(next(hubert.parameters()).device)
        self.codec = codec
        self.layer = layer

    @classmethod
    def load(cls, settings: CloneSettings = CloneSettings(), codec=None) -> "VoiceCloner":
        """Load HuBERT and the quantizer (and the codec unless one is given, e.g. ``engine.codec``).

        Raises ``sources.WeightsNotFound`` with advice when weights are missing, ValueError when a
        file is unusable (including a quantizer holding a pickle payload: refused, never run).
        """
        from . import sources
        from .codec import load_codec
        from .hubert import load_hubert
        from .placement import resolve_device
        from .quantizer import load_quantizer

        device = resolve_device(settings.device)
        folder = None
        if settings.models is not None:
            folder = Path(settings.models).expanduser()
            if not folder.is_dir():
                raise ValueError(
                    f"Models folder {settings.models} does not exist; cloning's --models takes a local folder "
                    "(leave it out to use the Hub weights)."
                )
        hubert_spec = settings.hubert
        if hubert_spec is None and folder is not None and (folder / "hubert" / "config.json").is_file():
            hubert_spec = str(folder / "hubert")
        quantizer_spec = settings.quantizer
        if quantizer_spec is None and folder is not None and (folder / "quantizer.pth").is_file():
            quantizer_spec = str(folder / "quantizer.pth")
        hubert_dir = sources.resolve_hubert(hubert_spec, offline=settings.offline, cache_dir=settings.cache_dir)
        quantizer_path = sources.resolve_quantizer(quantizer_spec, offline=settings.offline, cache_dir=settings.cache_dir)
        quantizer = load_quantizer(quantizer_path)
        if codec is None:
            codec = load_codec(folder, settings.codec, offline=settings.offline, cache_dir=settings.cache_dir,
                               device=device if device.type != "mps" else "cpu")
        hubert = load_hubert(hubert_dir, device=device)
        logger.info("cloning: HuBERT %s, quantizer %s (v%d), on %s", hubert_dir, quantizer_path,
                    quantizer.info.version, device)
        return cls(hubert, quantizer, codec)

    # ------------------------------------------------------------------ the steps

    def features(self, wav_16k: np.ndarray) -> torch.Tensor:
        """HuBERT layer-9 features (T, hidden) of 16 kHz mono audio."""
        return hubert_features(self.hubert, torch.as_tensor(np.asarray(wav_16k, dtype=np.float32)), self.layer)

    @torch.no_grad()
    def semantic_tokens(self, wav_16k: np.ndarray) -> np.ndarray:
        """Bark semantic tokens (T,) int64 of 16 kHz mono audio (50 per second)."""
        return self.quantizer.tokens(self.features(wav_16k)).to("cpu", torch.int64).numpy()

    def codes(self, wav_24k: np.ndarray) -> np.ndarray:
        """EnCodec codes (8, N) int64 of 24 kHz mono audio (75 frames per second)."""
        return encode_codes(self.codec, wav_24k)

    # ------------------------------------------------------------------ cloning

    def clone(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        start: Optional[float] = None,
        seconds: Optional[float] = None,
        name: str = "",
    ) -> CloneResult:
        """A validated Voice from audio at ``sample_rate`` (16..96 kHz), with warnings.

        ``audio``: (samples,) or (samples, channels) with 1-2 channels, float or integer PCM (as
        ``gr.Audio(type="numpy")`` gives it); see ``to_mono``. The window is
        ``choose_window(audio, sample_rate, start, seconds)`` (automatic by default).
        """
        from .voices import validate_voice

        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or not (
            MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
        ):
            raise ValueError(
                f"The sample rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {sample_rate!r}."
            )
        sample_rate = int(sample_rate)
        audio = to_mono(audio)
        if len(audio) == 0:
            raise ValueError("The recording holds no audio samples.")
        if not np.isfinite(audio).all():
            raise ValueError("The recording holds invalid samples (NaN or infinite values).")
        window = choose_window(audio, sample_rate, start, seconds)
        warnings, speech = check_recording(audio, sample_rate, window)
        part = audio[int(round(window[0] * sample_rate)) : int(round(window[1] * sample_rate))]
        semantic = self.semantic_tokens(resample(part, sample_rate, HUBERT_SAMPLE_RATE))
        fine = self.codes(resample(part, sample_rate, SAMPLE_RATE))
        voice = validate_voice(semantic, fine[:N_COARSE_CODEBOOKS].copy(), fine, name=name)
        return CloneResult(voice=voice, warnings=warnings, window=window, speech_seconds=round(speech, 2))

    def clone_file(
        self,
        source: Source,
        *,
        start: Optional[float] = None,
        seconds: Optional[float] = None,
        name: Optional[str] = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> CloneResult:
        """``read_audio`` then ``clone``; the voice is named after the file unless ``name`` is given."""
        audio, rate = read_audio(source, max_bytes=max_bytes, max_seconds=max_seconds)
        if name is None:
            name = Path(source).stem if isinstance(source, (str, os.PathLike)) else ""
        return self.clone(audio, rate, start=start, seconds=seconds, name=name)
