"""Joined versions of a timeline: render a new one, play one, export one through the audio tools."""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from bark_core import timeline as T
from bark_core.audiotools import PostProcess, process
from bark_core.export import export_file, get_format

from ..studio import Studio
from ..timeline_store import TimelineStore
from .page_input import editable_timeline, parse_number
from .views import playable, segments_phrase, versions_view


def render_version(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], tl_pause: Any,
                   tl_crossfade: Any) -> dict[str, Any]:
    """Join every segment with these pause and crossfade settings and save it as a new version."""
    tl = editable_timeline(tstore, owner, tl_id)
    tl = T.set_joins(tl, pause_ms=parse_number(tl_pause, "The pause", tl.pause_ms),
                     crossfade_ms=parse_number(tl_crossfade, "The crossfade", tl.crossfade_ms))
    audio = T.render(tl)  # a sentence when a segment has no audio
    tstore.save(owner, tl_id, tl)
    v = tstore.add_version(owner, tl_id, tl, audio)
    stale = [k for k in range(len(tl.segments)) if T.segment_state(tl, k) != "fresh"]
    note = (f"  \n⚠ {segments_phrase(stale).capitalize()} {'is' if len(stale) == 1 else 'are'} stale and went in with "
            "the audio they have.") if stale else ""
    return {**versions_view(tstore, owner, tl_id), "tl_joined": playable(tl.sample_rate, audio), "sel_version": v.number,
            "tl_status": f"✓ Version v{v.number} saved: {v.seconds:.1f} s, {v.segments} segment(s), pause "
                         f"{tl.pause_ms:g} ms, crossfade {tl.crossfade_ms:g} ms.{note}"}


def select_version(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   version_ids: list, evt: gr.SelectData) -> dict[str, Any]:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    number = version_ids[row] if isinstance(row, int) and 0 <= row < len(version_ids or []) else None
    if number is None or not owner or not tl_id:
        raise ValueError("That version is not in your studio; pick one from the list.")
    sr, audio = tstore.version_audio(owner, tl_id, number)
    return {"sel_version": number, "tl_joined": playable(sr, audio), "tl_status": f"Playing version v{number}."}


def export_version(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   sel_version: Any, ex_format: str, ex_trim: bool, ex_lufs: Any, ex_fade_in: Any, ex_fade_out: Any,
                   ex_limit: Any) -> dict[str, Any]:
    """The chosen version (the newest if none is chosen) through the audio tools, as a file to download."""
    if not owner or not tl_id:
        return {"ex_msg": "⚠ Nothing to export yet: create or open a timeline, generate its segments and press "
                          "**Render new version**; then Prepare download."}
    versions = tstore.versions(owner, tl_id)
    if not versions:
        raise ValueError("Render a version first (Render new version); then export it.")
    number = sel_version if sel_version else versions[0].number
    fmt = get_format(ex_format or "wav")
    post = PostProcess(trim_silence=bool(ex_trim), fade_in_ms=parse_number(ex_fade_in, "The fade-in", 0.0),
                       fade_out_ms=parse_number(ex_fade_out, "The fade-out", 0.0),
                       normalize_lufs=parse_number(ex_lufs, "The loudness target"),
                       limit_db=parse_number(ex_limit, "The peak limit"))
    sr, audio = tstore.version_audio(owner, tl_id, number)
    done = process(audio, sr, post)
    path = export_file(done.audio, sr, studio.library.exports.folder() / f"timeline-v{number}{fmt.suffix}", fmt)
    loud = f" · {done.loudness_lufs:.1f} LUFS" if done.loudness_lufs is not None else ""
    notes = ("  \n" + " ".join(done.notes)) if done.notes else ""
    return {"ex_download": gr.update(value=str(path), label=f"⬇ {path.name}", visible=True),
            "ex_msg": f"✓ v{number} as {fmt.label}: {len(done.audio) / sr:.1f} s · peak {done.peak_db:.1f} dBFS"
                      f"{loud}.{notes}"}
