"""Studio tab handlers: generate and stop, the prompt estimate, reuse settings, save a take as a voice.

Handlers take named inputs and return (or yield) dicts of named outputs; see ``webui.wiring``.
Take slot outputs are named ``take{i}_group``, ``take{i}_audio``, ``take{i}_info``, ``take{i}_download``.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Optional

import gradio as gr

from bark_core import MAX_TAKES, GenerationCancelled, load_voice_npz, settings as table

from .formatting import history_rows, plain, short, take_info
from .studio import NO_VOICE, SAMPLE_RATE, Studio, session_key, text_too_long, user_error
from .tab_voices import voice_details, voice_list

STAGE_LABEL = {"semantic": "Semantic tokens (text → meaning)", "coarse": "Coarse audio tokens",
               "fine": "Fine audio tokens", "decode": "Decoding audio"}
UI_SETTINGS = [s.name for s in table.SETTINGS if s.widget != "none"]
PROMPT_HINT = "Tip: CAPITALS add emphasis. Tags insert at the cursor. Ctrl+Enter generates."


def slot_updates(prefix: str, takes: list[Any], seed: int, total: Optional[float]) -> dict[str, Any]:
    """Outputs that show a record's takes in the slots named ``{prefix}{i}_*`` and hide the rest."""
    out: dict[str, Any] = {}
    for i in range(MAX_TAKES):
        if i < len(takes):
            t = takes[i]
            out.update({f"{prefix}{i}_group": gr.update(visible=True), f"{prefix}{i}_audio": str(t.wav),
                        f"{prefix}{i}_info": take_info(i, t.seconds, seed, total, t.scores),
                        f"{prefix}{i}_download": gr.update(value=str(t.wav)),
                        f"{prefix}{i}_voice_download": gr.update(value=str(t.wav.with_suffix(".npz")),
                                                                 visible=t.wav.with_suffix(".npz").is_file())})
        else:
            out.update({f"{prefix}{i}_group": gr.update(visible=False), f"{prefix}{i}_audio": None})
    return out


def hidden_slots(prefix: str) -> dict[str, Any]:
    return slot_updates(prefix, [], 0, None)


def arm(studio: Studio, request: gr.Request) -> dict:
    """Clear this session's Stop flag before its job is queued."""
    key = session_key(request)
    if key:
        studio.cancels.arm(key)
    return {}


def stop(studio: Studio, request: gr.Request) -> dict:
    """Stop this session's job (and only this session's)."""
    key = session_key(request)
    if key:
        studio.cancels.stop(key)
    return {}


def generate(studio: Studio, owner: str, text: str, voice: str, request: gr.Request, progress=gr.Progress(),
             **values: Any) -> Iterator[dict[str, Any]]:
    """Generate takes for the prompt; segments are playable as they finish; the result goes to history."""
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    key = session_key(request) or owner
    cancel = studio.cancels.event(key)
    idle = {"results_title": "### Results\n<span class='muted'>Your takes will appear here.</span>"}
    try:
        req = studio.make_request(text, studio.resolve_voice(owner, voice), values)
    except ValueError as e:
        yield {**idle, "status": f"✗ {plain(e)}"}
        raise
    if cancel.is_set():
        yield {"status": "■ Stopped before it started. Nothing was saved."}
        return
    yield {**hidden_slots("take"), "status": "Starting…",
           "results_title": "### Results\n<span class='muted'>Generating…</span>"}
    progress(0.0, desc="Starting")
    last = 0.0
    try:
        for kind, payload in studio.stream(req, cancel.is_set):
            if kind == "progress":
                now = time.monotonic()
                if now - last > 0.1 or payload.step == payload.total:
                    last = now
                    seg = f"segment {payload.segment} of {payload.segments} · " if payload.segments > 1 else ""
                    progress(min(1.0, payload.fraction), desc=f"{seg}{STAGE_LABEL.get(payload.stage, payload.stage)}")
            elif kind == "segment":
                yield segment_update(*payload)
            elif kind == "error":
                if isinstance(payload, GenerationCancelled):
                    yield {**hidden_slots("take"), "status": "■ Stopped. Nothing was saved.",
                           "results_title": "### Results\n<span class='muted'>Stopped.</span>"}
                    return
                raise user_error(payload)
            elif kind == "done":
                if cancel.is_set():
                    yield {**hidden_slots("take"), "status": "■ Stopped. Nothing was saved.", **idle}
                    return
                yield finished(studio, owner, req, voice, payload)
                return
    except ValueError as e:
        yield {**idle, "status": f"✗ {plain(e)}"}
        raise
    finally:
        studio.cancels.forget(key)


