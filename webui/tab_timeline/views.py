"""What the Timeline tab shows: the segment list, what is stale, the segment editor, versions.

Pure functions of a timeline (and the studio's voice labels) that return named outputs.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import gradio as gr
import numpy as np

from bark_core import timeline as T

from ..formatting import plain, short
from ..studio import Studio
from ..voice_book import NO_VOICE
from ..timeline_store import TimelineStore

SEGMENT_HEADERS = ["#", "Speaker", "Voice", "Text", "Seed", "Length", "Check", "State"]
VERSION_HEADERS = ["Version", "Made", "Segments", "Length", "Pause", "Crossfade"]
CONTINUE_LABEL = "Continue the previous segment (random for the first)"
NO_VOICE_LABEL = "No voice (a random speaker, continued)"
STATE_LABEL = {"fresh": "✓ ready", "edited": "⚠ stale (edited)", "upstream": "⚠ stale (voice before it changed)",
               "missing": "… not generated"}
# the buttons that need an open timeline (Export and Stop stay: they say what to do)
NEEDS_TIMELINE = ("tl_generate_btn", "tl_delete_timeline_btn", "tl_render_btn")

NO_TIMELINE_HINT = ("**No timeline is open.** Paste a story, a script or a dialogue above and press **Create timeline**, "
                    "or pick one of your timelines (or a take from your history) and open it. The segment editor "
                    "appears here once a timeline is open.")


def playable(sample_rate: int, audio: np.ndarray) -> tuple[int, np.ndarray]:
    """Audio for a ``gr.Audio(type="numpy")`` output: 16-bit PCM (what Gradio would convert float to, with a warning)."""
    return sample_rate, (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)


def voice_choices(studio: Studio, owner: Optional[str], first_label: str, current: Optional[str] = None) -> list:
    """Voices for a dropdown: ``("first_label", "")``, the owner's voices, v2 then v1 presets (and ``current``)."""
    choices = [(first_label, NO_VOICE)]
    for version in ("v2", "v1"):
        choices += studio.voices.choices(owner or "", "All", "Any", version, "")[1:]
    if current and current not in {v for _, v in choices}:
        choices.append((studio.voices.label(owner or "", current), current))
    unique, seen = [], set()
    for label, value in choices:
        if value not in seen:
            seen.add(value)
            unique.append((label, value))
    return unique


def segments_phrase(ks: list[int]) -> str:
    """0-based indices as the page counts them: "segment 2", "segments 1, 3 and 4"."""
    ks = [k + 1 for k in ks]
    if len(ks) == 1:
        return f"segment {ks[0]}"
    return "segments " + ", ".join(map(str, ks[:-1])) + f" and {ks[-1]}"


def voice_text(studio: Studio, owner: str, tl: T.Timeline, k: int) -> str:
    seg = tl.segments[k]
    if seg.voice is not None:
        return short(studio.voices.label(owner, seg.voice), 32)
    j = T.chain_source(tl, k)
    return "random" if j is None else f"↳ continues {j + 1}"


def check_text(take: Optional[T.SegmentTake], long: bool = False) -> str:
    """A segment take's check: on-script, same speaker as segment 1 (drift), tries; "" when it has none."""
    if take is None:
        return ""
    bits = []
    on_script, similar = take.scores.get("on_script"), take.scores.get("similarity_to_first")
    if on_script is not None:
        bits.append(f"on script {on_script:.2f}" if long else f"script {on_script:.2f}")
    if similar is not None:
        bits.append(f"same speaker as segment 1: {similar:.2f}" if long else f"voice {similar:.2f}")
    if take.tries > 1:
        bits.append(f"took {take.tries} tries" if long else f"{take.tries} tries")
    if on_script is None and similar is None:  # a segment with audio that no check could score
        bits.insert(0, "not checked")
    return " · ".join(bits)


def segment_rows(studio: Studio, owner: str, tl: T.Timeline) -> list[list[Any]]:
    rows = []
    for k, seg in enumerate(tl.segments):
        take = seg.take
        seed = str(seg.seed) if seg.seed is not None else (str(take.seed) if take else "random")
        rows.append([k + 1, seg.speaker, voice_text(studio, owner, tl, k), short(seg.text, 120), seed,
                     f"{take.seconds:.1f} s" if take else "", check_text(take), STATE_LABEL[T.segment_state(tl, k)]])
    return rows


