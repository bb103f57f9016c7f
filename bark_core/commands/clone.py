"""``python -m bark_core clone AUDIO -o VOICE.npz``: make a Bark voice from a recording.

The recording and the window are checked before any model loads; the voice file is
written atomically, and only when everything succeeded. Warnings go to stderr, one per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "clone"
HELP = "make a Bark voice (.npz) from a recording of someone speaking (HuBERT + quantizer + EnCodec)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", help="the recording: WAV, FLAC, OGG or MP3, mono or stereo, 16-96 kHz")
    p.add_argument("-o", "--output", required=True, metavar="VOICE.npz", help="the voice file to write")
    p.add_argument("--start", type=float, metavar="SECONDS",
                   help="where the window starts (default: an automatic pick; alone: 10 s from there or to the end)")
    p.add_argument("--seconds", type=float, metavar="SECONDS",
                   help="window length, 1-30 (default: up to 10 s of speech ending at a pause)")
    g = p.add_argument_group("models")
    g.add_argument("--models", metavar="DIR",
                   help="local folder with hubert/, quantizer.pth and codec/ (each used when its flag is not given)")
    g.add_argument("--codec", metavar="SRC", help="EnCodec folder or Hub id (default: from --models, else facebook/encodec_24khz)")
    g.add_argument("--hubert", metavar="SRC", help="HuBERT folder or Hub id (default facebook/hubert-base-ls960)")
    g.add_argument("--quantizer", metavar="FILE_OR_REPO:FILE",
                   help="quantizer .pth file or REPO:FILE (default GitMylo/bark-voice-cloning:quantifier_hubert_base_ls960_14.pth)")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    g.add_argument("--offline", action="store_true", help="never download; use the Hub cache only")
    g.add_argument("--cache-dir", metavar="DIR", help="Hub cache folder")


def run(args: argparse.Namespace) -> int:
    from ..cloning import CloneSettings, VoiceCloner, choose_window, read_audio
    from ..flags import offline_unless_reachable
    from ..voices import save_voice

    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        raise ValueError(f"Voice files must end in .npz, got '{out.name}'.")
    if not out.parent.is_dir():
        raise ValueError(f"The folder {out.parent} does not exist.")
    audio, rate = read_audio(args.audio)
    choose_window(audio, rate, args.start, args.seconds)  # refuse a bad window before loading anything
    offline_unless_reachable(args, "the cloning weights")  # ~1.5 s offline, not ~30 s of Hub retries
    settings = CloneSettings(
        models=args.models, hubert=args.hubert, quantizer=args.quantizer, codec=args.codec,
        device=args.device, offline=args.offline, cache_dir=args.cache_dir,
    )
    cloner = VoiceCloner.load(settings)
    result = cloner.clone(audio, rate, start=args.start, seconds=args.seconds, name=out.stem)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    save_voice(result.voice, out)
    v = result.voice
    print(
        f"{out}  window {result.window[0]:.2f}-{result.window[1]:.2f} s, {result.speech_seconds:.1f} s of speech, "
        f"{v.semantic.shape[0]} semantic tokens, {v.fine.shape[1]} codec frames",
        file=sys.stderr,
    )
    return 0
