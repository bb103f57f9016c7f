"""The voice list and the selected voice's details, shared by every tab that changes what the list shows
(the voice panel, cloning, "Save as voice", a model reload, the page load)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from .formatting import plain
from .studio import Studio
from .voice_book import PRESET, split_ref


def default_filters(studio: Studio) -> dict[str, str]:
    languages = studio.voices.languages()
    return {"f_language": "English" if "English" in languages else "All", "f_gender": "Any", "f_version": "v2",
            "f_query": ""}



def voice_list(studio: Studio, owner: str, voice: str, f_language: str, f_gender: str, f_version: str,
               f_query: str) -> dict[str, Any]:
    """The voice list for the filters, keeping the selection when it is still listed; says so when none match."""
    choices = studio.voices.choices(owner or "", f_language, f_gender, f_version, f_query)
    values = {v for _, v in choices}
    presets = [c for c in choices if split_ref(c[1])[0] == PRESET]
    note = ""
    if not presets:
        what = ", ".join(x for x in (f_language if f_language != "All" else "", f_gender.lower()
                                     if f_gender != "Any" else "", f_version, f"“{f_query.strip()}”"
                                     if f_query and f_query.strip() else "") if x)
        note = f"<span class='muted'>No presets match ({plain(what)}). Try another language, gender or version.</span>"
    return {"voice_radio": gr.update(choices=choices, value=voice if voice in values else None), "voice_note": note}



def voice_details(studio: Studio, owner: str, ref: str) -> str:
    label = plain(studio.voices.label(owner, ref))
    p = studio.voices.preset(ref)
    if p is not None:
        return f"**Selected voice:** {label}  \n<span class='muted'>{plain(p.name)} — {plain(p.description)}</span>"
    return f"**Selected voice:** {label}"


__all__ = ["default_filters", "voice_details", "voice_list"]
