"""Timeline tab: long text as segments that can each be edited and regenerated alone, joined into versions.

``build_timeline_tab(studio)`` lays out and wires the tab (called inside ``gr.Tabs`` in ``webui/ui.py``).
Handlers below take named inputs and return dicts of named outputs (``webui.wiring``); they
read the owner's timeline from ``TimelineStore`` at every call (the page holds only its id), so
a handler never sees another owner's timeline and each change is saved as it happens.
Engine work goes through ``studio.runner.stream`` (the one worker path, ``gpu_wrap`` included) and the
shared engine slot; the engine model is ``bark_core.timeline`` (its ``to_dict`` / ``from_dict`` storage).
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Optional

import gradio as gr
import numpy as np
import soundfile as sf

from bark_core import GenerationCancelled, Progress, SegmentDone, Voice, contract, load_voice_npz, settings as table
from bark_core import timeline as T
from bark_core.audiotools import PostProcess, process
from bark_core.export import FORMAT_CHOICES, export_file, get_format

from .formatting import STAGE_LABEL, plain, short
from .job_runner import session_key, user_error
from .request_builder import text_too_long
from .studio import Studio
from . import job_control
from .timeline_import import import_generation, import_long_form, score_segments
from .timeline_store import TimelineStore
from .voice_book import NO_VOICE, echo, preset_ref, split_ref, user_ref
from .wiring import bind, connect

log = logging.getLogger(__name__)

ENGINE = dict(concurrency_limit=1, concurrency_id="engine", api_visibility="private")
QUICK = dict(show_progress="hidden")
SEGMENT_HEADERS = ["#", "Speaker", "Voice", "Text", "Seed", "Length", "Check", "State"]
VERSION_HEADERS = ["Version", "Made", "Segments", "Length", "Pause", "Crossfade"]
CONTINUE_LABEL = "Continue the previous segment (random for the first)"
NO_VOICE_LABEL = "No voice (a random speaker, continued)"
STATE_LABEL = {"fresh": "✓ ready", "edited": "⚠ stale (edited)", "upstream": "⚠ stale (voice before it changed)",
               "missing": "… not generated"}
SPEAKERS_HINT = "One per line, e.g.\nALICE = v2/en_speaker_9\nBOB = v2/en_speaker_6"


# --------------------------------------------------------------------------- helpers


class StudioEngine:
    """What ``bark_core.timeline`` calls as ``engine.generate``, run through ``studio.runner.stream`` (one worker, gpu_wrap)."""

    def __init__(self, studio: Studio, owner: str = ""):
        self.studio, self.owner = studio, owner or ""  # whose segments (the engine's queue serves owners in turn)

    def generate(self, request: Any, on_progress=None, should_stop=None) -> Any:
        def show(event: Progress | SegmentDone) -> None:
            if isinstance(event, Progress) and on_progress is not None:
                on_progress(event)

        return contract.wait(self.studio.runner.stream(request, should_stop or (lambda: False), owner=self.owner), show)

    def load_voice(self, ref: Any) -> Any:  # only used without a resolver; the tab always passes one
        raise ValueError("Voices are resolved by the studio.")


def playable(sample_rate: int, audio: np.ndarray) -> tuple[int, np.ndarray]:
    """Audio for a ``gr.Audio(type="numpy")`` output: 16-bit PCM (what Gradio would convert float to, with a warning)."""
    return sample_rate, (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)


def request_options(studio: Studio) -> dict[str, Any]:
    """The studio's request defaults (e.g. ``--max-seconds``) that apply to every segment."""
    return {k: v for k, v in studio.requests.defaults.items() if k in T.REQUEST_OPTIONS and v is not None}


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


def check_voice_ref(studio: Studio, owner: str, ref: Optional[str]) -> Optional[str]:
    """``ref`` if it names a preset or one of the owner's voices (None for none); else a sentence."""
    if not ref:
        return None
    if not isinstance(ref, str):
        raise ValueError("Pick a voice from the list.")
    if studio.voices.usable(owner, ref):
        return ref
    raise ValueError(f"The voice {echo(ref)} is not in the voice list; pick one from it.")


