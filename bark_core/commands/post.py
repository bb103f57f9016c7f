"""``python -m bark_core post IN OUT``: the audio tools on any audio file soundfile reads.

    python -m bark_core post take.wav take.mp3 --trim-silence --normalize -16 --fade-ms 20
    python -m bark_core post take.wav take.wav --format wav24 --limit-db -1

OUT's suffix picks the format (.wav .flac .ogg .opus .mp3); ``--format`` names a variant
(wav24, wav32f, flac24, opus, ...). The sample rate and channels are kept, except where the format
does not allow the rate (Opus, MP3): then the audio is resampled and the command says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "post"
HELP = "trim silence, normalise loudness, limit peaks, fade, and convert any audio file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..export import FORMATS

    p.add_argument("input", metavar="IN", help="audio file to read (anything soundfile reads: WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("output", metavar="OUT", help="audio file to write; its suffix picks the format (.wav .flac .ogg .opus .mp3)")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), help="format variant (default: from OUT's suffix)")
    add_post_arguments(p)


def add_post_arguments(p: argparse.ArgumentParser) -> None:
    """The audio-tool flags (shared with ``generate``); read them back with ``post_from_args``."""
    p.add_argument("--normalize", type=float, metavar="LUFS", help="integrated loudness target (ITU-R BS.1770), e.g. -16")
    p.add_argument("--trim-silence", action="store_true", help="remove silent leading and trailing audio")
    p.add_argument("--trim-db", type=float, default=-40.0, metavar="DB",
                   help="what counts as silence: dB below the loudest 10 ms (default -40)")
    p.add_argument("--trim-keep-ms", type=float, default=0.0, metavar="MS", help="margin kept around trimmed audio")
    p.add_argument("--fade-ms", type=float, metavar="MS", help="fade in and out over MS milliseconds")
    p.add_argument("--fade-in-ms", type=float, metavar="MS", help="fade in over MS milliseconds (overrides --fade-ms)")
    p.add_argument("--fade-out-ms", type=float, metavar="MS", help="fade out over MS milliseconds (overrides --fade-ms)")
    p.add_argument("--limit-db", type=float, metavar="DB", help="peak ceiling in dBFS, e.g. -1")


def post_from_args(args: argparse.Namespace):
    """The PostProcess the arguments ask for (also usable by ``generate``'s flags)."""
    from ..audiotools import PostProcess

    fade_ms = getattr(args, "fade_ms", None) or 0.0
    fade_in = getattr(args, "fade_in_ms", None)
    fade_out = getattr(args, "fade_out_ms", None)
    post = PostProcess(
        trim_silence=bool(getattr(args, "trim_silence", False)),
        trim_threshold_db=getattr(args, "trim_db", -40.0),
        trim_keep_ms=getattr(args, "trim_keep_ms", 0.0),
        fade_in_ms=fade_ms if fade_in is None else fade_in,
        fade_out_ms=fade_ms if fade_out is None else fade_out,
        normalize_lufs=getattr(args, "normalize", None),
        limit_db=getattr(args, "limit_db", None),
    )
    post.validate()
    return post


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from ..audiotools import process
    from ..export import export_file, format_for_path, output_rate

    post = post_from_args(args)  # before reading: bad settings fail fast
    src, dst = Path(args.input), Path(args.output)
    fmt = format_for_path(dst, args.fmt)
    if not src.is_file():
        raise ValueError(f"There is no audio file at {str(src)!r}.")
    try:
        audio, sr = sf.read(str(src), dtype="float32")
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"Cannot read {src.name!r} as audio: {' '.join(str(e).split())}") from None
    result = process(audio, sr, post)
    rate = output_rate(fmt, sr)
    if rate != sr:
        print(f"note: {fmt.label} does not allow {sr} Hz; resampled to {rate} Hz.", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    path = export_file(result.audio, sr, dst, fmt)
    seconds = len(result.audio) / sr
    loud = f", {result.loudness_lufs:.1f} LUFS" if result.loudness_lufs is not None else ""
    print(f"{path}  {fmt.label}, {seconds:.2f} s{loud}, peak {result.peak_db:.1f} dBFS", file=sys.stderr)
    return 0
