"""Creating, opening and deleting timelines: from pasted text, from the owner's list, from a take in
Results or History ("Open in timeline"), and the one this browser had open when the page loads.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import gradio as gr
import numpy as np
import soundfile as sf

from bark_core import SegmentTake, Voice, load_voice_npz, settings as table
from bark_core import timeline as T

from ..formatting import plain, short
from ..request_builder import text_too_long
from ..studio import Studio
from ..timeline_store import TimelineStore
from .page_input import check_voice_ref, editable_timeline, load_timeline, parse_number, parse_seed, parse_speakers
from .views import NO_VOICE_LABEL, timeline_choices, versions_view, view, voice_choices

log = logging.getLogger(__name__)

OLD_ROW = ("This long-form take's segments were not kept (it was saved before the studio kept them, or its timeline "
           "was deleted), so it cannot be opened as a timeline: only newer long-form generations open as timelines. "
           "Its text is in the box above: press **Create timeline** to split it and generate it again, segment by "
           "segment.")

NOTHING_PICKED = ("⚠ Pick one of your timelines in the list “Your timelines” first, then press **Open**; "
                  "or paste text above and press **Create timeline**.")


def _from_record(studio: Studio, rec: Any, take_index: int) -> Optional[T.Timeline]:
    """A one-segment timeline of a saved take whose text made a single segment; None when it made several."""
    settings = rec.settings or {}
    text = settings.get("text") or rec.prompt
    engine = studio.runner.engine()
    segments, _ = engine.plan_segments(text, bool(settings.get("long_form", True)))
    if len(segments) != 1:
        return None
    take = rec.takes[take_index]
    audio, sr = sf.read(str(take.wav), dtype="float32", always_2d=False)
    if sr != T.SAMPLE_RATE or audio.ndim != 1:
        raise ValueError("That take's audio is not 24 kHz mono; it cannot be opened as a timeline.")
    npz = take.wav.with_suffix(".npz")
    if npz.is_file():
        tokens = load_voice_npz(npz)
    else:  # a take too short to be a voice: its segment continues nothing
        tokens = Voice(semantic=np.zeros(0, np.int64), coarse=np.zeros((2, 0), np.int64), fine=np.zeros((8, 0), np.int64))
    ref = settings.get("voice") or rec.voice or None
    seg = SegmentTake(text=segments[0], tokens=tokens, start=0, end=len(audio))
    score = take.scores or {}
    known = {"on_script": score.get("on_script")}  # a single segment is its own first: no drift to show
    temps = {name: settings.get(name, table.BY_NAME[name].default) for name in ("semantic_temp", "coarse_temp", "fine_temp")}
    seed = take.seed if take.seed is not None else rec.seed
    return T.from_segments(audio, [seg], seed=int(seed), voice=ref, pause_ms=float(settings.get("segment_pause_s", 0.25)) * 1000.0,
                           options={k: settings.get(k) for k in T.REQUEST_OPTIONS if k in settings},
                           scores=[known], **temps)


def open_generation(studio: Studio, tstore: TimelineStore, owner: Optional[str], gen_id: Optional[str],
                    take_index: int, tabs: bool = True) -> dict[str, Any]:
    """Open take ``take_index`` of a history row in the Timeline tab: its timeline, made on first open.

    A long-form take saved with its segments was imported when it was saved; a take of one segment
    becomes a one-segment timeline now; an older long-form row puts its text in the box and says why.
    """
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    rec = studio.library.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is no longer in your history; pick one in History first.")
    if isinstance(take_index, bool) or not isinstance(take_index, int) or not 0 <= take_index < len(rec.takes):
        raise ValueError(f"That generation has no take {take_index + 1 if isinstance(take_index, int) else '?'}.")
    switch = {"tabs": gr.Tabs(selected="timeline")} if tabs else {}
    tl_id = tstore.project_for_generation(owner, rec.id, take_index)
    if tl_id is None:
        tl = _from_record(studio, rec, take_index)
        if tl is None:
            return {**switch, "tl_text": rec.settings.get("text") or rec.prompt, "tl_status": f"⚠ {OLD_ROW}"}
        tl_id, _ = tstore.create_for_generation(owner, rec.id, take_index, tl)
    tl = tstore.load(owner, tl_id)
    tstore.mark_opened(owner, tl_id)
    tstore.set_open(owner, tl_id)
    what = f"Take {take_index + 1} of “{plain(short(rec.prompt, 60))}”"
    hint = ("Edit or regenerate any segment (the others keep their audio), then **Render new version**."
            if len(tl.segments) > 1 else "Edit and regenerate it, or insert segments after it.")
    status = f"✓ {what} is open as a timeline of {len(tl.segments)} segment(s). {hint}"
    return {**switch, **view(studio, owner, tl_id, tl, 0), **versions_view(tstore, owner, tl_id),
            "tl_pause": tl.pause_ms, "tl_crossfade": tl.crossfade_ms, "tl_joined": None,
            "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=tl_id),
            "history_pick": gr.update(choices=history_choices(studio, tstore, owner), value=f"{rec.id}:{take_index}"),
            "tl_status": status}


def open_in_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], source: Any, take_index: int,
                     resolve: Optional[Callable[[Any, int], tuple[Optional[str], int]]] = None) -> dict[str, Any]:
    """A take card's "Open in timeline": the card's take opened in the Timeline tab, which it selects.

    ``source`` names the generation: History's ``selected_gen`` (its id; take ``take_index`` opens), or
    Results' ``results``, which ``resolve(source, take_index) -> (generation id, take index)`` reads
    (``take_cards.result_ref``). The take's timeline is imported on first open, then reused.
    """
    gen_id, take = resolve(source, take_index) if resolve is not None else (source, take_index)
    return open_generation(studio, tstore, owner, gen_id, take, tabs=True)


def history_choices(studio: Studio, tstore: TimelineStore, owner: Optional[str], limit: int = 50) -> list[tuple[str, str]]:
    """The owner's recent takes for the "From your history" list: ``(label, "<generation id>:<take index>")``."""
    if not owner:
        return []
    linked = tstore.generations_with_projects(owner)
    out = []
    for rec in studio.library.history(owner, limit=limit):
        when = time.strftime("%m-%d %H:%M", time.localtime(rec.created))
        for i, take in enumerate(rec.takes):
            mark = " · ✓ timeline" if (rec.id, i) in linked else ""
            label = f"{when} · take {i + 1} · {take.seconds:.1f} s{mark} · {short(' '.join(rec.prompt.split()), 70)}"
            out.append((label, f"{rec.id}:{i}"))
    return out


