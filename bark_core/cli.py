"""``python -m bark_core``: generate, make-test-weights, convert, download.

Errors end in one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .commands import command_modules
from .commands.post import add_post_arguments, post_from_args
from .flags import (add_engine_arguments, add_setting_arguments, engine_settings, given_settings,
                    offline_unless_reachable, setting_values)
from .presets import apply_preset, builtin_presets, find_preset, load_preset_file
from .settings import describe
from .types import GenerationCancelled, GenerationRequest, Progress

log = logging.getLogger("bark_core")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bark_core", description="Bark text-to-audio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="text -> audio file")
    gen.add_argument("text")
    gen.add_argument("-o", "--output", default="bark.wav", help="audio file (.wav/.flac/.ogg/.mp3); takes>1 write OUT-k.wav")
    gen.add_argument("--voice", metavar="NAME_OR_NPZ", help="preset (v2/en_speaker_6) or a voice .npz")
    gen.add_argument("--preset", metavar="NAME_OR_JSON",
                     help="start from a named settings preset (presets/generation: " + ", ".join(
                         p.name for p in _builtin_presets()) + ") or a preset .json file; flags given override it")
    add_setting_arguments(gen)
    add_post_arguments(gen.add_argument_group("audio tools (applied to each take before it is written)"))
    check = gen.add_argument_group("take check")
    check.add_argument("--rank", action="store_true", help="score every take (on script, same speaker, signal) and "
                       "write them best-first")
    check.add_argument("--retake", type=int, default=0, metavar="N",
                       help="when no take passes the check, make up to N more takes, one at a time (default 0)")
    check.add_argument("--language", default="en", help="language of the text for the on-script check (default en)")
    gen.add_argument("--format", metavar="FORMAT", help="audio format or subtype (wav, wav24, wav32f, flac, flac24, "
                     "ogg, opus, mp3); default: from the output's suffix")
    gen.add_argument("--save-tokens", metavar="OUT.npz", help="also save the tokens as a voice .npz")
    gen.add_argument("--tokens-only", action="store_true", help="skip the codec; save tokens only")
    add_engine_arguments(gen)

    mk = sub.add_parser("make-test-weights", help="write a tiny (or Bark-shaped) random model folder for offline tests")
    mk.add_argument("dir")
    mk.add_argument("--size", default="tiny", choices=["tiny", "small", "large"])
    mk.add_argument("--format", default="native", choices=["original", "transformers", "native"])
    mk.add_argument("--seed", type=int, default=0)

    conv = sub.add_parser("convert", help="convert any supported checkpoint folder into the fast native format")
    conv.add_argument("src")
    conv.add_argument("dst")
    conv.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    conv.add_argument("--small", action="store_true", help="with Suno .pt folders holding both sizes: take the small files")

    dl = sub.add_parser("download", help="download the weights into the Hub cache now")
    dl.add_argument("--small", action="store_true")
    dl.add_argument("--cache-dir", metavar="DIR")
    dl.add_argument("--clone", action="store_true", help="also fetch the voice-cloning weights (HuBERT, quantizer, EnCodec)")

    for module in command_modules():
        module.add_arguments(sub.add_parser(module.NAME, help=module.HELP, description=module.HELP))
        COMMANDS[module.NAME] = module.run
    return parser


def _builtin_presets() -> list:
    try:
        return builtin_presets()
    except ValueError as e:  # a broken preset file must not take every other command down
        log.warning("%s", e)
        return []


def _preset(name: str):
    """``--preset``: a preset .json file, else a built-in preset by name (ValueError listing the names)."""
    if name.lower().endswith(".json"):
        return load_preset_file(name)
    return find_preset(name, builtin_presets())


def _progress_printer():
    last = [""]

    def show(p: Progress) -> None:
        seg = f"segment {p.segment}/{p.segments} " if p.segments > 1 else ""
        line = f"\r{seg}{p.stage:8s} {100 * p.fraction:5.1f}%"
        if line != last[0] and sys.stderr.isatty():
            sys.stderr.write(line)
            sys.stderr.flush()
            last[0] = line

    return show


def _numbered(path: Path, k: int) -> Path:
    return path.with_name(f"{path.stem}-{k}{path.suffix}")


def cmd_generate(args) -> int:
    from .export import export_file
    from .engine import Engine
    from .voices import save_voice

    values = setting_values(args)
    if args.preset:
        preset = _preset(args.preset)
        values = apply_preset(preset, {k: v for k, v in values.items() if k in given_settings(args)})
        print(f"preset {preset.name}: {describe(values)}", file=sys.stderr)
    # The request checks its values as it is made: before the (slow) load.
    request = GenerationRequest(text=args.text, decode=not args.tokens_only, **values)
    post = post_from_args(args)  # bad audio-tool values are refused before the (slow) load
    if (args.rank or args.retake) and args.tokens_only:
        raise ValueError("--rank and --retake listen to the takes; they cannot be used with --tokens-only.")
    if not 0 <= args.retake <= 20:
        raise ValueError("--retake must be between 0 and 20 extra takes.")
    offline_unless_reachable(args)
    engine = Engine.load(engine_settings(args), load_codec=not args.tokens_only)
    slow = engine.info()["precision_warning"]
    if slow:
        print(f"warning: {slow}", file=sys.stderr)
    voice = engine.load_voice(args.voice)
    gen = engine.generate(
        GenerationRequest(**{**request.__dict__, "voice": voice}), on_progress=_progress_printer()
    )
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    takes, seeds = list(gen.takes), [t.seed for t in gen.takes]
    if args.rank or args.retake:
        takes, seeds = _checked_takes(engine, request, voice, gen, args)
    for w in gen.warnings:
        print(f"warning: {w}", file=sys.stderr)
    out = Path(args.output)
    tokens = Path(args.save_tokens) if args.save_tokens else (out.with_suffix(".npz") if args.tokens_only else None)
    many = len(takes) > 1
    for k, take in enumerate(takes, start=1):
        if take.audio is not None:
            path = export_file(take.audio, gen.sample_rate, _numbered(out, k) if many else out, fmt=args.format,
                               post=post)
            print(f"{path}  {take.seconds:.2f} s", file=sys.stderr)
        targets = ([_numbered(out.with_suffix(".npz"), k)] if many else []) + (
            [_numbered(tokens, k) if many else tokens] if tokens is not None else []
        )
        for target in targets:
            try:
                save_voice(take.voice, target)
            except ValueError as e:  # e.g. a take that stopped after a few tokens is no usable voice
                print(f"warning: take {k} not saved as a voice: {e}", file=sys.stderr)
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in gen.timings.items())
    each = f" (each take: {', '.join(str(x) for x in seeds)})" if many else ""
    print(f"seed {gen.seed}{each}; {timing}", file=sys.stderr)
    return 0


def _checked_takes(engine, request, voice, gen, args) -> tuple[list, list[int]]:
    """Score each take, retake (one at a time, new seeds) until one passes or ``--retake`` is spent, rank."""
    from .settings import take_seed
    from .takecheck import TakeChecker, rank

    checker = TakeChecker()
    reference = None
    if voice is not None:
        try:
            reference = checker.reference(engine.decode(voice.fine), gen.sample_rate)
        except (ValueError, RuntimeError) as e:  # no speech in the voice, or no speaker encoder installed
            print(f"warning: no same-speaker check: {e}", file=sys.stderr)

    def score(take):
        return checker.score(take.audio, gen.sample_rate, request.text, language=args.language, reference=reference)

    takes, seeds = list(gen.takes), [t.seed for t in gen.takes]
    scores = [score(t) for t in takes]
    for extra in range(1, args.retake + 1):
        if any(checker.passes(s) for s in scores):
            break
        seed = take_seed(gen.seed, len(gen.takes) + extra - 1)  # after the batch's own take seeds
        again = engine.generate(GenerationRequest(**{**request.__dict__, "voice": voice, "takes": 1, "seed": seed}))
        takes.append(again.takes[0])
        seeds.append(seed)
        scores.append(score(again.takes[0]))
        print(f"retake {extra}: seed {seed}", file=sys.stderr)
    order = rank(scores) if args.rank else list(range(len(takes)))
    for place, i in enumerate(order, start=1):
        s = scores[i]
        on = "not checked" if s.on_script is None else f"{s.on_script:.2f}"
        same = "" if s.speaker_similarity is None else f", same voice {s.speaker_similarity:.2f}"
        verdict = "passes" if checker.passes(s) else "; ".join(s.issues) or "fails"
        print(f"take {place}: seed {seeds[i]}, on script {on}{same}: {verdict}", file=sys.stderr)
    return [takes[i] for i in order], [seeds[i] for i in order]


def cmd_make_test_weights(args) -> int:
    from .testweights import write_test_weights

    path = write_test_weights(args.dir, size=args.size, fmt=args.format, seed=args.seed)
    print(path)
    return 0


def cmd_convert(args) -> int:
    from .conversion import convert
    from .placement import DTYPES

    print(convert(args.src, args.dst, dtype=DTYPES[args.dtype], small=args.small or None))
    return 0


def cmd_download(args) -> int:
    from .sources import UNREACHABLE, download, download_clone, hub_reachable

    if not getattr(args, "hub_offline", False) and not hub_reachable():
        raise ValueError(f"{UNREACHABLE}, so nothing can be downloaded. Check the connection and try again, or "
                         "download on another machine and pass --models DIR.")
    print(download(small=args.small, cache_dir=args.cache_dir))
    if args.clone:
        print(download_clone(cache_dir=args.cache_dir))
    return 0


COMMANDS = {
    "generate": cmd_generate, "make-test-weights": cmd_make_test_weights, "convert": cmd_convert, "download": cmd_download,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # the CLI is an entry point (like app.py): huggingface_hub's own offline switch spares the Hub probe
    args.hub_offline = bool(os.environ.get("HF_HUB_OFFLINE"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except GenerationCancelled as e:
        print(f"error: {e}", file=sys.stderr)
        return 130
    except Exception as e:  # one line, no traceback
        if args.verbose:
            log.exception("failed")
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
