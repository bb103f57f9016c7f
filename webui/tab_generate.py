"""Studio tab handlers: generate and stop, the prompt estimate, reuse settings, save a take as a voice.

Handlers take named inputs and return (or yield) dicts of named outputs; see ``webui.wiring``.
Take slot outputs are named ``take{i}_group``, ``take{i}_audio``, ``take{i}_info``, ``take{i}_download``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Iterator, Optional

import gradio as gr

from bark_core import (MAX_SEGMENT_RETAKES, MAX_TAKES, SAMPLE_RATE, GenerationCancelled, GenerationRequest, Preview,
                       Progress, SegmentDone, contract, load_voice_npz, settings as table)

from bark_core.takecheck import Thresholds

from .formatting import STAGE_LABEL, history_rows, plain, short
from .job_runner import Job, session_key, user_error
from .request_builder import text_too_long
from .studio import Studio
from .take_checks import retake_budget, retake_request, thresholds as check_thresholds
from .timeline_import import import_long_form
from .take_cards import hidden_slots, result_ref, show_results
from .voice_book import NO_VOICE, user_ref
from .voice_list import voice_details, voice_list

UI_SETTINGS = [s.name for s in table.SETTINGS if s.widget != "none"]
PROMPT_HINT = "Tip: CAPITALS add emphasis. Tags insert at the cursor. Ctrl+Enter generates."


IDLE = {"results_title": "### Results\n<span class='muted'>Your takes will appear here.</span>"}


def arm_generate(studio: Studio, request: gr.Request, text: str = "", takes: Any = 1, max_seconds: Any = None) -> dict:
    """Before Generate is queued: clear the Stop flag and say how long the wait and the job should take, from
    this engine's measured speed. The generate event gets every option it needs as its own inputs."""
    key = session_key(request)
    if not key:
        return {}
    studio.runner.arm(key)
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        n = int(takes or 1)
    except (TypeError, ValueError):
        n = 1
    line = studio.runner.queued_line(key, studio.runner.expected_audio_seconds(text, max_seconds), max(1, n))
    return {"status": f"⏳ {line}"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one Generate makes: the request, and the take check with its retake budget."""

    req: GenerationRequest
    voice: str  # the voice reference the user picked (``voice_book``), as saved in history
    thresholds: Thresholds
    tries: int  # extra tries while no take passes (0: no retakes)
    seconds: float  # no retake starts once the job has run this long (0: no time limit)


def generate(studio: Studio, owner: str, text: str, voice: str, request: gr.Request, progress=gr.Progress(),
             best_first: bool = False, min_on_script: Any = None, min_same_voice: Any = None,
             retake_tries: Any = 0, retake_seconds: Any = 0, **values: Any) -> Iterator[dict[str, Any]]:
    """Generate takes for the prompt; segments are playable as they finish; the result goes to history.

    "Retake until it passes": while no take clears the user's thresholds, one more take is made
    (a new seed) until one does or the budget is spent: ``retake_tries`` extra tries, and no retake
    starts once the job has run ``retake_seconds`` (0 = no time limit). Every try is saved in history with its scores.
    """
    job = studio.runner.job(session_key(request) or owner or "")
    if not owner:
        job.close()
        raise ValueError("Your browser session is not ready yet; reload the page.")
    try:
        plan = make_plan(studio, owner, text, voice, values, min_on_script, min_same_voice, retake_tries,
                         retake_seconds)
    except ValueError as e:
        job.close()  # refused: it no longer waits for the engine
        yield {**IDLE, "status": f"✗ {plain(e)}"}
        raise
    if job.stopped():
        job.close()
        yield {"status": "■ Stopped before it started. Nothing was saved."}
        return
    yield {**hidden_slots("take"), "status": "Starting…",
           "results_title": "### Results\n<span class='muted'>Generating…</span>"}
    progress(0.0, desc="Starting")
    try:
        yield from run_with_retakes(studio, job, owner, plan, progress, best_first)
    except ValueError as e:
        yield {**IDLE, "status": f"✗ {plain(e)}"}
        raise
    finally:
        job.close()


def make_plan(studio: Studio, owner: str, text: str, voice: str, values: dict[str, Any], min_on_script: Any,
              min_same_voice: Any, retake_tries: Any, retake_seconds: Any) -> Plan:
    """The request and take check of a Generate; ValueError with a sentence for anything out of range."""
    req = studio.requests.make(text, studio.voices.resolve(owner, voice), values)
    studio.quotas.check_history(owner)
    thresholds = check_thresholds(min_on_script, min_same_voice)
    tries, seconds = retake_budget(retake_tries, retake_seconds)
    return Plan(req, voice, thresholds, tries, seconds)


def run_with_retakes(studio: Studio, job: Job, owner: str, plan: Plan, progress: Any,
                     best_first: bool) -> Iterator[dict[str, Any]]:
    """Run the plan's request, save it, retake while no take passes (within the budget), and show how it went.

    A long-form request redraws a failing segment alone inside the take instead of making whole retakes.
    """
    started = time.monotonic()  # the time budget counts from here: no retake starts after it is spent
    req, tries, seconds = plan.req, plan.tries, plan.seconds
    reference = studio.checks.speaker_reference(req) if tries else None
    accept, segment_retakes = None, 0
    if tries and n_segments(studio, req) > 1:  # long-form: redraw a segment alone
        segment_retakes = min(tries, MAX_SEGMENT_RETAKES)
        accept = studio.checks.segment_check(req, plan.voice, plan.thresholds, reference,
                                             started + seconds if seconds else None)
    gen = yield from run_one(job, req, progress, accept_segment=accept, segment_retakes=segment_retakes,
                             eta=job.eta, owner=owner)
    if gen is None:
        yield {**hidden_slots("take"), "status": "■ Stopped. Nothing was saved.",
               "results_title": "### Results\n<span class='muted'>Stopped.</span>"}
        return
    studio.runner.record_speed(gen, req.takes)
    if not tries:
        reference = studio.checks.speaker_reference(req)
    first = save_scored(studio, owner, req, plan.voice, gen, plan.thresholds, reference)
    records = [first]
    refs = [[first.id, i, f"Take {i + 1}"] for i in range(len(first.takes))]
    budget = 0 if accept else tries  # the segments were redrawn instead
    stopped = yield from retake_until_passed(studio, job, owner, plan, progress, best_first, reference,
                                             records, refs, budget, started)
    out = finished(studio, owner, records, refs, best_first, stopped, budget)
    if accept:
        out["status"] += segment_tries_text(gen)
    yield out


def retake_until_passed(studio: Studio, job: Job, owner: str, plan: Plan, progress: Any, best_first: bool,
                        reference: Any, records: list[Any], refs: list, budget: int,
                        started: float) -> Iterator[dict[str, Any]]:
    """One take at a time (the next seed) while none of ``records`` passed, up to ``budget`` retakes and the plan's
    time budget; each is saved and added to ``records`` and ``refs``. Returns whether Stop ended it."""
    first = records[0]
    for extra in range(1, budget + 1):
        if any_passed(records) or (plan.seconds and time.monotonic() - started >= plan.seconds):
            break
        again = retake_request(plan.req, first.seed, len(first.takes), extra)
        yield {**show_results(studio, owner, refs, best_first),
               "status": f"No take passed yet: retake {extra} of {plan.tries} (seed {again.seed})…"}
        gen = yield from run_one(job, again, progress, f"retake {extra} of {plan.tries} · ", owner=owner)
        if gen is None:
            return True
        studio.runner.record_speed(gen, 1)
        rec = save_scored(studio, owner, again, plan.voice, gen, plan.thresholds, reference)
        records.append(rec)
        refs.append([rec.id, 0, f"Retake {extra}"])
    return False


def save_scored(studio: Studio, owner: str, req: GenerationRequest, voice: str, gen: Any,
                thresholds: Optional[Thresholds], reference: Any = "voice") -> Any:
    """Score the takes (``TakeChecks.score_takes``), save the generation in history, and each long-form take as a
    timeline; the saved record."""
    rec = studio.library.save_generation(owner, req, voice, gen,
                                         studio.checks.score_takes(req, voice, gen, thresholds, reference))
    import_long_form(studio, owner, rec.id, req, gen, score=False)
    return rec


def regenerate(studio: Studio, owner: str, gen_id: Optional[str], index: int, request: gr.Request,
               progress=gr.Progress(), best_first: bool = False) -> Iterator[dict[str, Any]]:
    """"Regenerate this take": take ``index`` of a history row again, alone (its seed, one take), as a new
    generation in Results and History. On the exact placement (CPU float32) it is the same audio."""
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    job = studio.runner.job(session_key(request) or owner)
    try:
        rec, req = studio.library.take_again_request(owner, gen_id, index)
    except ValueError as e:
        yield {"status": f"✗ {plain(e)}"}
        raise
    if job.stopped():
        yield {"status": "■ Stopped before it started. Nothing was saved."}
        return
    label = f"Take {index + 1} again"
    yield {**hidden_slots("take"), "tabs": gr.Tabs(selected="studio"),
           "status": f"Making take {index + 1} again alone (seed {req.seed})…",
           "results_title": "### Results\n<span class='muted'>Generating…</span>"}
    progress(0.0, desc="Starting")
    try:
        gen = yield from run_one(job, req, progress, owner=owner)
        if gen is None:
            yield {"status": "■ Stopped. Nothing was saved.",
                   "results_title": "### Results\n<span class='muted'>Stopped.</span>"}
            return
        thresholds = Thresholds(**{k: v for k, v in ((rec.takes[index].scores or {}).get("details") or {}).get(
            "thresholds", {}).items() if k in Thresholds.__dataclass_fields__})
        again = save_scored(studio, owner, req, rec.voice, gen, thresholds)
        out = finished(studio, owner, [again], [[again.id, 0, label]], best_first)
        out["status"] = out["status"].replace("✓ Done", f"✓ Take {index + 1} made again", 1)
        yield out
    except ValueError as e:
        yield {"status": f"✗ {plain(e)}"}
        raise
    finally:
        job.close()


def regenerate_result(studio: Studio, owner: str, results: Optional[dict], index: int, request: gr.Request,
                      progress=gr.Progress(), best_first: bool = False) -> Iterator[dict[str, Any]]:
    """"Regenerate this take" on Results' card ``index``."""
    gen_id, take = result_ref(results, index)
    yield from regenerate(studio, owner, gen_id, take, request, progress, best_first)


def run_one(job: Job, req: Any, progress: Any, prefix: str = "", accept_segment: Any = None,
            segment_retakes: int = 0, eta: Any = None, owner: str = "") -> Iterator[dict[str, Any]]:
    """One engine run of ``job``, shown as it goes (``yield from``); returns the Generation, or None when stopped.

    ``eta(fraction) -> str`` (``Job.eta``): the status line says the time left every few seconds.
    """
    last = shown = 0.0
    if eta is not None:
        yield {"status": f"{prefix}{eta(0.0)}"}

    def show(event: Progress | SegmentDone | Preview) -> Optional[dict[str, Any]]:
        nonlocal last, shown
        if isinstance(event, SegmentDone):
            return segment_update(event.index, event.segments, event.audio)
        if isinstance(event, Preview):
            return preview_update(event.index, event.segments, event.audio)
        now = time.monotonic()
        if now - last > 0.1 or event.step == event.total:
            last = now
            seg = f"segment {event.segment} of {event.segments} · " if event.segments > 1 else ""
            progress(min(1.0, event.fraction), desc=f"{prefix}{seg}{STAGE_LABEL.get(event.stage, event.stage)}")
        if eta is not None and now - shown > 2.0:
            shown = now
            return {"status": f"{prefix}{eta(min(1.0, event.fraction))}"}
        return None

    try:
        gen = yield from contract.follow(job.stream(req, accept_segment, segment_retakes, previews=True, owner=owner),
                                         show)
    except GenerationCancelled:
        return None
    except Exception as e:
        raise user_error(e) from None
    return None if job.stopped() else gen


def n_segments(studio: Studio, req: Any) -> int:
    """How many segments the engine will make of this request's text (1 when it is not long-form)."""
    engine = studio.runner.loaded()
    if engine is None or not req.long_form:
        return 1
    try:
        return len(engine.split_text(req.text)[0])
    except ValueError:
        return 1


def segment_tries_text(gen: Any) -> str:
    """" · segment 2 took 3 tries" for the segments the long-form check redrew (empty when none was)."""
    redrawn: dict[int, int] = {}
    for take in gen.takes:
        for k, seg in enumerate(take.segments):
            if seg.tries > 1:
                redrawn[k] = max(redrawn.get(k, 1), seg.tries)
    if not redrawn:
        return " · no segment needed a redraw" if any(
            len(t.segments) > 1 for t in gen.takes) else ""
    return " · redrawn alone: " + ", ".join(f"segment {k + 1} ({n} tries)" for k, n in sorted(redrawn.items()))


def any_passed(records: list[Any]) -> bool:
    return any((t.scores or {}).get("passed") for r in records for t in r.takes)


def playing(per_take: list, note: str) -> dict[str, Any]:
    """Take cards playing each take's audio so far (not yet saved), captioned with its length and ``note``."""
    upd: dict[str, Any] = {}
    for i, audio in enumerate(per_take[:MAX_TAKES]):
        upd[f"take{i}_group"] = gr.update(visible=True)
        upd[f"take{i}_audio"] = (SAMPLE_RATE, audio)
        upd[f"take{i}_info"] = f"**Take {i + 1}** · {len(audio) / SAMPLE_RATE:.1f} s{note}"
    return upd


def segment_update(index: int, n_segments: int, per_take: list) -> dict[str, Any]:
    """Show the takes so far after segment ``index`` (0-based) of a long-form generation."""
    if n_segments <= 1:
        return {}
    rest = "the next one is being made" if index + 1 < n_segments else "joining them"
    return {**playing(per_take, " so far…"),
            "status": f"Segment {index + 1} of {n_segments} done: playable below while {rest}."}


def preview_update(index: int, n_segments: int, per_take: list) -> dict[str, Any]:
    """Play each take's rough preview (from its coarse codes) while segment ``index`` is still being made."""
    seg = f" of segment {index + 1} of {n_segments}" if n_segments > 1 else ""
    return {**playing(per_take, " · preview (rough)…"),
            "status": f"Preview{seg}: a rough first sound while the fine details are made…"}


def finished(studio: Studio, owner: str, records: list[Any], refs: list, best_first: bool = False,
             stopped: bool = False, budget: int = 0) -> dict[str, Any]:
    """Show a finished generation (and its retakes, already saved) with a status that says how it went."""
    first = records[0]
    total = sum(r.timings.get("total", 0.0) for r in records)
    warn = ("  \n⚠ " + plain(" ".join(first.warnings))) if first.warnings else ""
    recs = studio.library.history(owner)
    status = f"✓ Done in {total:.1f} s · seed {first.seed}"
    if budget or len(records) > 1:
        n = sum(len(r.takes) for r in records)
        passed = [label for (gen_id, i, label) in refs
                  for r in records if r.id == gen_id and (r.takes[i].scores or {}).get("passed")]
        retakes = len(records) - 1
        tries = f"{n} tries ({len(first.takes)} take{'s' * (len(first.takes) > 1)} + {retakes} " \
                f"retake{'s' * (retakes != 1)})" if retakes else f"{n} take{'s' * (n > 1)}"
        if passed:
            verdict = f"passed: {', '.join(passed)}"
        elif stopped:
            verdict = "stopped before one passed"
        else:
            verdict = "none passed; the retake budget is spent" if budget else "none passed"
        status += f" · {tries}, {verdict}" + (" · every try is in History" if retakes else "")
    elif stopped:
        status += " · stopped"
    return {**show_results(studio, owner, refs, best_first), "status": status + warn,
            "results_title": f"### Results\n<span class='muted'>{plain(short(first.prompt, 90))}</span>",
            "history_table": history_rows(recs), "history_ids": [r.id for r in recs],
            "storage_md": studio.quotas.usage_line(owner)}


def reorder_results(studio: Studio, owner: str, results: Optional[dict], best_first: bool) -> dict[str, Any]:
    """"Best first" ticked or unticked: show the same takes in the other order."""
    refs = (results or {}).get("refs") or []
    if not refs:
        return {}
    return show_results(studio, owner or "", refs, best_first)


def estimate_prompt(studio: Studio, text: str) -> dict[str, Any]:
    """How long the prompt will be, in seconds and segments, with any warning."""
    hint = f"<span class='muted'>{PROMPT_HINT}</span>"
    if not text or not text.strip():
        return {"estimate": hint}
    too_long = text_too_long(text, studio.requests.max_text_chars)
    if too_long:
        return {"estimate": f"⚠ {plain(too_long)}"}
    engine = studio.runner.loaded()
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
    rec = studio.library.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is no longer in your history.")
    s = rec.settings
    ref = s.get("voice", "")
    out: dict[str, Any] = {}
    if studio.voices.deleted(owner, ref):
        gr.Warning("The voice of that generation was deleted; using no voice.")
        ref = NO_VOICE
    widgets = table.to_widgets({**s, "seed": rec.seed})
    return {**out, **widgets, "text": s.get("text", rec.prompt), "voice": ref, "tabs": gr.Tabs(selected="studio"),
            "status": f"Settings of that generation restored (seed {rec.seed})."}


def star_result(studio: Studio, owner: str, results: Optional[dict], index: int = 0) -> dict[str, Any]:
    """Star (or unstar) the generation of Results' card ``index``; it is marked ★ in History."""
    gen_id, _ = result_ref(results, index)
    rec = studio.library.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is no longer in your history.")
    studio.library.toggle_star(owner, rec)
    recs = studio.library.history(owner)
    return {"status": "★ Starred: find it under Starred only in History." if not rec.starred else "Star removed.",
            "history_table": history_rows(recs), "history_ids": [r.id for r in recs]}


def reuse_result(studio: Studio, owner: str, results: Optional[dict], index: int = 0) -> dict[str, Any]:
    """"Reuse settings" on Results' card ``index``: its generation's prompt, voice and settings (a retake's seed)."""
    return reuse(studio, owner, result_ref(results, index)[0])


def save_take_as_voice(studio: Studio, owner: str, results: Optional[dict], index: int, f_language: str = "All",
                       f_gender: str = "Any", f_version: str = "v2", f_query: str = "") -> dict[str, Any]:
    """"Save as voice" on Results' card ``index`` (the generation and take it shows)."""
    gen_id, take = result_ref(results, index)
    return save_history_take_as_voice(studio, owner, gen_id, take, f_language, f_gender, f_version, f_query)


def save_history_take_as_voice(studio: Studio, owner: str, gen_id: Optional[str], index: int, f_language: str = "All",
                               f_gender: str = "Any", f_version: str = "v2", f_query: str = "") -> dict[str, Any]:
    """Save take ``index`` of a generation as one of the owner's voices and select it."""
    rec = studio.library.generation(owner, gen_id)
    if rec is None or index >= len(rec.takes):
        raise ValueError("That take is no longer in your history.")
    src = rec.takes[index].wav.with_suffix(".npz")
    if not src.is_file():
        raise ValueError("That take is too short to be used as a voice; pick a longer take.")
    name = f"{short(rec.prompt, 40)} (take {index + 1})"
    try:
        v = studio.voices.add(owner, name, load_voice_npz(src), f"generation:{gen_id}:{index}")
    except ValueError as e:
        raise ValueError(f"Could not save the voice: {e}") from None
    gr.Info(f"Saved take {index + 1} as a voice. It is selected now, under ★ in the voice list.")
    ref = user_ref(v.id)
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            "status": f"✓ Take {index + 1} saved as the voice “{plain(v.name)}”.",
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query)}