def stale_md(tl: T.Timeline) -> str:
    """What is out of date, in sentences (nothing when every segment is ready)."""
    stale = T.stale_segments(tl)
    missing = [k for k in stale if T.segment_state(tl, k) == "missing"]
    lines = [f"⚠ {msg}" for k, msg in stale.items() if k not in missing]
    if missing:
        lines.insert(0, f"… {len(missing)} of {len(tl.segments)} segment(s) have no audio yet: press "
                        "**Generate missing and stale**.")
    if lines and len(lines) > 1 and any(line.startswith("⚠") for line in lines):
        lines.append("<span class='muted'>Generate missing and stale redoes exactly these, in order.</span>")
    return "  \n".join(lines) if lines else "<span class='muted'>Every segment is up to date.</span>"


def timeline_choices(tstore: TimelineStore, owner: Optional[str]) -> list[tuple[str, str]]:
    out = []
    for r in tstore.list(owner or ""):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.updated))
        out.append((f"{when} · {r.segments} seg · {r.title}", r.id))
    return out


def version_rows(versions: list) -> list[list[Any]]:
    return [[f"v{v.number}", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created)), v.segments,
             f"{v.seconds:.1f} s", f"{v.pause_ms:g} ms", f"{v.crossfade_ms:g} ms"] for v in versions]


def editor(studio: Studio, owner: str, tl: T.Timeline, k: int) -> dict[str, Any]:
    """The segment editor showing segment ``k``."""
    seg = tl.segments[k]
    take = seg.take
    state = T.segment_state(tl, k)
    parts = [f"**Segment {k + 1} of {len(tl.segments)}**"]
    if seg.speaker:
        parts.append(f"speaker {plain(seg.speaker)}")
    if take is not None:
        parts += [f"{take.seconds:.1f} s", f"seed {take.seed}"]
    parts.append(STATE_LABEL[state])
    info = " · ".join(parts)
    checked = check_text(take, long=True)
    if checked:
        info += f"  \nCheck: {checked}"
    stale = T.stale_segments(tl).get(k)
    if stale and state != "missing":
        info += f"  \n⚠ {stale}"
    if take is not None and take.warnings:
        info += "  \n⚠ " + plain(" ".join(take.warnings))
    return {"seg_no": k + 1, "seg_text": seg.text,
            "seg_voice": gr.update(choices=voice_choices(studio, owner, CONTINUE_LABEL, seg.voice),
                                   value=seg.voice or NO_VOICE),
            "seg_seed": "" if seg.seed is None else str(seg.seed), "seg_semantic": seg.semantic_temp, "seg_coarse": seg.coarse_temp,
            "seg_fine": seg.fine_temp, "seg_info": info,
            "seg_audio": playable(tl.sample_rate, take.audio) if take is not None else None}


def view(studio: Studio, owner: str, tl_id: str, tl: T.Timeline, k: Optional[int] = None) -> dict[str, Any]:
    """The segment list and what is stale (and the editor on segment ``k`` when given)."""
    out = {"tl_id": tl_id, "tl_table": segment_rows(studio, owner, tl), "tl_stale": stale_md(tl)}
    if k is not None and tl.segments:
        out.update(editor(studio, owner, tl, max(0, min(k, len(tl.segments) - 1))))
    return out


def versions_view(tstore: TimelineStore, owner: str, tl_id: Optional[str]) -> dict[str, Any]:
    versions = tstore.versions(owner, tl_id) if owner and tl_id else []
    return {"tl_versions": version_rows(versions), "version_ids": [v.number for v in versions]}


def editor_state(tl_id: Optional[str]) -> dict[str, Any]:
    """The segment editor and the buttons that need a timeline: shown and usable only while one is open."""
    is_open = bool(tl_id)
    return {"tl_editor": gr.update(visible=is_open), "tl_none": gr.update(visible=not is_open),
            **{name: gr.update(interactive=is_open) for name in NEEDS_TIMELINE}}
