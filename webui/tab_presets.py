"""The Style panel's handlers (laid out and wired by ``webui.tabs.studio.styles``): pick a named generation
preset, save your own, delete it.

Picking a preset sets the settings widgets to its values (a setting it leaves out goes back to the
table's default; the seed and the number of takes stay as they are). "Save" keeps the current
settings under a name of the owner's; only the owner sees, uses or deletes it (``webui.preset_store``).
Handlers take named inputs and return dicts of named outputs (``webui.wiring``).
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from bark_core import presets as P
from bark_core import settings as table

from .formatting import plain
from .preset_store import PresetStore

STYLE_INFO = "A settings set by name: picking one sets the sliders (seed and takes stay)."


def style_choices(presets: PresetStore, owner: Optional[str]) -> list[tuple[str, str]]:
    """(label, name) for the Style list: the built-ins, then the owner's own (★)."""
    return [(p.label, p.name) for p in presets.builtins] + [(f"★ {u.name}", u.name) for u in presets.list(owner)]


def list_styles(presets: PresetStore, owner: Optional[str], style: Optional[str] = None) -> dict[str, Any]:
    """Page load: this owner's Style list (the built-ins and their own)."""
    names = {n for _, n in style_choices(presets, owner)}
    return {"style": gr.update(choices=style_choices(presets, owner), value=style if style in names else None)}


def pick_style(presets: PresetStore, owner: Optional[str], style: Optional[str]) -> dict[str, Any]:
    """Set every preset setting's widget to the picked preset's value; say what the preset is for."""
    if not style:
        return {"style_note": ""}
    preset = presets.find(owner, style)
    note = f"**{plain(preset.label)}**: {plain(preset.description)}" if preset.description else ""
    return {**preset.widgets(), "style_note": note}


def save_style(presets: PresetStore, owner: Optional[str], style_name: str = "", **values: Any) -> dict[str, Any]:
    """Save the current settings (widget values by setting name) as the owner's preset ``style_name``."""
    settings = table.from_widgets({k: v for k, v in values.items() if k in {s.name for s in P.PRESET_SETTINGS}})
    saved = presets.add(owner, style_name, settings)
    return {"style": gr.update(choices=style_choices(presets, owner), value=saved.name), "style_name": "",
            "style_note": "", "style_msg": f"✓ Saved your preset “{plain(saved.name)}”; it is in the Style list."}


def delete_style(presets: PresetStore, owner: Optional[str], style: Optional[str]) -> dict[str, Any]:
    """Delete the selected preset if it is one of the owner's own."""
    if not style:
        raise ValueError("Pick one of your presets (★) in the Style list first.")
    if presets.is_builtin(style):
        raise ValueError("That preset is built in; only your own presets (★) can be deleted.")
    if not presets.delete(owner, style):
        raise ValueError("You have no preset by that name.")
    return {"style": gr.update(choices=style_choices(presets, owner), value=None), "style_note": "",
            "style_msg": f"Deleted your preset “{plain(str(style))}”."}