def open_from_history(studio: Studio, tstore: TimelineStore, owner: Optional[str], history_pick: Optional[str]) -> dict[str, Any]:
    """The "Open" beside the history list: that take as a timeline (see ``open_generation``)."""
    gen_id, _, index = (history_pick or "").rpartition(":")
    if not gen_id or not index.isdigit():
        raise ValueError("Pick one of your generations in the list first.")
    return open_generation(studio, tstore, owner, gen_id, int(index), tabs=False)


def page_opened(studio: Studio, tstore: TimelineStore, owner: Optional[str]) -> dict[str, Any]:
    """A page load: the timeline this owner had open, reopened where it was left (nothing when none was)."""
    tl_id = tstore.open_one(owner or "")
    if tl_id is None:
        return {}
    try:
        out = open_timeline(studio, tstore, owner, tl_id)
    except ValueError:  # unreadable since: start empty rather than fail the page load
        log.warning("the open timeline could not be reopened")
        return {}
    return {**out, "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=tl_id),
            "tl_status": f"Reopened the timeline you had open ({len(out['tl_table'])} segment(s))."}


def tab_opened(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_voice: Optional[str] = None) -> dict[str, Any]:
    """When the tab opens: the owner's timelines, recent takes and voices."""
    return {"timeline_pick": gr.update(choices=timeline_choices(tstore, owner)),
            "history_pick": gr.update(choices=history_choices(studio, tstore, owner)),
            "tl_voice": gr.update(choices=voice_choices(studio, owner, NO_VOICE_LABEL, tl_voice))}


def create_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_text: str, tl_mode: str,
                    tl_max_chars: Any, tl_voice: Optional[str], tl_speakers: str, tl_seed: Any, tl_pause: Any,
                    tl_crossfade: Any) -> dict[str, Any]:
    """Split the text into a new timeline (nothing generated yet) and show it."""
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    if not isinstance(tl_text, str) or not tl_text.strip():
        raise ValueError("Please paste some text to split into segments.")
    too_long = text_too_long(tl_text, studio.requests.max_text_chars)
    if too_long:
        raise ValueError(too_long)
    max_chars = parse_number(tl_max_chars, "The maximum segment length", T.DEFAULT_MAX_CHARS)
    if max_chars != int(max_chars):
        raise ValueError("The maximum segment length must be a whole number of characters.")
    engine = studio.runner.loaded()
    tl, warnings = T.create_timeline(
        tl_text, tl_mode or "sentence", count_tokens=engine.count_tokens if engine is not None else None,
        max_chars=int(max_chars), voice=check_voice_ref(studio, owner, tl_voice),
        speakers=parse_speakers(studio, owner, tl_speakers) if tl_mode == "dialogue" else None,
        seed=parse_seed(tl_seed), pause_ms=parse_number(tl_pause, "The pause", 250.0),
        crossfade_ms=parse_number(tl_crossfade, "The crossfade", 0.0))
    tl_id = tstore.create(owner, tl)
    tstore.set_open(owner, tl_id)
    names = sorted({s.speaker for s in tl.segments if s.speaker})
    who = f" Speakers: {plain(', '.join(names))}." if names else ""
    warn = ("  \n⚠ " + plain(" ".join(warnings))) if warnings else ""
    return {**view(studio, owner, tl_id, tl, 0), **versions_view(tstore, owner, tl_id), "tl_joined": None,
            "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=tl_id),
            "tl_status": f"✓ Timeline created: {len(tl.segments)} segment(s).{who} Press **Generate missing and "
                         f"stale** to make them.{warn}"}


def open_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], timeline_pick: Optional[str]) -> dict[str, Any]:
    """Open one of the owner's timelines where it was left (and remember it: a reload reopens it)."""
    if owner and not timeline_pick:
        return {"tl_status": NOTHING_PICKED}
    tl = load_timeline(tstore, owner, timeline_pick)
    tstore.set_open(owner, timeline_pick)
    return {**view(studio, owner, timeline_pick, tl, 0), **versions_view(tstore, owner, timeline_pick),
            "tl_pause": tl.pause_ms, "tl_crossfade": tl.crossfade_ms, "tl_joined": None,
            "tl_status": f"Opened a timeline of {len(tl.segments)} segment(s)."}


def delete_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> dict[str, Any]:
    """Delete the open timeline with every version of it."""
    editable_timeline(tstore, owner, tl_id)
    tstore.delete(owner, tl_id)
    return {"tl_id": None, "tl_table": [], "tl_stale": "", "seg_no": None, "seg_text": "", "seg_audio": None,
            "seg_info": "", "tl_versions": [], "version_ids": [], "sel_version": None, "tl_joined": None,
            "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=None),
            "tl_status": "✓ Timeline deleted, with all its versions."}
