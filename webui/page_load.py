"""The page-load handler: what is loaded, and what this browser owns and had open before a reload.

A page load shows the engine's state, this owner's history and voices, the voice this browser chose
last (``saved_voice``, handed in from localStorage by ``webui.remember.saved_voice_js``) and the takes
of this owner's latest generation in Results, so a reload loses no work.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from .formatting import plain, short
from .model_settings import first_run_text
from .studio import Studio
from .tab_history import list_history
from .tab_models import header_html, loaded_controls, models_md
from .take_cards import show_results
from .voice_book import NO_VOICE, user_voice_id
from .voice_list import default_filters, voice_details, voice_list


def voice_filters(studio: Studio, owner: str, ref: str) -> Optional[dict[str, str]]:
    """Filters under which the voice list shows ``ref`` (the defaults where they do), or None when this
    owner cannot use it (an unknown preset, another owner's or a deleted voice, anything malformed)."""
    filters = default_filters(studio)
    if user_voice_id(ref) is not None:
        return filters if studio.voices.own(owner, ref) is not None else None
    preset = studio.voices.preset(ref)
    if preset is None:
        return None
    if filters["f_language"] not in ("All", preset.language_name):
        filters["f_language"] = preset.language_name
    filters["f_version"] = preset.version
    return filters


def last_results(studio: Studio, owner: str) -> dict[str, Any]:
    """Results showing this owner's latest generation (nothing when there is none)."""
    latest = studio.library.history(owner, limit=1) if owner else []
    if not latest:
        return {}
    rec = latest[0]
    refs = [[rec.id, i, f"Take {i + 1}"] for i in range(len(rec.takes))]
    return {**show_results(studio, owner, refs, False),
            "results_title": f"### Results\n<span class='muted'>Last time: {plain(short(rec.prompt, 90))}</span>"}


def on_load(studio: Studio, owner: Optional[str], saved_voice: Any = "") -> dict[str, Any]:
    """A page load: the engine's state, what this browser owns, and the voice and results it had."""
    ref = saved_voice if isinstance(saved_voice, str) else ""
    filters = voice_filters(studio, owner or "", ref) if ref else None
    voice = ref if filters is not None else NO_VOICE
    filters = filters or default_filters(studio)
    return {"engine_badge": header_html(studio), "setup_panel": gr.update(visible=not studio.holder.ready),
            "setup_md": first_run_text(studio.holder), "models_info": models_md(studio), **loaded_controls(studio),
            **list_history(studio, owner, False), **filters,
            **voice_list(studio, owner, voice, **filters),
            "voice": voice, "voice_md": voice_details(studio, owner or "", voice),
            **last_results(studio, owner or "")}


__all__ = ["last_results", "on_load", "voice_filters"]