def segment_update(index: int, n_segments: int, per_take: list) -> dict[str, Any]:
    """Show the takes so far after segment ``index`` (0-based) of a long-form generation."""
    if n_segments <= 1:
        return {}
    rest = "the next one is being made" if index + 1 < n_segments else "joining them"
    upd: dict[str, Any] = {"status": f"Segment {index + 1} of {n_segments} done: playable below while {rest}."}
    for i, audio in enumerate(per_take[:MAX_TAKES]):
        upd[f"take{i}_group"] = gr.update(visible=True)
        upd[f"take{i}_audio"] = (SAMPLE_RATE, audio)
        upd[f"take{i}_info"] = f"**Take {i + 1}** · {len(audio) / SAMPLE_RATE:.1f} s so far…"
    return upd


def finished(studio: Studio, owner: str, req: Any, voice: str, gen: Any) -> dict[str, Any]:
    """Save a finished generation and show it."""
    rec = studio.save_generation(owner, req, voice, gen, studio.score_takes(req, voice, gen))
    total = rec.timings.get("total")
    warn = ("  \n⚠ " + plain(" ".join(rec.warnings))) if rec.warnings else ""
    recs = studio.history(owner)
    return {**slot_updates("take", rec.takes, rec.seed, total), "current_gen": rec.id,
            "status": f"✓ Done in {total or 0:.1f} s · seed {rec.seed}{warn}",
            "results_title": f"### Results\n<span class='muted'>{plain(short(rec.prompt, 90))}</span>",
            "history_table": history_rows(recs), "history_ids": [r.id for r in recs]}


def estimate_prompt(studio: Studio, text: str) -> dict[str, Any]:
    """How long the prompt will be, in seconds and segments, with any warning."""
    hint = f"<span class='muted'>{PROMPT_HINT}</span>"
    if not text or not text.strip():
        return {"estimate": hint}
    too_long = text_too_long(text, studio.max_text_chars)
    if too_long:
        return {"estimate": f"⚠ {plain(too_long)}"}
    engine = studio.holder.engine
    if engine is None:
        return {"estimate": f"≈ {len(text.split()) / 2.6:.0f} s of audio · {hint}"}
    try:
        segments, warnings = engine.split_text(text)
        secs = engine.estimate_seconds(text)
    except ValueError as e:
        return {"estimate": f"<span class='muted'>{plain(e)}</span>"}
    n = len(segments)
    seg = "1 segment" if n == 1 else f"{n} segments (generated one after another, playable as they finish)"
    warn = (" · ⚠ " + plain(" ".join(warnings))) if warnings else ""
    return {"estimate": f"≈ **{secs:.0f} s** of audio · {seg}{warn}  \n{hint}"}


def reuse(studio: Studio, owner: str, gen_id: Optional[str]) -> dict[str, Any]:
    """Put a generation's prompt, voice and settings back into the editor."""
    rec = studio.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is no longer in your history.")
    s = rec.settings
    ref = s.get("voice", "")
    out: dict[str, Any] = {}
    if ref.startswith("user:") and studio.store.get_voice(owner, ref[5:]) is None:
        gr.Warning("The voice of that generation was deleted; using no voice.")
        ref = NO_VOICE
    widgets = table.to_widgets({**s, "seed": rec.seed})
    return {**out, **widgets, "text": s.get("text", rec.prompt), "voice": ref, "tabs": gr.Tabs(selected="studio"),
            "status": f"Settings of that generation restored (seed {rec.seed})."}


def star_result(studio: Studio, owner: str, gen_id: Optional[str]) -> dict[str, Any]:
    """Star (or unstar) the generation on show in Results; it is marked ★ in History."""
    rec = studio.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is no longer in your history.")
    studio.store.set_star(owner, rec.id, not rec.starred)
    recs = studio.history(owner)
    return {"status": "★ Starred: find it under Starred only in History." if not rec.starred else "Star removed.",
            "history_table": history_rows(recs), "history_ids": [r.id for r in recs]}


def save_take_as_voice(studio: Studio, owner: str, gen_id: Optional[str], index: int, f_language: str = "All",
                       f_gender: str = "Any", f_version: str = "v2", f_query: str = "") -> dict[str, Any]:
    """Save take ``index`` of a generation as one of the owner's voices and select it."""
    rec = studio.generation(owner, gen_id)
    if rec is None or index >= len(rec.takes):
        raise ValueError("That take is no longer in your history.")
    src = rec.takes[index].wav.with_suffix(".npz")
    if not src.is_file():
        raise ValueError("That take is too short to be used as a voice; pick a longer take.")
    name = f"{short(rec.prompt, 40)} (take {index + 1})"
    try:
        v = studio.add_voice(owner, name, load_voice_npz(src), f"generation:{gen_id}:{index}")
    except ValueError as e:
        raise ValueError(f"Could not save the voice: {e}") from None
    gr.Info(f"Saved take {index + 1} as a voice. It is selected now, under ★ in the voice list.")
    ref = f"user:{v.id}"
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            "status": f"✓ Take {index + 1} saved as the voice “{plain(v.name)}”.",
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query)}
