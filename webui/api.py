"""The API for scripts (gradio_client): ``/generate``, ``/history``, ``/clone`` and ``/export``.

It is laid out and wired like a tab (``layout(page)``, ``wire(page)``: ``webui.page``), only hidden.

``/generate``'s keyword parameters are the settings table's (``bark_core.settings``), with the
table's defaults, and ``preset`` (a named settings set: ``webui.preset_store``). It streams: with
``live_preview`` each Preview event is an intermediate output (``preview_output``), the final
(files, scores) the last one, so ``predict()`` returns what it always did. Each caller's history is its
own: a gradio_client ``Client`` keeps its own owner cookie (``webui.http_guard``). A caller without one has
no history: its takes are returned but never stored, written among the prepared downloads
(``webui.exports``), which are swept after a few minutes.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import secrets
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Optional

import gradio as gr

import bark_core
from bark_core import GenerationCancelled, Preview, Progress, SegmentDone, contract, settings as table
from bark_core.constants import SAMPLE_RATE

from .job_runner import session_key, user_error
from .library import HISTORY_LIMIT
from .store import TakeRecord, storage_error, write_wav_atomic
from .studio import Studio
from .timeline_import import import_long_form
from .http_guard import owner_from_request
from .preset_store import PresetStore, with_preset
from .page import ENGINE, QUICK, Page
from .voice_book import MAX_CLONE_BYTES, ref_from_text, user_ref
from .wiring import bind

API_SETTINGS = [s for s in table.SETTINGS if s.api]
API_ENDPOINTS = ("generate", "history", "clone", "export")  # the documented endpoints; every other event is private
log = logging.getLogger(__name__)


def api_owner(request: Optional[gr.Request]) -> Optional[str]:
    """The client's own owner (its bark_owner cookie: each gradio_client.Client keeps its own), or None."""
    return owner_from_request(request)


def take_scores(rec: Any) -> list[dict[str, Any]]:
    """Each take of a stored generation as JSON: its file (name and index in the files list), seed and check."""
    out = []
    for i, t in enumerate(rec.takes):
        s = t.scores or {}
        out.append({"file": t.wav.name, "file_index": i, "seed": t.seed if t.seed is not None else rec.seed,
                    "seconds": t.seconds, "on_script": s.get("on_script"),
                    "speaker_similarity": s.get("speaker_similarity"), "issues": list(s.get("issues") or []),
                    "passed": s.get("passed"),
                    # each check that could not run -> why, e.g. {"same_voice": "the speaker encoder ... not installed"}
                    "not_checked": dict(s.get("not_checked") or {})})
    return out


def api_generate(studio: Studio, text: str, voice: str, request: gr.Request, presets: Optional[PresetStore] = None,
                 preset: str = "", **values: Any) -> Iterator[dict]:
    """Generate audio. Returns (files, scores): a list of WAV files, one per take (24 kHz mono), and a JSON list
    with each take's file, seed, on_script, speaker_similarity, issues, passed and not_checked (each check
    that could not run, and why). ``preset`` names a settings preset (narration, expressive, singing,
    sound_effects or one of your own); settings you pass with other than their default values override it.
    Stopping the job stops the engine.

    While it runs, with ``live_preview`` (on by default), it streams rough previews first (``submit()``
    sees them): (files, {"preview": {...}}), each take's audio so far as a WAV (``preview_output``);
    the final (files, scores) always comes last, the same with previews on or off."""
    owner = api_owner(request)  # None without a cookie: nothing is stored (``unsaved_takes``)
    if str(preset or "").strip():
        values = with_preset((presets or PresetStore(None)).find(owner, preset), values)
    ref = ref_from_text(voice)
    req = studio.requests.make(text, studio.voices.resolve(owner, ref), values)
    if owner:
        studio.quotas.check_history(owner)  # before the work, not after it
    key = session_key(request) or owner or f"once:{secrets.token_urlsafe(16)}"  # this job's own Stop flag
    studio.runner.arm(key)
    last = time.monotonic()
    previews = PreviewFiles(studio)

    def show(event: Progress | SegmentDone | Preview) -> Optional[dict]:
        nonlocal last
        if isinstance(event, Preview):
            last = time.monotonic()
            return preview_output(previews, event)
        if isinstance(event, Progress) and time.monotonic() - last > 1.0:
            last = time.monotonic()
            return {}  # a chance for Gradio to cancel the job: closing this generator stops the engine
        return None

    with studio.runner.job(key) as job:
        try:
            events = job.stream(req, previews=req.live_preview, owner=owner or "")
            gen = yield from contract.follow(events, show)
        except GenerationCancelled:
            raise ValueError("Generation stopped; nothing was saved.") from None
        except Exception as e:
            raise user_error(e) from None
        scores = studio.checks.score_takes(req, ref, gen)
        if owner is None:
            yield unsaved_takes(studio, gen, scores)
            return
        rec = studio.library.save_generation(owner, req, ref, gen, scores)
        import_long_form(studio, owner, rec.id, req, gen, score=False)  # open long-form takes as timelines
        yield {"files": [str(t.wav) for t in rec.takes], "scores": take_scores(rec)}