def parse_speakers(studio: Studio, owner: str, text: Optional[str]) -> dict[str, Optional[str]]:
    """``NAME = voice`` lines -> {NAME: voice reference}. A voice is a preset name or one of the owner's voices."""
    mapping: dict[str, Optional[str]] = {}
    mine = {v.name.casefold(): user_ref(v.id) for v in studio.voices.list_own(owner)}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        sep = "=" if "=" in line else ":" if ":" in line else None
        if sep is None:
            raise ValueError(f"Line {number} of the dialogue voices has no '=': write NAME = voice, "
                             "e.g. ALICE = v2/en_speaker_9.")
        name, _, voice = line.partition(sep)
        name, voice = " ".join(name.split()), voice.strip().lstrip("★").strip()
        if not name or len(name) > 40:
            raise ValueError(f"Line {number} of the dialogue voices needs a NAME of 1 to 40 characters.")
        if not voice:
            mapping[name] = None
            continue
        if split_ref(voice)[0]:
            ref = voice
        elif studio.voices.preset(preset_ref(voice)) is not None:
            ref = preset_ref(voice)
        elif voice.casefold() in mine:
            ref = mine[voice.casefold()]
        else:
            raise ValueError(f"Line {number}: {echo(voice)} is neither a voice preset (e.g. v2/en_speaker_6) "
                             "nor one of your saved voices.")
        mapping[name] = check_voice_ref(studio, owner, ref)
    return mapping


def _number(value: Any, what: str, default: Optional[float] = None) -> Optional[float]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {echo(value)}.") from None
    if not np.isfinite(x):
        raise ValueError(f"{what} must be a finite number.")
    return x


def _seed(value: Any, what: str = "The seed") -> Optional[int]:
    x = _number(value, what)
    if x is None:
        return None
    if x != int(x) or not 0 <= x <= table.MAX_SEED:
        raise ValueError(f"{what} must be a whole number in 0..{table.MAX_SEED}, or empty for a random one.")
    return int(x)


def _index(tl: T.Timeline, seg_no: Any) -> int:
    """A 1-based segment number from the page -> a 0-based index (a sentence when it is not one)."""
    n = len(tl.segments)
    try:
        k = int(float(seg_no)) - 1
    except (TypeError, ValueError):
        raise ValueError(f"Pick a segment (1-{n}) in the list first.") from None
    if not 0 <= k < n:
        raise ValueError(f"There is no segment {k + 1}; the timeline has {n} (1-{n}).")
    return k


def _load(tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> T.Timeline:
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    if not tl_id:
        raise ValueError("Create a timeline first (paste text and press Create timeline), or open one of yours.")
    return tstore.load(owner, tl_id)


def _editable(tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> T.Timeline:
    """The draft, for a change made by hand; refused while an engine job is saving segments into it."""
    tl = _load(tstore, owner, tl_id)
    if tstore.is_busy(tl_id):
        raise ValueError("This timeline is being generated right now; wait for it to finish (or press Stop), "
                         "then make the change.")
    return tl


def _numbers(ks: list[int]) -> str:
    ks = [k + 1 for k in ks]
    if len(ks) == 1:
        return f"segment {ks[0]}"
    return "segments " + ", ".join(map(str, ks[:-1])) + f" and {ks[-1]}"


# --------------------------------------------------------------------------- views


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


# --------------------------------------------------------------------------- importing from Results and History

OLD_ROW = ("This long-form take's segments were not kept (it was saved before the studio kept them, or its timeline "
           "was deleted), so it cannot be opened as a timeline: only newer long-form generations open as timelines. "
           "Its text is in the box above: press **Create timeline** to split it and generate it again, segment by "
           "segment.")


def rescore(studio: Studio, tl: T.Timeline, k: int) -> T.Timeline:
    """After segment ``k`` is (re)generated: score it (on script, same speaker as segment 1).

    A new segment 1 is every other segment's speaker reference, so then every segment with audio is scored again.
    """
    return score_segments(studio, tl, None if k == 0 else [k])


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
    seg = SimpleNamespace(text=segments[0], tokens=tokens, start=0, end=len(audio))
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


# --------------------------------------------------------------------------- handlers


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


def editor_state(tl_id: Optional[str]) -> dict[str, Any]:
    """The segment editor and the buttons that need a timeline: shown and usable only while one is open."""
    is_open = bool(tl_id)
    return {"tl_editor": gr.update(visible=is_open), "tl_none": gr.update(visible=not is_open),
            **{name: gr.update(interactive=is_open) for name in NEEDS_TIMELINE}}


NEEDS_TIMELINE = ("gen_all_btn", "delete_tl_btn", "render_btn")  # Export and Stop stay: they say what to do


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
    max_chars = _number(tl_max_chars, "The maximum segment length", T.DEFAULT_MAX_CHARS)
    if max_chars != int(max_chars):
        raise ValueError("The maximum segment length must be a whole number of characters.")
    engine = studio.runner.loaded()
    tl, warnings = T.create_timeline(
        tl_text, tl_mode or "sentence", count_tokens=engine.count_tokens if engine is not None else None,
        max_chars=int(max_chars), voice=check_voice_ref(studio, owner, tl_voice),
        speakers=parse_speakers(studio, owner, tl_speakers) if tl_mode == "dialogue" else None,
        seed=_seed(tl_seed), pause_ms=_number(tl_pause, "The pause", 250.0),
        crossfade_ms=_number(tl_crossfade, "The crossfade", 0.0))
    tl_id = tstore.create(owner, tl)
    tstore.set_open(owner, tl_id)
    names = sorted({s.speaker for s in tl.segments if s.speaker})
    who = f" Speakers: {plain(', '.join(names))}." if names else ""
    warn = ("  \n⚠ " + plain(" ".join(warnings))) if warnings else ""
    return {**view(studio, owner, tl_id, tl, 0), **versions_view(tstore, owner, tl_id), "tl_joined": None,
            "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=tl_id),
            "tl_status": f"✓ Timeline created: {len(tl.segments)} segment(s).{who} Press **Generate missing and "
                         f"stale** to make them.{warn}"}


NOTHING_PICKED = ("⚠ Pick one of your timelines in the list “Your timelines” first, then press **Open**; "
                  "or paste text above and press **Create timeline**.")
NO_TIMELINE_HINT = ("**No timeline is open.** Paste a story, a script or a dialogue above and press **Create timeline**, "
                    "or pick one of your timelines (or a take from your history) and open it. The segment editor "
                    "appears here once a timeline is open.")


def open_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], timeline_pick: Optional[str]) -> dict[str, Any]:
    """Open one of the owner's timelines where it was left (and remember it: a reload reopens it)."""
    if owner and not timeline_pick:
        return {"tl_status": NOTHING_PICKED}
    tl = _load(tstore, owner, timeline_pick)
    tstore.set_open(owner, timeline_pick)
    return {**view(studio, owner, timeline_pick, tl, 0), **versions_view(tstore, owner, timeline_pick),
            "tl_pause": tl.pause_ms, "tl_crossfade": tl.crossfade_ms, "tl_joined": None,
            "tl_status": f"Opened a timeline of {len(tl.segments)} segment(s)."}


