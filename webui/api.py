"""The API for scripts (gradio_client): ``/generate``, ``/history``, ``/clone`` and ``/export``.

``/generate``'s keyword parameters are the settings table's (``bark_core.settings``), with the
table's defaults, and ``preset`` (a named settings set: ``webui.preset_store``). Each caller's history is its
own: a gradio_client ``Client`` keeps its own owner cookie (``webui.http_guard``). A caller without one has
no history: its takes are returned but never stored, written among the prepared downloads
(``webui.exports``), which are swept after a few minutes.
"""

from __future__ import annotations

import datetime as _dt
import math
import secrets
import time
from types import SimpleNamespace
from typing import Any, Iterator, Optional

import gradio as gr

import bark_core
from bark_core import GenerationCancelled, Progress, SegmentDone, contract, settings as table

from .job_runner import session_key, user_error
from .library import HISTORY_LIMIT
from .store import TakeRecord, storage_error, write_wav_atomic
from .studio import Studio
from .timeline_import import import_long_form
from .http_guard import owner_from_request
from .preset_store import PresetStore, with_preset
from .voice_book import MAX_CLONE_BYTES, ref_from_text, user_ref

API_SETTINGS = [s for s in table.SETTINGS if s.api]


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
    Stopping the job stops the engine."""
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

    def show(event: Progress | SegmentDone) -> Optional[dict]:
        nonlocal last
        if isinstance(event, Progress) and time.monotonic() - last > 1.0:
            last = time.monotonic()
            return {}  # a chance for Gradio to cancel the job: closing this generator stops the engine
        return None

    with studio.runner.job(key) as job:
        try:
            gen = yield from contract.follow(job.stream(req, owner=owner or ""), show)
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


def api_components() -> dict[str, Any]:
    """Hidden input components of /generate, one per API setting (built inside the Blocks)."""
    comps: dict[str, Any] = {"text": gr.Textbox(), "voice": gr.Textbox("")}
    for s in API_SETTINGS:
        # No precision on numbers: Gradio's rounding fails on NaN/inf without a message; the table explains.
        comps[s.name] = gr.Checkbox(s.default) if s.kind is bool else gr.Number(s.default)
    comps["preset"] = gr.Textbox("")  # last, so positional callers of the settings are not shifted
    return comps