class PreviewFiles:
    """One /generate job's preview WAVs, in a prepared-downloads folder of its own (``webui.exports``: swept
    with Gradio's copies a few minutes later). Each preview is a new file per take (``take1-preview3.wav``):
    a file already sent is never rewritten under a client that may still be fetching it."""

    def __init__(self, studio: Studio):
        self.studio = studio
        self.folder: Optional[Path] = None
        self.count = 0

    def write(self, per_take: list) -> Optional[list[str]]:
        """Each take's audio so far as a WAV; None when it could not be written (the job goes on without it)."""
        try:
            if self.folder is None:
                self.folder = self.studio.library.exports.folder()
            self.count += 1
            paths = []
            for i, audio in enumerate(per_take):
                path = self.folder / f"take{i + 1}-preview{self.count}.wav"
                write_wav_atomic(path, audio, SAMPLE_RATE)
                paths.append(str(path))
            return paths
        except OSError as e:
            log.warning("a /generate preview could not be written: %s", type(e).__name__)
            return None


def preview_output(files: PreviewFiles, event: Preview) -> Optional[dict]:
    """A Preview event as /generate's intermediate output: each take's rough audio so far as a WAV, and in place
    of the scores ``{"preview": {"segment": 1, "segments": 2, "seconds": [...]}}`` (the final scores are a list)."""
    paths = files.write(event.audio)
    if paths is None:
        return {}
    info = {"segment": event.index + 1, "segments": event.segments,
            "seconds": [round(len(a) / SAMPLE_RATE, 3) for a in event.audio]}
    return {"files": paths, "scores": {"preview": info}}


def unsaved_takes(studio: Studio, gen: Any, scores: list[Optional[dict[str, Any]]]) -> dict:
    """A cookieless caller's takes as /generate's answer, never stored: WAV files among the prepared downloads
    (swept with them, ``Limits.export_keep_s``), in the same form as a stored generation's."""
    try:
        folder = studio.library.exports.folder()
        rate = gen.sample_rate
        records = []
        for i, take in enumerate(gen.takes):
            path = folder / f"take{i + 1}.wav"
            write_wav_atomic(path, take.audio, rate)
            records.append(TakeRecord(path, round(len(take.audio) / rate, 3), scores[i] if scores else None,
                                      take.seed))
    except OSError as e:
        raise storage_error(e) from None
    rec = SimpleNamespace(takes=records, seed=gen.seed)
    return {"files": [str(t.wav) for t in records], "scores": take_scores(rec)}


def history_limit(limit: Any) -> int:
    """The number of rows asked for, clamped to 1..HISTORY_LIMIT; ValueError when it is not a number."""
    try:
        n = math.nan if isinstance(limit, bool) else float(20 if limit is None or limit == "" else limit)
    except (TypeError, ValueError):
        n = math.nan
    if not math.isfinite(n):
        raise ValueError(f"The history limit must be a whole number from 1 to {HISTORY_LIMIT}.")
    return int(min(max(n, 1), HISTORY_LIMIT))


def api_history(studio: Studio, limit: Any, request: gr.Request) -> dict:
    """The caller's own history, newest first: rows (JSON) and their audio files (flattened, in row order)."""
    n = history_limit(limit)
    owner = api_owner(request)
    recs = studio.library.history(owner, limit=n) if owner else []
    rows, files = [], []
    for r in recs:
        rows.append(dict(id=r.id, created=_dt.datetime.fromtimestamp(r.created).isoformat(timespec="seconds"),
                         prompt=r.prompt, voice=r.voice, settings=r.settings, seed=r.seed, starred=r.starred,
                         timings=r.timings, warnings=r.warnings,
                         takes=[dict(seconds=t.seconds, file_index=len(files) + i, scores=t.scores,
                                     seed=t.seed if t.seed is not None else r.seed)
                                for i, t in enumerate(r.takes)]))
        files += [str(t.wav) for t in r.takes]
    return {"history": rows, "history_files": files}


EXPORT_DEFAULTS = {"take": 0, "format": "wav", "normalize": None, "trim_silence": False, "fade_ms": 0}


