"""Every generation setting once: default, range, step, label, help, CLI flag and API name.

The studio's sliders, the ``/generate`` API's parameters, request validation, "Reuse settings",
the details text and ``python -m bark_core generate``'s flags are all made from ``SETTINGS``.
Adding a setting is one row here, one field of ``GenerationRequest`` and the engine's use of it.

A row's ``default`` is the request's value. ``off`` is the widget value that means "not set"
(``None`` in the request): top-k 0, top-p 1, max seconds 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

MAX_TAKES = 8
MAX_SEED = 2**32 - 1
MAX_SEGMENT_RETAKES = 10  # most redraws of one long-form segment that fails its check (Engine.generate's segment_retakes)


def take_seed(seed: int, index: int) -> int:
    """The seed of take ``index`` of a request seeded ``seed``: take 0 uses the request's seed, take k
    ``seed + k``, wrapping past MAX_SEED to 0. Segment k of a seeded timeline, and retake k after a
    batch of n takes (index n + k - 1), follow the same rule."""
    return (seed + index) % (MAX_SEED + 1)


@dataclass(frozen=True)
class Setting:
    """One generation setting and how every surface shows it."""

    name: str  # GenerationRequest field, settings key in history, API keyword
    kind: type  # float, int or bool
    default: Any  # the request's default (None = off)
    label: str
    help: str
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None
    off: Any = None  # widget value that stands for None ("off")
    widget: str = "slider"  # slider | number | checkbox | none (CLI and API only)
    section: str = "main"  # main | advanced
    cli_flag: str = ""  # default: --name-with-dashes (--no-NAME for booleans that default to True)
    api: bool = True  # a keyword of the /generate API
    cli: bool = True  # a flag of ``python -m bark_core generate`` (False: the CLI has no use for it)

    @property
    def flag(self) -> str:
        if self.cli_flag:
            return self.cli_flag
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind is bool and self.default is True else f"--{dashed}"

    @property
    def ui_default(self) -> Any:
        """The widget's value for the default (``off`` when the default is None)."""
        return self.off if self.default is None else self.default

    def range_text(self) -> str:
        if self.kind is bool or self.minimum is None:
            return ""
        text = f"{_num(self.minimum)}..{_num(self.maximum)}"
        return f"{text}, {_num(self.off)} = off" if self.off is not None else text

    def what(self) -> str:
        """What a valid value is, in words: "a whole number in 1..8", "a number in 0.05..1.5"."""
        return f"{'a whole number' if self.kind is int else 'a number'} in {self.range_text()}"

    def check(self, value: Any, subject: str = "") -> Any:
        """The value if it is valid for this setting, else ValueError with a sentence.

        ``subject`` names the value in that sentence instead of the label ("Segment 3's semantic temperature").
        """
        subject = subject or self.label
        if value is None:
            if self.default is None:
                return None
            raise ValueError(f"{subject} needs a value ({self.range_text()}).")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{subject} must be true or false, got {value!r}.")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                self.kind is int and value != int(value)) or not self.minimum <= value <= self.maximum:
            raise ValueError(f"{subject} must be {self.what()}, got {_echo(value)}.")
        return int(value) if self.kind is int else float(value)

    def from_widget(self, value: Any) -> Any:
        """A widget, API or CLI value (maybe a string, maybe ``off``) -> the request's value, parsed but not
        range-checked: the request checks its values once (``GenerationRequest.validate``). ValueError with a
        sentence for what is no number at all."""
        if value is None or value == "":
            return self.default
        if self.kind is bool:
            if isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.label} must be {self.what()}, got {_echo(value)}.") from None
        if self.off is not None and number == self.off:
            return None
        return int(number) if self.kind is int and math.isfinite(number) and number.is_integer() else number

    def to_widget(self, value: Any) -> Any:
        """A stored request value -> what the widget shows."""
        return self.ui_default if value is None and self.off is not None else (self.default if value is None else value)


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _echo(value: Any, n: int = 40) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return repr(text if len(text) <= n else text[: n - 1] + "…")


