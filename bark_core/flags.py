"""Command-line flags shared by ``python -m bark_core`` and ``app.py``: the engine's and the settings table's."""

from __future__ import annotations

import argparse
from typing import Any

from .checkpoints import STAGES
from .settings import SETTINGS, Setting


def small_stages(text: str) -> tuple[str, ...]:
    """``--small-stages``: comma-separated stage names (``fine`` or ``coarse,fine``) -> a tuple in stage order."""
    names = {s.strip().lower() for s in text.split(",") if s.strip()}
    unknown = sorted(names - set(STAGES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage {unknown[0]!r}; stages are {', '.join(STAGES)}")
    return tuple(s for s in STAGES if s in names)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """Where the weights come from and how they run (EngineSettings)."""
    g = p.add_argument_group("models")
    g.add_argument("--models", metavar="SRC", help="local folder or Hub repo id (default suno/bark, or suno/bark-small)")
    g.add_argument("--small", action="store_true", help="use the small models (suno/bark-small: 1.7 GB, faster)")
    g.add_argument("--small-stages", metavar="STAGES", type=small_stages, default=(),
                   help="comma-separated stages to run small, the rest large, e.g. fine or coarse,fine")
    g.add_argument("--tokenizer", metavar="SRC", help="tokenizer folder or Hub id (default: from the models)")
    g.add_argument("--codec", metavar="SRC",
                   help="EnCodec folder or Hub id (default: from the models, else facebook/encodec_24khz)")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="(default auto)")
    g.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16", "int8"],
                   help="(default auto: float32 on a CPU unless another precision is measured clearly faster; "
                        "int8: the fast CPU mode, int8 weights, not exact)")
    g.add_argument("--offload", action="store_true", help="keep one model on the GPU at a time (less memory)")
    g.add_argument("--row-exact", default="auto", choices=["auto", "on", "off"],
                   help="compute each take of a batch as if it were alone, so every take (and every user's job in a "
                        "shared batch) gives exactly its solo tokens (default auto: on for CPU float32, where it "
                        "costs up to ~1.9x per decode step with 4 takes; off: fused batch math)")
    g.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub; use local files only")
    g.add_argument("--cache-dir", metavar="DIR", help="Hugging Face cache and converted weights")


def offline_unless_reachable(args: argparse.Namespace, what: str = "the weights") -> bool:
    """Set ``args.offline`` when the Hub cannot be reached, found in ~1.5 s instead of ~30 s of retries; True if offline.

    Nothing is probed when the command is offline already (``--offline``, or ``args.hub_offline``: the
    CLI's HF_HUB_OFFLINE) or when ``--models`` is a local folder. A warning says what happens instead.
    """
    import os
    import sys

    from . import sources

    if getattr(args, "offline", False) or getattr(args, "hub_offline", False):
        return True
    models = getattr(args, "models", None)
    if models and os.path.isdir(models):
        return False
    if sources.hub_reachable():
        return False
    args.offline = True
    print(f"warning: {sources.UNREACHABLE}: working offline, with local folders and the Hub cache only for {what}.",
          file=sys.stderr)
    return True


def engine_settings(args: argparse.Namespace):
    """EngineSettings from the parsed engine flags."""
    from .engine import EngineSettings

    return EngineSettings(models=args.models, small=args.small, small_stages=tuple(args.small_stages),
                          tokenizer=args.tokenizer, codec=args.codec, device=args.device, dtype=args.dtype,
                          placement="offload" if args.offload else "auto", offline=args.offline,
                          cache_dir=args.cache_dir, row_exact=args.row_exact)


def _flag_help(s: Setting) -> str:
    if s.kind is bool:
        return f"{s.help} (default {'on' if s.default else 'off'})"
    default = "off" if s.default is None else s.default
    return f"{s.help} (default {default}; {s.range_text()})"


GIVEN = "given_settings"  # the parsed namespace's set of settings whose flag was on the command line


class _SettingAction(argparse.Action):
    """Stores a setting's value (``const`` for a switch) and notes that its flag was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        setattr(namespace, GIVEN, getattr(namespace, GIVEN, frozenset()) | {self.dest})


def add_setting_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per row of the settings table, with its default and range in the help."""
    g = p.add_argument_group("generation settings")
    for s in SETTINGS:
        if not s.cli:
            continue
        if s.kind is bool:
            g.add_argument(s.flag, dest=s.name, action=_SettingAction, nargs=0, const=not s.default,
                           default=s.default, help=_flag_help(s))
        else:
            g.add_argument(s.flag, dest=s.name, action=_SettingAction, type=s.kind, default=s.default,
                           metavar=s.name.upper(), help=_flag_help(s))


def given_settings(args: argparse.Namespace) -> frozenset[str]:
    """The names of the settings whose flags were given on the command line (they override a preset)."""
    return getattr(args, GIVEN, frozenset())


def setting_values(args: argparse.Namespace) -> dict[str, Any]:
    """The table's settings from parsed flags (``--top-k 0`` means off, as in the studio); ValueError if bad."""
    return {s.name: getattr(args, s.name) if s.kind is bool else s.from_widget(getattr(args, s.name))
            for s in SETTINGS if s.cli}