def select_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   evt: gr.SelectData) -> dict[str, Any]:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return show_segment(studio, tstore, owner, tl_id, (row + 1) if isinstance(row, int) else None)


def show_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                 seg_no: Any) -> dict[str, Any]:
    tl = _load(tstore, owner, tl_id)
    return editor(studio, owner, tl, _index(tl, seg_no))


def _edited(studio: Studio, owner: str, tl: T.Timeline, k: int, seg_text: Any, seg_voice: Any, seg_seed: Any,
            seg_semantic: Any, seg_coarse: Any, seg_fine: Any) -> T.Timeline:
    """Segment ``k`` with the editor's values (only what differs; a sentence for anything unusable)."""
    seg = tl.segments[k]
    if not isinstance(seg_text, str) or not seg_text.strip():
        raise ValueError(f"Segment {k + 1} needs some text; write something or delete the segment.")
    temps = {}
    for name, value, what in (("semantic_temp", seg_semantic, "The semantic temperature"),
                              ("coarse_temp", seg_coarse, "The coarse temperature"),
                              ("fine_temp", seg_fine, "The fine temperature")):
        x = _number(value, what, getattr(seg, name))
        if x != getattr(seg, name):
            temps[name] = x
    voice = check_voice_ref(studio, owner, seg_voice or None)
    seed = _seed(seg_seed)
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
    tl = _editable(tstore, owner, tl_id)
    k = _index(tl, seg_no)
    new = _edited(studio, owner, tl, k, seg_text, seg_voice, seg_seed, seg_semantic, seg_coarse, seg_fine)
    if new is tl:
        return {"tl_status": f"Segment {k + 1} is unchanged."}
    tstore.save(owner, tl_id, new)
    state = T.segment_state(new, k)
    note = " Its audio is out of date until you regenerate it." if state == "edited" else ""
    return {**view(studio, owner, tl_id, new, k), "tl_status": f"✓ Segment {k + 1} edited.{note}"}


def regenerate(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
               seg_text: Any, seg_voice: Any, seg_seed: Any, seg_semantic: Any, seg_coarse: Any, seg_fine: Any,
               request: gr.Request, progress=gr.Progress()) -> dict[str, Any]:
    """Apply the editor's values and generate this one segment again; every other segment keeps its audio."""
    tl = _load(tstore, owner, tl_id)
    with tstore.working(tl_id):
        return _regenerate_one(studio, tstore, owner, tl_id, tl, seg_no, seg_text, seg_voice, seg_seed, seg_semantic,
                               seg_coarse, seg_fine, request, progress)


