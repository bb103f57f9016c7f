"""``python -m bark_core score AUDIO --text TEXT``: check a take for script, speaker and signal."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

NAME = "score"
HELP = "check a take: on-script (English), same speaker as a reference, clipping, silences, length, level"

_VOICE_SUFFIX = ".npz"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", metavar="AUDIO", help="the take (any format soundfile reads: WAV, FLAC, OGG, MP3)")
    p.add_argument("--text", required=True, help="the prompt the take was generated from")
    p.add_argument("--reference", metavar="AUDIO_OR_VOICE",
                   help="the voice it should have: an audio file, a voice .npz or a preset name (these two need the codec)")
    p.add_argument("--language", default="en", help="the prompt's language code (only en can be checked on-script)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--models", metavar="SRC", help="models folder: its codec decodes a voice reference, and its presets are found here")
    p.add_argument("--codec", metavar="SRC", help="EnCodec folder for a voice reference (default: the models folder's)")
    p.add_argument("--min-on-script", type=float, default=0.8)
    p.add_argument("--min-speaker-similarity", type=float, default=0.75)


def _read_audio(path: str, what: str):
    import numpy as np
    import soundfile as sf

    if not Path(path).is_file():
        raise ValueError(f"The {what} file {path} does not exist.")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise ValueError(f"Cannot read the {what} {path}: {str(e).splitlines()[0]}") from None
    return np.ascontiguousarray(data.mean(axis=1)), int(rate)


def _is_voice(spec: str) -> bool:
    from ..voices import PRESET_NAMES

    return spec.lower().endswith(_VOICE_SUFFIX) or spec in PRESET_NAMES


def _voice_audio(spec: str, args) -> tuple:
    from ..codec import load_codec
    from ..takecheck import voice_reference_audio
    from ..voices import load_voice

    if not args.models and not args.codec:  # said first: without a folder no preset can be found either
        raise ValueError("A voice reference needs the codec to turn it into audio: give --models FOLDER or --codec FOLDER.")
    voice = load_voice(spec, models_folder=args.models)  # local folders only, and the codec below offline: no Hub
    models = args.models if args.models and os.path.isdir(args.models) else None
    try:
        codec = load_codec(models_folder=models, spec=args.codec, offline=True)
    except Exception as e:  # noqa: BLE001 - any loading failure becomes one sentence
        raise ValueError(f"Cannot load the codec to decode the voice reference: {str(e).splitlines()[0]}") from None
    return voice_reference_audio(voice, codec), codec.sample_rate


def run(args) -> int:
    from ..takecheck import TakeChecker, Thresholds

    thresholds = Thresholds(min_on_script=args.min_on_script, min_speaker_similarity=args.min_speaker_similarity).validate()
    audio, rate = _read_audio(args.audio, "audio")
    checker = TakeChecker()
    reference = None
    if args.reference:
        if _is_voice(args.reference):
            ref_audio, ref_rate = _voice_audio(args.reference, args)
        else:
            ref_audio, ref_rate = _read_audio(args.reference, "reference")
        reference = checker.reference(ref_audio, ref_rate)
    score = checker.score(audio, rate, args.text, language=args.language, reference=reference, thresholds=thresholds)
    if args.json:
        print(json.dumps(score.to_dict(), ensure_ascii=False))
        return 0
    on = "not checked" if score.on_script is None else f"{score.on_script:.2f}"
    sim = "no reference" if score.speaker_similarity is None else f"{score.speaker_similarity:.2f}"
    print(f"on-script: {on}")
    if score.missing_words:
        print(f"missing words: {' '.join(score.missing_words)}")
    print(f"speaker similarity: {sim}")
    print(f"passed: {'yes' if score.details.get('passed') else 'no'}")
    for issue in score.issues:
        print(f"- {issue}")
    return 0