SETTINGS: tuple[Setting, ...] = (
    Setting("semantic_temp", float, 0.7, "Semantic temperature",
            "What is said and how: higher = more varied, riskier.", 0.05, 1.5, 0.05),
    Setting("coarse_temp", float, 0.7, "Coarse temperature",
            "Voice and prosody: higher = more expressive, less stable.", 0.05, 1.5, 0.05),
    Setting("fine_temp", float, 0.5, "Fine temperature", "Audio detail: rarely worth changing.", 0.05, 1.5, 0.05),
    Setting("top_k", int, None, "Top-k", "Keep only the k likeliest tokens (0 = off).", 1, 10_000, 1, off=0,
            widget="number", section="advanced"),
    Setting("top_p", float, None, "Top-p", "Nucleus sampling (1 = off).", 0.01, 1.0, 0.01, off=1.0,
            section="advanced"),
    Setting("min_eos_p", float, 0.2, "Min EOS probability",
            "Lower = ends sooner; higher = runs on longer.", 0.0, 1.0, 0.01, section="advanced"),
    Setting("seed", int, None, "Seed", "Same seed + settings = same audio; empty = a new random seed.", 0, MAX_SEED,
            1, widget="number", section="advanced"),
    Setting("takes", int, 1, "Takes", "Variations made in one batch.", 1, MAX_TAKES, 1, section="advanced"),
    Setting("segment_pause_s", float, 0.25, "Pause between segments (s)",
            "Long text is split into sentences, joined with this pause.", 0.0, 5.0, 0.05, section="advanced",
            cli_flag="--pause"),
    Setting("early_stop", bool, True, "Stop at end of speech", "Off: always run to the maximum length.",
            widget="checkbox", section="advanced"),
    Setting("max_seconds", float, None, "Max seconds per segment", "0 = Bark's limit (about 14 s).", 0.02, 30.0, 0.1,
            off=0.0, widget="number", section="advanced"),
    Setting("long_form", bool, True, "Long-form",
            "Split long text into sentences and chain them; off = cut at 256 tokens.", widget="none"),
    Setting("live_preview", bool, True, "Preview while generating",
            "Play a rough preview (from the coarse codes) while each part is made; the final take replaces it. "
            "Changes nothing in the take.", widget="checkbox", section="advanced", cli=False),
    Setting("max_coarse_history", int, 630, "Max coarse history",
            "Coarse codes of history each window re-reads.", 60, 630, 1, widget="none", api=False),
    Setting("sliding_window_len", int, 60, "Sliding window length", "Coarse steps per window.", 1, 708, 1,
            widget="none", api=False),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    return BY_NAME[name]


def validate(values: dict[str, Any]) -> None:
    """Check each table setting in ``values`` (request values: None = off); ValueError names the first bad one."""
    for s in SETTINGS:
        if s.name in values:
            s.check(values[s.name])
    history, window = values.get("max_coarse_history"), values.get("sliding_window_len")
    if history is not None and window is not None and history + window > 768:
        raise ValueError("Sliding window length plus max coarse history must be at most 768.")


def from_widgets(values: dict[str, Any]) -> dict[str, Any]:
    """Widget/API values by name -> request values by name, parsed (ValueError with a sentence for a non-number);
    the request they make checks their ranges."""
    return {name: BY_NAME[name].from_widget(v) for name, v in values.items() if name in BY_NAME}


def to_widgets(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored request values (a history row's settings) -> widget values, defaults for what is missing."""
    return {s.name: s.to_widget(stored.get(s.name, s.default)) for s in SETTINGS if s.widget != "none"}


def describe(stored: dict[str, Any]) -> str:
    """One line of a generation's settings for the details text."""
    parts = []
    for s in SETTINGS:
        if s.widget == "none" or s.name in ("seed", "live_preview") or s.name not in stored:  # live preview: not the take's
            continue
        v = stored[s.name]
        shown = "off" if v is None else ("on" if v is True else "off" if v is False else _num(v))
        parts.append(f"{s.label.lower()} {shown}")
    return " · ".join(parts)