def _regenerate_one(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, tl: T.Timeline, seg_no: Any,
                    seg_text: Any, seg_voice: Any, seg_seed: Any, seg_semantic: Any, seg_coarse: Any, seg_fine: Any,
                    request: Any, progress: Any) -> dict[str, Any]:
    k = _index(tl, seg_no)
    tl = _edited(studio, owner, tl, k, seg_text, seg_voice, seg_seed, seg_semantic, seg_coarse, seg_fine)
    tstore.save(owner, tl_id, tl)  # the edit is kept even if the generation fails or is stopped
    key = session_key(request) or owner
    job = studio.runner.job(key)
    if job.stopped():
        return {**view(studio, owner, tl_id, tl, k), "tl_status": "■ Stopped before it started."}

    def report(p: Any) -> None:
        progress(min(1.0, p.fraction), desc=f"Segment {k + 1} · {STAGE_LABEL.get(p.stage, p.stage)}")

    try:
        tl = T.regenerate_segment(StudioEngine(studio, owner), tl, k, resolve_voice=lambda ref: studio.voices.resolve(owner, ref),
                                  on_progress=report, should_stop=job.stopped, **request_options(studio))
    except GenerationCancelled:
        return {**view(studio, owner, tl_id, tl, k), "tl_status": f"■ Stopped; segment {k + 1} kept its old audio."}
    except Exception as e:
        raise user_error(e) from None
    finally:
        job.close()
    tl = rescore(studio, tl, k)
    tstore.save(owner, tl_id, tl)
    later = [j for j in T.affected_by(tl, k) if T.segment_state(tl, j) == "upstream"]
    stale = (f" {_numbers(later).capitalize()} continue{'s' if len(later) == 1 else ''} its voice and "
             f"{'is' if len(later) == 1 else 'are'} now stale: regenerate {'it' if len(later) == 1 else 'them'} "
             "(Generate missing and stale does) to follow the new voice." if later else " No other segment changed.")
    return {**view(studio, owner, tl_id, tl, k),
            "tl_status": f"✓ Segment {k + 1} regenerated ({tl.segments[k].take.seconds:.1f} s, seed "
                         f"{tl.segments[k].take.seed}).{stale}"}


def generate_all(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                 request: gr.Request, progress=gr.Progress()) -> Iterator[dict[str, Any]]:
    """Generate, in order, every segment that has no audio or is stale; each is playable as it finishes."""
    tl = _load(tstore, owner, tl_id)
    with tstore.working(tl_id):
        yield from _generate_missing(studio, tstore, owner, tl_id, tl, request, progress)


def _generate_missing(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, tl: T.Timeline, request: Any,
                      progress: Any) -> Iterator[dict[str, Any]]:
    todo = [k for k in range(len(tl.segments)) if T.segment_state(tl, k) != "fresh"]
    if not todo:
        yield {"tl_status": "Every segment is up to date; nothing to generate."}
        return
    key = session_key(request) or owner
    job = studio.runner.job(key)
    engine = StudioEngine(studio, owner)
    options = request_options(studio)
    done = finished = 0
    try:
        for k in range(len(tl.segments)):
            if T.segment_state(tl, k) == "fresh":
                continue
            if job.stopped():
                raise GenerationCancelled()
            done += 1
            total = done + sum(1 for j in range(k + 1, len(tl.segments)) if T.segment_state(tl, j) != "fresh")

            def report(p: Any, _k=k, _i=done, _n=total) -> None:
                progress(min(1.0, (_i - 1 + p.fraction) / _n),
                         desc=f"Segment {_k + 1} ({_i} of {_n}) · {STAGE_LABEL.get(p.stage, p.stage)}")

            tl = T.regenerate_segment(engine, tl, k, resolve_voice=lambda ref: studio.voices.resolve(owner, ref),
                                      on_progress=report, should_stop=job.stopped, **options)
            tl = rescore(studio, tl, k)
            tstore.save(owner, tl_id, tl)
            finished += 1
            left = sum(1 for j in range(k + 1, len(tl.segments)) if T.segment_state(tl, j) != "fresh")
            rest = "the next one is being made" if left else "all done"
            yield {**view(studio, owner, tl_id, tl, k),
                   "tl_status": f"Segment {k + 1} done ({done} of {done + left}): playable below while {rest}."}
    except GenerationCancelled:
        yield {**view(studio, owner, tl_id, tl), "tl_status": f"■ Stopped after {finished} segment(s); the ones "
                                                              "finished are kept."}
        return
    except Exception as e:
        raise user_error(e) from None
    finally:
        job.close()
    yield {"tl_status": f"✓ Generated {done} segment(s). Press **Render new version** to join them."}


def _structural(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, old: T.Timeline, new: T.Timeline,
                k: int, what: str) -> dict[str, Any]:
    tstore.save(owner, tl_id, new)
    stale = [j for j in range(len(new.segments)) if T.segment_state(new, j) in ("upstream", "edited")]
    note = f" Now stale: {_numbers(stale)} (its voice chain changed)." if stale else ""
    return {**view(studio, owner, tl_id, new, k), "tl_status": f"✓ {what}.{note}"}


