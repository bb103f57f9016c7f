"""Voice panel handlers: filter the voice list, pick and preview a voice, upload, rename and delete own voices."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import gradio as gr

import bark_core
from bark_core import load_voice_npz

from .formatting import plain
from .studio import NO_VOICE, Studio, session_key
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
    key = session_key(request)
    stop = studio.cancels.event(key).is_set if key else (lambda: False)
    return {"preview_audio": gr.update(value=studio.preview(owner or "", voice, stop), visible=True)}


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
    rec = studio.add_voice(owner, upload_name or p.stem, voice, "upload")
    ref = f"user:{rec.id}"
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query),
            "voice_msg": f"Added **{plain(rec.name)}**.", "upload": None, "upload_name": ""}


def rename_voice(studio: Studio, owner: str, voice: str, new_name: str, f_language: str, f_gender: str,
                 f_version: str, f_query: str) -> dict[str, Any]:
    if not voice.startswith("user:"):
        raise ValueError("Select one of your own voices (★) to rename it.")
    if not studio.store.rename_voice(owner or "", voice[5:], new_name):
        raise ValueError("That voice no longer exists.")
    return {"voice_md": voice_details(studio, owner, voice),
            **voice_list(studio, owner, voice, f_language, f_gender, f_version, f_query),
            "voice_msg": "Renamed.", "rename_box": ""}


def delete_voice(studio: Studio, owner: str, voice: str, f_language: str, f_gender: str, f_version: str,
                 f_query: str) -> dict[str, Any]:
    """Delete the selected voice at once, with an Undo button for a while (``store.UNDO_SECONDS``)."""
    if not voice.startswith("user:"):
        raise ValueError("Select one of your own voices (★) to delete it.")
    rec = studio.store.get_voice(owner or "", voice[5:]) if owner else None
    out: dict[str, Any] = {"voice_msg": "Deleted."}
    if rec is not None and studio.trash_voice(owner, rec.id):
        out = {"voice_msg": f"Deleted “{plain(rec.name)}”.", "undo_voice": rec.id,
               "undo_voice_btn": gr.update(visible=True)}
    return {"voice": NO_VOICE, "voice_md": voice_details(studio, owner, NO_VOICE),
            **voice_list(studio, owner, NO_VOICE, f_language, f_gender, f_version, f_query), **out}


def undo_delete_voice(studio: Studio, owner: str, undo_voice: Optional[str], f_language: str, f_gender: str,
                      f_version: str, f_query: str) -> dict[str, Any]:
    """Bring the voice deleted last back, selected."""
    hide = {"undo_voice": None, "undo_voice_btn": gr.update(visible=False)}
    if not studio.restore_voice(owner or "", undo_voice):
        return {**hide, "voice_msg": "Too late to undo: that voice was deleted for good."}
    ref = f"user:{undo_voice}"
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query), **hide,
            "voice_msg": "Restored."}
