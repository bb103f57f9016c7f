"""The top-level ``presets/`` folder: Bark's voice catalog and named generation presets ("styles").

``presets/voices.json`` describes the official voice presets (read by ``bark_core.voices.preset_catalog``).
``presets/generation/<name>.json`` is one generation preset a user picks by name (``--preset NAME``,
``/generate(preset=...)``, the studio's Style list)::

    {"label": "Steady narration", "description": "…", "settings": {"semantic_temp": 0.6, "min_eos_p": 0.05}}

``settings`` holds request values of the settings table (``bark_core.settings``; ``null`` = off for
top-k, top-p and max seconds). Only the rows in ``PRESET_SETTINGS`` belong in a preset: the sound of a
generation, not its seed or number of takes. A setting a preset leaves out takes the table's default,
so picking a preset always gives the same settings. Every file is checked when it is read: an unknown
key or an out-of-range value is a ``ValueError`` whose sentence names the file.

The folder sits beside ``bark_core/`` both in a source checkout and in an installed wheel
(pyproject ships it as package data), so one path serves both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .settings import SETTINGS, Setting

PathLike = Union[str, Path]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
CATALOG_NAME = "voices.json"
GENERATION_FOLDER = "generation"

# What a preset may set: every setting the studio shows, but not the seed, the number of takes or
# whether previews play (none of them is the sound of a take).
PRESET_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.widget != "none"
                                             and s.name not in ("seed", "takes", "live_preview"))
_BY_NAME = {s.name: s for s in PRESET_SETTINGS}
FILE_KEYS = ("label", "description", "settings")
MAX_LABEL = 60
MAX_DESCRIPTION = 300
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def presets_dir() -> Path:
    """The ``presets/`` folder this code ships with."""
    return PRESETS_DIR


def catalog_path() -> Path:
    """``presets/voices.json``: the official voice presets' languages, genders and descriptions."""
    return PRESETS_DIR / CATALOG_NAME


@dataclass(frozen=True)
class GenerationPreset:
    """One named settings set: ``settings`` are request values (None = off) of ``PRESET_SETTINGS`` rows."""

    name: str
    label: str
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """Every preset setting's request value: the preset's own, the table's default for the rest."""
        return {s.name: self.settings.get(s.name, s.default) for s in PRESET_SETTINGS}

    def widgets(self) -> dict[str, Any]:
        """The studio's widget values for ``values()`` (off = 0 for top-k, 1 for top-p, 0 for max seconds)."""
        return {name: _BY_NAME[name].to_widget(v) for name, v in self.values().items()}


def check_settings(settings: Any, where: str) -> dict[str, Any]:
    """A preset's settings object -> request values by name; ValueError naming ``where`` for a bad one."""
    if not isinstance(settings, dict):
        raise ValueError(f"{where}: \"settings\" must be an object of setting names and values.")
    out: dict[str, Any] = {}
    for key, value in settings.items():
        s = _BY_NAME.get(key)
        if s is None:
            names = ", ".join(_BY_NAME)
            raise ValueError(f"{where}: {str(key)[:40]!r} is not a setting a preset can hold (it can hold {names}).")
        try:
            out[key] = s.check(value)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return out


def parse_preset(data: Any, name: str, where: str) -> GenerationPreset:
    """A preset file's JSON object -> a checked ``GenerationPreset`` (ValueError naming ``where``)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a preset is a JSON object with {', '.join(FILE_KEYS)}.")
    unknown = [k for k in data if k not in FILE_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {str(unknown[0])[:40]!r} (a preset has {', '.join(FILE_KEYS)}).")
    label, description = data.get("label"), data.get("description", "")
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        raise ValueError(f"{where}: \"label\" must be a name of 1 to {MAX_LABEL} characters.")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ValueError(f"{where}: \"description\" must be text of at most {MAX_DESCRIPTION} characters.")
    return GenerationPreset(name, label.strip(), description.strip(), check_settings(data.get("settings"), where))


def load_preset_file(path: PathLike) -> GenerationPreset:
    """Read and check one preset file; its name is the file's stem."""
    path = Path(path)
    where = f"Preset file {path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{where} is not valid JSON (line {e.lineno}: {e.msg}).") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{where} could not be read ({type(e).__name__}).") from None
    return parse_preset(data, path.stem, where)


def builtin_presets(folder: Optional[PathLike] = None) -> list[GenerationPreset]:
    """The presets in ``presets/generation/`` (or ``folder``), by name; ValueError if one is bad."""
    root = Path(folder) if folder is not None else PRESETS_DIR / GENERATION_FOLDER
    presets = []
    for path in sorted(root.glob("*.json")):
        if not NAME_RE.match(path.stem):
            raise ValueError(f"Preset file {path.name}: a preset's file name is lowercase letters, digits, - and _.")
        presets.append(load_preset_file(path))
    return presets


def find_preset(name: Any, presets: list[GenerationPreset]) -> GenerationPreset:
    """The preset called ``name`` (its name or label, any case); ValueError listing the names otherwise."""
    wanted = str(name or "").strip().lower()
    for p in presets:
        if wanted in (p.name.lower(), p.label.lower()):
            return p
    shown = "".join(ch if ch.isprintable() else "?" for ch in str(name))[:40]
    names = ", ".join(p.name for p in presets) or "none"
    raise ValueError(f"There is no preset {shown!r}; the presets are: {names}.")


def apply_preset(preset: Optional[GenerationPreset], given: Mapping[str, Any]) -> dict[str, Any]:
    """Request values: the table's defaults, then the preset's values, then ``given`` (what the user set)."""
    values = {s.name: s.default for s in SETTINGS}
    if preset is not None:
        values.update(preset.values())
    values.update(given)
    return values


__all__ = ["GenerationPreset", "PRESET_SETTINGS", "apply_preset", "builtin_presets", "catalog_path",
           "check_settings", "find_preset", "load_preset_file", "parse_preset", "presets_dir"]