def api_export(studio: Studio, gen_id: str, request: gr.Request, take: Any = 0, format: str = "wav",
               normalize: Any = None, trim_silence: bool = False, fade_ms: Any = 0) -> dict:
    """One take of your history as a file: ``gen_id`` (a /history row's id), ``take`` (0 = the first),
    ``format`` (wav16, wav24, float, flac, ogg, opus, mp3), ``normalize`` (target loudness in LUFS, or None),
    ``trim_silence`` (cut silent edges) and ``fade_ms`` (fade in and out). 24 kHz mono (Opus: 24 kHz too)."""
    owner = api_owner(request)
    if not owner:
        raise ValueError("There is no generation with that id in your history (ids are in /history's rows).")
    return {"export": studio.library.export_take(owner, gen_id, take, format, normalize, trim_silence, fade_ms)}


def api_clone(studio: Studio, audio_file: Any, name: str, request: gr.Request) -> dict:
    """Clone a voice from a recording (WAV, FLAC, OGG or MP3). Returns the voice to pass as ``voice=`` to /generate."""
    path = getattr(audio_file, "path", None) or (audio_file.get("path") if isinstance(audio_file, dict) else audio_file)
    if not path:
        raise ValueError("Send a recording of a few seconds of clear speech.")
    owner = api_owner(request)
    if not owner:
        raise ValueError("Cloning needs a client that keeps cookies (gradio_client.Client does), so the voice "
                         "can be yours.")
    studio.quotas.check_voices(owner)  # before the work, not after it
    bark_core.read_audio(path, max_bytes=MAX_CLONE_BYTES)
    result = studio.voices.cloner().clone_file(path, name=name or "")
    rec = studio.voices.add(owner, (name or "").strip() or "My cloned voice", result.voice, "clone")
    return {"voice": {"voice": user_ref(rec.id), "name": rec.name, "warnings": result.warnings,
                      "window": [round(x, 2) for x in result.window]}}


def layout(page: Page) -> None:
    """The API's inputs and outputs, hidden; ``page["api"]`` holds them by name (apart from the UI's names)."""
    with gr.Group(visible=False):
        a: dict[str, Any] = {"text": gr.Textbox(), "voice": gr.Textbox("")}
        for s in API_SETTINGS:  # /generate: one input per API setting
            # No precision on numbers: Gradio's rounding fails on NaN/inf without a message; the table explains.
            a[s.name] = gr.Checkbox(s.default) if s.kind is bool else gr.Number(s.default)
        a["preset"] = gr.Textbox("")  # last, so positional callers of the settings are not shifted
        a.update(limit=gr.Number(20), files=gr.File(file_count="multiple"), scores=gr.JSON(), history=gr.JSON(),
                 history_files=gr.File(file_count="multiple"), clone_file=gr.File(), clone_name=gr.Textbox(""),
                 clone_result=gr.JSON(), generate_btn=gr.Button(), history_btn=gr.Button(), clone_btn=gr.Button())
        export = {"gen_id": gr.Textbox(""), "take": gr.Number(0), "format": gr.Textbox("wav"),
                  "normalize": gr.Number(None), "trim_silence": gr.Checkbox(False), "fade_ms": gr.Number(0)}
        a.update({f"export_{k}": v for k, v in export.items()})
        a.update(export_file=gr.File(), export_btn=gr.Button())
    page.add("api", a)


def wire(page: Page) -> None:
    """The documented endpoints (``API_ENDPOINTS``); wired before any UI event, so they keep their names."""
    a = page["api"]
    defaults = {"voice": "", **{s.name: s.default for s in API_SETTINGS}, "preset": ""}
    inputs = {k: v for k, v in a.items() if k in ("text", "voice") or k in defaults}
    page.on(a["generate_btn"].click, bind(api_generate, presets=page["presets"]), inputs,
            {"files": a["files"], "scores": a["scores"]}, api=True, defaults=defaults, api_name="generate", **ENGINE)
    page.on(a["history_btn"].click, api_history, {"limit": a["limit"]},
            {"history": a["history"], "history_files": a["history_files"]}, api=True, defaults={"limit": 20},
            api_name="history")
    page.on(a["clone_btn"].click, api_clone, {"audio_file": a["clone_file"], "name": a["clone_name"]},
            {"voice": a["clone_result"]}, api=True, defaults={"name": ""}, api_name="clone", **ENGINE)
    page.on(a["export_btn"].click, api_export, {k: a[f"export_{k}"] for k in ("gen_id", *EXPORT_DEFAULTS)},
            {"export": a["export_file"]}, api=True, defaults=EXPORT_DEFAULTS, api_name="export", **QUICK)
