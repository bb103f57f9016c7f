"""The segment editor's hand edits: pick a segment, change it, delete, insert, move, save it as a voice.

Each change is saved as it is made; its audio stays (and goes stale) until it is regenerated.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from bark_core import timeline as T

from ..formatting import plain, short
from ..request_builder import text_too_long
from ..studio import Studio
from ..timeline_store import TimelineStore
from .page_input import (check_voice_ref, editable_timeline, load_timeline, parse_number, parse_seed,
                         segment_index)
from .views import CONTINUE_LABEL, NO_VOICE_LABEL, editor, segments_phrase, view, voice_choices


def select_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   evt: gr.SelectData) -> dict[str, Any]:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return show_segment(studio, tstore, owner, tl_id, (row + 1) if isinstance(row, int) else None)


def show_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                 seg_no: Any) -> dict[str, Any]:
    tl = load_timeline(tstore, owner, tl_id)
    return editor(studio, owner, tl, segment_index(tl, seg_no))


def with_edits(studio: Studio, owner: str, tl: T.Timeline, k: int, seg_text: Any, seg_voice: Any, seg_seed: Any,
            seg_semantic: Any, seg_coarse: Any, seg_fine: Any) -> T.Timeline:
    """Segment ``k`` with the editor's values (only what differs; a sentence for anything unusable)."""
    seg = tl.segments[k]
    if not isinstance(seg_text, str) or not seg_text.strip():
        raise ValueError(f"Segment {k + 1} needs some text; write something or delete the segment.")
    temps = {}
    for name, value, what in (("semantic_temp", seg_semantic, "The semantic temperature"),
                              ("coarse_temp", seg_coarse, "The coarse temperature"),
                              ("fine_temp", seg_fine, "The fine temperature")):
        x = parse_number(value, what, getattr(seg, name))
        if x != getattr(seg, name):
            temps[name] = x
    voice = check_voice_ref(studio, owner, seg_voice or None)
    seed = parse_seed(seg_seed)
    changes = {**temps}
    if " ".join(seg_text.split()) != seg.text:
        changes["text"] = seg_text
    if voice != seg.voice:
        changes["voice"] = voice
    if seed != seg.seed:
        changes["seed"] = seed
    return T.edit_segment(tl, k, **changes) if changes else tl


def apply_edit(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
               seg_text: Any, seg_voice: Any, seg_seed: Any, seg_semantic: Any, seg_coarse: Any,
               seg_fine: Any) -> dict[str, Any]:
    """Save the editor's values to the segment (its audio stays until it is regenerated)."""
    tl = editable_timeline(tstore, owner, tl_id)
    k = segment_index(tl, seg_no)
    new = with_edits(studio, owner, tl, k, seg_text, seg_voice, seg_seed, seg_semantic, seg_coarse, seg_fine)
    if new is tl:
        return {"tl_status": f"Segment {k + 1} is unchanged."}
    tstore.save(owner, tl_id, new)
    state = T.segment_state(new, k)
    note = " Its audio is out of date until you regenerate it." if state == "edited" else ""
    return {**view(studio, owner, tl_id, new, k), "tl_status": f"✓ Segment {k + 1} edited.{note}"}


def _structural(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, old: T.Timeline, new: T.Timeline,
                k: int, what: str) -> dict[str, Any]:
    tstore.save(owner, tl_id, new)
    stale = [j for j in range(len(new.segments)) if T.segment_state(new, j) in ("upstream", "edited")]
    note = f" Now stale: {segments_phrase(stale)} (its voice chain changed)." if stale else ""
    return {**view(studio, owner, tl_id, new, k), "tl_status": f"✓ {what}.{note}"}


def delete_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   seg_no: Any) -> dict[str, Any]:
    tl = editable_timeline(tstore, owner, tl_id)
    k = segment_index(tl, seg_no)
    if len(tl.segments) == 1:
        raise ValueError("This is the timeline's only segment; edit its text instead, or create a new timeline.")
    return _structural(studio, tstore, owner, tl_id, tl, T.delete_segment(tl, k), k, f"Segment {k + 1} deleted")


def insert_after(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
                 insert_text: Any) -> dict[str, Any]:
    tl = editable_timeline(tstore, owner, tl_id)
    k = segment_index(tl, seg_no)
    if not isinstance(insert_text, str) or not insert_text.strip():
        raise ValueError("Write the new segment's text in the box beside Insert after.")
    too_long = text_too_long(insert_text, 1000)
    if too_long:
        raise ValueError(too_long)
    new = T.insert_segment(tl, k + 1, insert_text)
    return {**_structural(studio, tstore, owner, tl_id, tl, new, k + 1, f"New segment {k + 2} inserted after segment "
                          f"{k + 1} (not generated yet)"), "insert_text": ""}


def move_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
                 step: int) -> dict[str, Any]:
    tl = editable_timeline(tstore, owner, tl_id)
    k = segment_index(tl, seg_no)
    to = k + step
    if not 0 <= to < len(tl.segments):
        raise ValueError(f"Segment {k + 1} is already {'first' if step < 0 else 'last'}.")
    return _structural(studio, tstore, owner, tl_id, tl, T.move_segment(tl, k, to), to,
                       f"Segment {k + 1} moved {'up' if step < 0 else 'down'} to {to + 1}")


def save_segment_voice(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                       seg_no: Any) -> dict[str, Any]:
    """Save a segment's tokens as one of the owner's voices (for the Studio tab or other segments)."""
    tl = load_timeline(tstore, owner, tl_id)
    k = segment_index(tl, seg_no)
    seg = tl.segments[k]
    if seg.take is None:
        raise ValueError(f"Segment {k + 1} has no audio yet; generate it first.")
    try:
        v = studio.voices.add(owner, f"{short(seg.text, 40)} (segment {k + 1})", seg.take.tokens,
                             f"timeline:{tl_id}:{seg.id}")
    except ValueError as e:
        raise ValueError(f"Could not save segment {k + 1} as a voice: {e}") from None
    return {"tl_status": f"✓ Segment {k + 1} saved as the voice “{plain(v.name)}” (under ★ in every voice list).",
            "seg_voice": gr.update(choices=voice_choices(studio, owner, CONTINUE_LABEL, seg.voice)),
            "tl_voice": gr.update(choices=voice_choices(studio, owner, NO_VOICE_LABEL))}
