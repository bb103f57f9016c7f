"""History tab handlers: list (and search) the owner's generations, show one, star it, delete it."""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from .formatting import details_md, history_rows
from .store import UNDO_SECONDS
from .studio import Studio
from .take_cards import hidden_slots, slot_updates


def list_history(studio: Studio, owner: str, starred_only: bool, search: str = "") -> dict[str, Any]:
    """The owner's generations, newest first (``search`` keeps those whose prompt contains it), and the line
    with the owner's storage use against the studio's limits."""
    recs = studio.library.history(owner or "", starred_only=bool(starred_only))
    q = (search or "").strip().lower()
    if q:
        recs = [r for r in recs if q in r.prompt.lower()]
    return {"history_table": history_rows(recs), "history_ids": [r.id for r in recs],
            "storage_md": studio.quotas.usage_line(owner)}


def show_detail(studio: Studio, owner: str, gen_id: Optional[str]) -> dict[str, Any]:
    rec = studio.library.generation(owner or "", gen_id)
    if rec is None:
        return {"selected_gen": None, "detail_group": gr.update(visible=False), "detail_md": "",
                "export_file": gr.update(visible=False, value=None), **hidden_slots("hist")}
    return {"selected_gen": rec.id, "detail_group": gr.update(visible=True), "detail_md": details_md(rec),
            "export_file": gr.update(visible=False, value=None),
            "star_btn": "★ Starred" if rec.starred else "☆ Star",
            **slot_updates("hist", rec.takes, rec.seed, rec.timings.get("total"))}


def select_row(studio: Studio, owner: str, history_ids: list, evt: gr.SelectData) -> dict[str, Any]:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    gen_id = history_ids[row] if isinstance(row, int) and 0 <= row < len(history_ids) else None
    return show_detail(studio, owner, gen_id)


def export_zip(studio: Studio, owner: str, selected_gen: Optional[str]) -> dict[str, Any]:
    """The selected row as a zip: each take's WAV and voice .npz, and settings.json."""
    rec = studio.library.generation(owner or "", selected_gen)
    if rec is None:
        raise ValueError("Select a generation in the table first.")
    return {"export_file": gr.update(value=studio.library.export_zip(rec), visible=True)}


def toggle_star(studio: Studio, owner: str, selected_gen: Optional[str], starred_only: bool,
                search: str = "") -> dict[str, Any]:
    rec = studio.library.generation(owner or "", selected_gen)
    if rec is None:
        raise ValueError("That generation is no longer in your history.")
    studio.library.toggle_star(owner, rec)
    return {**list_history(studio, owner, starred_only, search), **show_detail(studio, owner, rec.id)}


def delete_generation(studio: Studio, owner: str, selected_gen: Optional[str], starred_only: bool,
                      search: str = "") -> dict[str, Any]:
    """Delete the selected row at once, with an Undo button for a while (``store.UNDO_SECONDS``)."""
    out: dict[str, Any] = {}
    if selected_gen and studio.library.trash_generation(owner or "", selected_gen):
        out = {"undo_gen": selected_gen,
               "undo_delete_btn": gr.update(visible=True)}
        gr.Info(f"Deleted. “↶ Undo delete” brings it back for {UNDO_SECONDS / 60:.0f} minutes.")
    return {**list_history(studio, owner, starred_only, search), **show_detail(studio, owner, None), **out}


def undo_delete(studio: Studio, owner: str, undo_gen: Optional[str], starred_only: bool,
                search: str = "") -> dict[str, Any]:
    """Bring the row deleted last back (and show it)."""
    hide = {"undo_gen": None, "undo_delete_btn": gr.update(visible=False)}
    if not studio.library.restore_generation(owner or "", undo_gen):
        gr.Warning("Too late to undo: that generation was deleted for good.")
        return hide
    return {**list_history(studio, owner, starred_only, search), **show_detail(studio, owner, undo_gen), **hide}
