"""Voice panel handlers: filter the voice list, pick and preview a voice, upload, rename and delete own voices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import gradio as gr

import bark_core
from bark_core import load_voice_npz

from .formatting import plain
from .job_runner import session_key
from .studio import Studio
from .voice_book import NO_VOICE, user_ref, user_voice_id
from .voice_list import voice_details, voice_list

VOICE_UPLOAD_MAX_BYTES = bark_core.MAX_VOICE_BYTES
SEARCH_HINT = "e.g. female, male, German, v1, announcer"


def show_voice(studio: Studio, owner: str, voice: str) -> dict[str, Any]:
    return {"voice_md": voice_details(studio, owner, voice)}


def pick_voice(studio: Studio, owner: str, picked: Optional[str], voice: str) -> dict[str, Any]:
    """A click in the voice list selects that voice (a list refresh that drops the selection changes nothing)."""
    if picked is None:
        return {}
    return {"voice": picked, "voice_md": voice_details(studio, owner, picked),
            "preview_audio": gr.update(visible=False, value=None)}


def preview(studio: Studio, owner: str, voice: str, request: gr.Request) -> dict[str, Any]:
    """Speak a short sample in the selected voice (cached)."""
    stop = studio.runner.should_stop(session_key(request))
    return {"preview_audio": gr.update(value=studio.voices.preview(owner or "", voice, stop), visible=True)}


def add_uploaded(studio: Studio, owner: str, upload: Optional[str], upload_name: str, f_language: str, f_gender: str,
                 f_version: str, f_query: str) -> dict[str, Any]:
    """Validate an uploaded .npz and add it to the owner's voices."""
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    if not upload:
        raise ValueError("Choose a .npz voice file first.")
    p = Path(upload)
    if p.stat().st_size > VOICE_UPLOAD_MAX_BYTES:
        raise ValueError("That file is too big to be a Bark voice (limit 4 MB).")
    voice = load_voice_npz(p, max_bytes=VOICE_UPLOAD_MAX_BYTES)
    rec = studio.voices.add(owner, upload_name or p.stem, voice, "upload")
    ref = user_ref(rec.id)
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query),
            "voice_msg": f"Added **{plain(rec.name)}**.", "upload": None, "upload_name": ""}


def rename_voice(studio: Studio, owner: str, voice: str, new_name: str, f_language: str, f_gender: str,
                 f_version: str, f_query: str) -> dict[str, Any]:
    if user_voice_id(voice) is None:
        raise ValueError("Select one of your own voices (★) to rename it.")
    if not studio.voices.rename(owner, voice, new_name):
        raise ValueError("That voice no longer exists.")
    return {"voice_md": voice_details(studio, owner, voice),
            **voice_list(studio, owner, voice, f_language, f_gender, f_version, f_query),
            "voice_msg": "Renamed.", "rename_box": ""}


def delete_voice(studio: Studio, owner: str, voice: str, f_language: str, f_gender: str, f_version: str,
                 f_query: str) -> dict[str, Any]:
    """Delete the selected voice at once, with an Undo button for a while (``store.UNDO_SECONDS``)."""
    if user_voice_id(voice) is None:
        raise ValueError("Select one of your own voices (★) to delete it.")
    rec = studio.voices.own(owner, voice)
    out: dict[str, Any] = {"voice_msg": "Deleted."}
    if rec is not None and studio.voices.trash(owner, rec.id):
        out = {"voice_msg": f"Deleted “{plain(rec.name)}”.", "undo_voice": rec.id,
               "undo_voice_btn": gr.update(visible=True)}
    return {"voice": NO_VOICE, "voice_md": voice_details(studio, owner, NO_VOICE),
            **voice_list(studio, owner, NO_VOICE, f_language, f_gender, f_version, f_query), **out}


def undo_delete_voice(studio: Studio, owner: str, undo_voice: Optional[str], f_language: str, f_gender: str,
                      f_version: str, f_query: str) -> dict[str, Any]:
    """Bring the voice deleted last back, selected."""
    hide = {"undo_voice": None, "undo_voice_btn": gr.update(visible=False)}
    if not studio.voices.restore(owner or "", undo_voice):
        return {**hide, "voice_msg": "Too late to undo: that voice was deleted for good."}
    ref = user_ref(undo_voice)
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query), **hide,
            "voice_msg": "Restored."}