def delete_segment(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                   seg_no: Any) -> dict[str, Any]:
    tl = _editable(tstore, owner, tl_id)
    k = _index(tl, seg_no)
    if len(tl.segments) == 1:
        raise ValueError("This is the timeline's only segment; edit its text instead, or create a new timeline.")
    return _structural(studio, tstore, owner, tl_id, tl, T.delete_segment(tl, k), k, f"Segment {k + 1} deleted")


def insert_after(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
                 insert_text: Any) -> dict[str, Any]:
    tl = _editable(tstore, owner, tl_id)
    k = _index(tl, seg_no)
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
    tl = _editable(tstore, owner, tl_id)
    k = _index(tl, seg_no)
    to = k + step
    if not 0 <= to < len(tl.segments):
        raise ValueError(f"Segment {k + 1} is already {'first' if step < 0 else 'last'}.")
    return _structural(studio, tstore, owner, tl_id, tl, T.move_segment(tl, k, to), to,
                       f"Segment {k + 1} moved {'up' if step < 0 else 'down'} to {to + 1}")


def save_segment_voice(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                       seg_no: Any) -> dict[str, Any]:
    """Save a segment's tokens as one of the owner's voices (for the Studio tab or other segments)."""
    tl = _load(tstore, owner, tl_id)
    k = _index(tl, seg_no)
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


def delete_timeline(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> dict[str, Any]:
    """Delete the open timeline with every version of it."""
    _editable(tstore, owner, tl_id)
    tstore.delete(owner, tl_id)
    return {"tl_id": None, "tl_table": [], "tl_stale": "", "seg_no": None, "seg_text": "", "seg_audio": None,
            "seg_info": "", "tl_versions": [], "version_ids": [], "sel_version": None, "tl_joined": None,
            "timeline_pick": gr.update(choices=timeline_choices(tstore, owner), value=None),
            "tl_status": "✓ Timeline deleted, with all its versions."}


def render_version(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], tl_pause: Any,
                   tl_crossfade: Any) -> dict[str, Any]:
    """Join every segment with these pause and crossfade settings and save it as a new version."""
    tl = _editable(tstore, owner, tl_id)
    tl = T.set_joins(tl, pause_ms=_number(tl_pause, "The pause", tl.pause_ms),
                     crossfade_ms=_number(tl_crossfade, "The crossfade", tl.crossfade_ms))
    audio = T.render(tl)  # a sentence when a segment has no audio
    tstore.save(owner, tl_id, tl)
    v = tstore.add_version(owner, tl_id, tl, audio)
    stale = [k for k in range(len(tl.segments)) if T.segment_state(tl, k) != "fresh"]
    note = (f"  \n⚠ {_numbers(stale).capitalize()} {'is' if len(stale) == 1 else 'are'} stale and went in with "
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
    post = PostProcess(trim_silence=bool(ex_trim), fade_in_ms=_number(ex_fade_in, "The fade-in", 0.0),
                       fade_out_ms=_number(ex_fade_out, "The fade-out", 0.0),
                       normalize_lufs=_number(ex_lufs, "The loudness target"),
                       limit_db=_number(ex_limit, "The peak limit"))
    sr, audio = tstore.version_audio(owner, tl_id, number)
    done = process(audio, sr, post)
    path = export_file(done.audio, sr, studio.library.exports.folder() / f"timeline-v{number}{fmt.suffix}", fmt)
    loud = f" · {done.loudness_lufs:.1f} LUFS" if done.loudness_lufs is not None else ""
    notes = ("  \n" + " ".join(done.notes)) if done.notes else ""
    return {"ex_download": gr.update(value=str(path), label=f"⬇ {path.name}", visible=True),
            "ex_msg": f"✓ v{number} as {fmt.label}: {len(done.audio) / sr:.1f} s · peak {done.peak_db:.1f} dBFS"
                      f"{loud}.{notes}"}


# --------------------------------------------------------------------------- layout and wiring


def _temp_slider(name: str, elem_id: str) -> gr.Slider:
    s = next(x for x in table.SETTINGS if x.name == name)
    return gr.Slider(s.minimum, s.maximum, s.default, step=s.step, label=s.label, elem_id=elem_id)


class TimelineTab:
    """What ``build_timeline_tab`` returns: its components, and ``wire_open`` for "Open in timeline" buttons elsewhere."""

    def __init__(self, studio: Studio, tstore: TimelineStore, tab: Any, components: dict[str, Any],
                 buttons: dict[str, Any]):
        self.studio, self.tstore, self.tab = studio, tstore, tab
        self.components, self.buttons = components, buttons

    def open_outputs(self) -> dict[str, Any]:
        """Every component ``open_generation`` updates."""
        c = self.components
        names = ("tl_id", "tl_table", "tl_stale", "tl_status", "seg_no", "seg_audio", "seg_info", "insert_text",
                 "seg_text", "seg_voice", "seg_seed", "seg_semantic", "seg_coarse", "seg_fine", "tl_versions",
                 "version_ids", "tl_pause", "tl_crossfade", "tl_joined", "timeline_pick", "history_pick", "tl_text")
        return {n: c[n] for n in names}

    def wire_load(self, trigger: Any) -> Any:
        """Make ``trigger`` (the page's ``demo.load``) reopen the timeline this owner had open."""
        outputs = {n: v for n, v in self.open_outputs().items() if n not in ("history_pick", "tl_text")}
        return connect(trigger, bind(page_opened, studio=self.studio, tstore=self.tstore), {}, outputs, **QUICK)

    def wire_open(self, trigger: Any, source: Any, take_index: int, tabs_component: Any = None,
                  resolve: Optional[Callable[[Any, int], tuple[Optional[str], int]]] = None) -> Any:
        """Make ``trigger`` (e.g. a take card's button ``.click``) open a take in this tab and select the tab.

        ``source`` is the component whose value names the generation: a ``gr.State`` holding its id
        (History's ``selected_gen``: take ``take_index`` opens), or anything ``resolve(value,
        take_index) -> (generation id, take index)`` reads (Results' ``results`` state with
        ``take_cards.result_ref``). The take's timeline is imported on first open, then reused.
        ``tabs_component``: the ``gr.Tabs`` this tab is in (its id for this tab is ``"timeline"``).
        Call inside the Blocks.
        """
        outputs = self.open_outputs()
        if tabs_component is not None:
            outputs["tabs"] = tabs_component
        studio, tstore, index, tabs = self.studio, self.tstore, int(take_index), tabs_component is not None

        def open_in_timeline(owner: Optional[str], source: Any) -> dict[str, Any]:
            gen_id, take = resolve(source, index) if resolve is not None else (source, index)
            return open_generation(studio, tstore, owner, gen_id, take, tabs=tabs)

        return connect(trigger, open_in_timeline, {"source": source}, outputs, **QUICK)


def build_timeline_tab(studio: Studio) -> TimelineTab:
    """The Timeline tab; call inside ``gr.Tabs`` (after History). Keep what it returns to wire "Open in timeline"."""
    tstore = studio.library.timelines
    c: dict[str, Any] = {}
    b: dict[str, Any] = {}
    with gr.Tab("Timeline", id="timeline", elem_id="tab-timeline") as tab:
        c["tl_id"] = gr.State(None)
        c["version_ids"] = gr.State([])
        c["sel_version"] = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                c["tl_text"] = gr.Textbox(label="Long text", lines=8, max_lines=30, elem_id="tl-text",
                                          placeholder="Paste a story, a script or a dialogue (ALICE: Hi! / BOB: Hello.)")
            with gr.Column(scale=2, min_width=280):
                c["tl_mode"] = gr.Dropdown(T.SPLIT_MODE_CHOICES, value="sentence", label="Split",
                                           elem_id="tl-mode")
                c["tl_max_chars"] = gr.Number(T.DEFAULT_MAX_CHARS, label="Max characters per segment (by length)",
                                              minimum=T.MIN_MAX_CHARS, maximum=T.MAX_MAX_CHARS, precision=0,
                                              elem_id="tl-max-chars")
                c["tl_voice"] = gr.Dropdown(voice_choices(studio, None, NO_VOICE_LABEL), value=NO_VOICE,
                                            label="Voice", elem_id="tl-voice")
                c["tl_speakers"] = gr.Textbox(label="Dialogue voices (NAME = voice)", lines=2,
                                              placeholder=SPEAKERS_HINT, elem_id="tl-speakers")
                # Textboxes, not gr.Number, for values that may be empty: a Number sends 0 for "empty"
                c["tl_seed"] = gr.Textbox("", label="Seed (empty = random; segment k gets seed + k)",
                                          elem_id="tl-seed")
        with gr.Row():
            b["create_btn"] = gr.Button("Create timeline", variant="primary", elem_id="tl-create")
            c["timeline_pick"] = gr.Dropdown([], value=None, label="Your timelines", elem_id="tl-pick", scale=3)
            b["open_btn"] = gr.Button("Open", size="sm", elem_id="tl-open", scale=0, min_width=80)
            b["delete_tl_btn"] = gr.Button("Delete timeline", size="sm", variant="stop", elem_id="tl-delete-timeline",
                                           scale=0, min_width=130, interactive=False)
        with gr.Row():
            c["history_pick"] = gr.Dropdown([], value=None, label="Or open a take from your history",
                                            info="A long-form take opens with its segments as they were made.",
                                            elem_id="tl-history-pick", scale=3)
            b["open_history_btn"] = gr.Button("Open as timeline", size="sm", elem_id="tl-open-history", scale=0,
                                              min_width=150)
        with gr.Row():
            b["gen_all_btn"] = gr.Button("Generate missing and stale", variant="primary", elem_id="tl-generate", interactive=False)
            b["stop_btn"] = gr.Button("Stop", variant="stop", elem_id="tl-stop")
        c["tl_status"] = gr.Markdown(elem_id="tl-status")
        c["tl_stale"] = gr.Markdown(elem_id="tl-stale")
        c["tl_table"] = gr.Dataframe(headers=SEGMENT_HEADERS, value=[], interactive=False, wrap=True,
                                     elem_id="tl-segments",
                                     # fixed widths: readable cells that scroll sideways on a phone
                                     column_widths=["44px", "90px", "130px", "430px", "110px", "70px", "150px", "150px"])
        c["tl_none"] = gr.Markdown(NO_TIMELINE_HINT, elem_id="tl-none")
        with gr.Column(elem_id="tl-editor", visible=False) as c["tl_editor"]:  # an id on a Group is drawn twice
            with gr.Group():
                c["seg_info"] = gr.Markdown(elem_id="tl-seg-info")
                c["seg_audio"] = gr.Audio(type="numpy", interactive=False, show_label=False, elem_id="tl-seg-audio")
                with gr.Row():
                    c["seg_no"] = gr.Number(None, label="Segment", precision=0, minimum=1, elem_id="tl-seg-no",
                                            scale=0, min_width=100)
                    c["seg_text"] = gr.Textbox(label="Text", lines=2, elem_id="tl-seg-text", scale=4)
                with gr.Row():
                    c["seg_voice"] = gr.Dropdown(voice_choices(studio, None, CONTINUE_LABEL), value=NO_VOICE,
                                                 label="Voice", elem_id="tl-seg-voice")
                    c["seg_seed"] = gr.Textbox("", label="Seed (empty = random)", elem_id="tl-seg-seed")
                with gr.Row():
                    c["seg_semantic"] = _temp_slider("semantic_temp", "tl-seg-semantic")
                    c["seg_coarse"] = _temp_slider("coarse_temp", "tl-seg-coarse")
                    c["seg_fine"] = _temp_slider("fine_temp", "tl-seg-fine")
                with gr.Row():
                    b["regen_btn"] = gr.Button("Regenerate this segment", variant="primary", size="sm",
                                               elem_id="tl-regen")
                    b["apply_btn"] = gr.Button("Save edits", size="sm", elem_id="tl-apply")
                    b["up_btn"] = gr.Button("↑ Move up", size="sm", elem_id="tl-up")
                    b["down_btn"] = gr.Button("↓ Move down", size="sm", elem_id="tl-down")
                    b["save_voice_btn"] = gr.Button("Save as voice", size="sm", elem_id="tl-save-voice")
                    b["delete_btn"] = gr.Button("Delete", size="sm", variant="stop", elem_id="tl-delete")
                with gr.Row():
                    c["insert_text"] = gr.Textbox(label="New segment's text", lines=1, elem_id="tl-insert-text", scale=4)
                    b["insert_btn"] = gr.Button("Insert after", size="sm", elem_id="tl-insert", scale=0, min_width=120)
        gr.Markdown("### Join and render")
        with gr.Row():
            c["tl_pause"] = gr.Number(250, label="Pause between segments (ms)", minimum=0, maximum=T.MAX_PAUSE_MS,
                                      elem_id="tl-pause")
            c["tl_crossfade"] = gr.Number(0, label="Crossfade (ms)", minimum=0, maximum=T.MAX_CROSSFADE_MS,
                                          elem_id="tl-crossfade")
            b["render_btn"] = gr.Button("Render new version", variant="primary", elem_id="tl-render", interactive=False)
        c["tl_joined"] = gr.Audio(type="numpy", interactive=False, label="Joined audio", elem_id="tl-joined")
        c["tl_versions"] = gr.Dataframe(headers=VERSION_HEADERS, value=[], interactive=False,
                                        elem_id="tl-versions")
        with gr.Accordion("Export: trim, loudness, fades, format", open=False, elem_id="tl-export"):
            with gr.Row():
                c["ex_format"] = gr.Dropdown(FORMAT_CHOICES, value="wav", label="Format", elem_id="tl-ex-format")
                c["ex_trim"] = gr.Checkbox(False, label="Trim leading and trailing silence", elem_id="tl-ex-trim")
                c["ex_lufs"] = gr.Textbox("", label="Normalise to LUFS (empty = off; e.g. -16)",
                                          elem_id="tl-ex-lufs")
            with gr.Row():
                c["ex_fade_in"] = gr.Number(0, label="Fade in (ms)", minimum=0, elem_id="tl-ex-fade-in")
                c["ex_fade_out"] = gr.Number(0, label="Fade out (ms)", minimum=0, elem_id="tl-ex-fade-out")
                c["ex_limit"] = gr.Textbox("", label="Limit peaks at dBFS (empty = off; e.g. -1)",
                                           elem_id="tl-ex-limit")
            with gr.Row():
                b["export_btn"] = gr.Button("Prepare download", elem_id="tl-ex-prepare")
                c["ex_download"] = gr.DownloadButton("⬇ Download", visible=False, elem_id="tl-ex-download")
            c["ex_msg"] = gr.Markdown(elem_id="tl-ex-msg")
    _wire(studio, tstore, tab, c, b)
    return TimelineTab(studio, tstore, tab, c, b)


def _wire(studio: Studio, tstore: TimelineStore, tab: Any, c: dict[str, Any], b: dict[str, Any]) -> None:
    def pick(*names: str) -> dict[str, Any]:
        return {n: c[n] for n in names}

    def on(trigger, fn, inputs, outputs, **kw):
        return connect(trigger, bind(fn, studio=studio, tstore=tstore), inputs, outputs, **kw)

    edit_fields = pick("seg_text", "seg_voice", "seg_seed", "seg_semantic", "seg_coarse", "seg_fine")
    out = {**pick("tl_id", "tl_table", "tl_stale", "tl_status", "seg_no", "seg_audio", "seg_info", "insert_text"),
           **edit_fields}
    versions = pick("tl_versions", "version_ids")
    current = pick("tl_id", "seg_no")

    connect(c["tl_id"].change, editor_state, pick("tl_id"),
            {**pick("tl_editor", "tl_none"), **{n: b[n] for n in NEEDS_TIMELINE}}, **QUICK)
    on(tab.select, tab_opened, pick("tl_voice"), pick("timeline_pick", "history_pick", "tl_voice"), **QUICK)
    on(b["open_history_btn"].click, open_from_history, pick("history_pick"),
       {**out, **versions, **pick("tl_pause", "tl_crossfade", "tl_joined", "timeline_pick", "history_pick", "tl_text")},
       **QUICK)
    on(b["create_btn"].click, create_timeline,
       pick("tl_text", "tl_mode", "tl_max_chars", "tl_voice", "tl_speakers", "tl_seed", "tl_pause", "tl_crossfade"),
       {**out, **versions, **pick("timeline_pick", "tl_joined")}, **QUICK)
    on(b["open_btn"].click, open_timeline, pick("timeline_pick"),
       {**out, **versions, **pick("tl_pause", "tl_crossfade", "tl_joined")}, **QUICK)
    on(c["tl_table"].select, select_segment, pick("tl_id"), out, **QUICK)
    on(c["seg_no"].submit, show_segment, current, out, **QUICK)
    on(b["apply_btn"].click, apply_edit, {**current, **edit_fields}, out, **QUICK)
    on(b["delete_btn"].click, delete_segment, current, out, **QUICK)
    on(b["save_voice_btn"].click, save_segment_voice, current, pick("tl_status", "seg_voice", "tl_voice"), **QUICK)
    on(b["delete_tl_btn"].click, delete_timeline, pick("tl_id"),
       {**out, **versions, **pick("sel_version", "tl_joined", "timeline_pick")}, **QUICK)
    on(b["insert_btn"].click, insert_after, {**current, **pick("insert_text")}, out, **QUICK)
    connect(b["up_btn"].click, bind(move_segment, studio=studio, tstore=tstore, step=-1), current, out, **QUICK)
    connect(b["down_btn"].click, bind(move_segment, studio=studio, tstore=tstore, step=1), current, out, **QUICK)

    armed = connect(b["regen_btn"].click, bind(job_control.arm, studio=studio), {}, {}, **QUICK)
    on(armed.then, regenerate, {**current, **edit_fields}, out, show_progress_on=[c["tl_status"]], **ENGINE)
    armed_all = connect(b["gen_all_btn"].click, bind(job_control.arm, studio=studio), {}, {}, **QUICK)
    on(armed_all.then, generate_all, pick("tl_id"), out, show_progress_on=[c["tl_status"]], **ENGINE)
    connect(b["stop_btn"].click, bind(job_control.stop, studio=studio), {}, {}, queue=False)  # never waits behind the job it stops

    on(b["render_btn"].click, render_version, pick("tl_id", "tl_pause", "tl_crossfade"),
       {**versions, **pick("tl_joined", "sel_version", "tl_status")}, show_progress_on=[c["tl_joined"]])
    on(c["tl_versions"].select, select_version, pick("tl_id", "version_ids"),
       pick("sel_version", "tl_joined", "tl_status"), **QUICK)
    on(b["export_btn"].click, export_version,
       pick("tl_id", "sel_version", "ex_format", "ex_trim", "ex_lufs", "ex_fade_in", "ex_fade_out", "ex_limit"),
       pick("ex_download", "ex_msg"), show_progress_on=[c["ex_msg"]])


__all__ = ["build_timeline_tab", "import_generation", "import_long_form", "open_generation",
           "TimelineStore", "TimelineTab"]
