"""Clone a voice from a recording: pick the window, hear a test sentence in the clone, save it to My voices.

The cloner (HuBERT + quantizer, sharing the engine's codec) is loaded on the first clone and kept
by the Studio; the recording never leaves the server's temp folder.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

import bark_core

from .formatting import plain
from .job_runner import session_key
from .studio import Studio
from .voice_book import MAX_CLONE_BYTES, user_ref
from .voice_list import voice_details, voice_list

TEST_SENTENCE = "Hello! This is my cloned voice. How does it sound?"


def _audio(path: Optional[str]) -> tuple[Any, int]:
    if not path:
        raise ValueError("Upload or record a few seconds of clear speech first.")
    return bark_core.read_audio(path, max_bytes=MAX_CLONE_BYTES)


WAVE_BARS = 240


def waveform_html(audio: Any, sr: int) -> str:
    """The recording as bars (peak per slice) under a window that ``clone_window.js`` lets the user drag."""
    import numpy as np

    x = np.abs(np.asarray(audio, np.float32))
    n = max(1, len(x) // WAVE_BARS)
    peaks = x[: n * (len(x) // n)].reshape(-1, n).max(axis=1) if len(x) >= n else np.zeros(1)
    peaks = peaks / max(float(peaks.max()), 1e-6)
    w = 100.0 / len(peaks)
    bars = "".join(f"<rect x='{i * w:.3f}' y='{50 - 48 * p:.2f}' width='{w * 0.7:.3f}' height='{max(1.0, 96 * p):.2f}'/>"
                   for i, p in enumerate(peaks))
    return (f"<div class='clone-wave' data-duration='{len(audio) / sr:.3f}' title='Drag the window (its right edge "
            f"sets the length), or click where it should start'>"
            f"<svg viewBox='0 0 100 100' preserveAspectRatio='none' aria-hidden='true'>{bars}</svg>"
            f"<div class='clone-window'><div class='clone-window-edge'></div></div></div>")


def _forget_previous(msg: str) -> dict[str, Any]:
    """What belonged to the previous recording cleared (window, name, test sentence), and no clone to save."""
    return {"clone_start": None, "clone_seconds": None, "clone_name": "", "clone_preview": None, "clone_msg": msg,
            "clone_wave": "",
            "clone_preview_btn": gr.update(interactive=False), "clone_save_btn": gr.update(interactive=False)}


def inspect_recording(studio: Studio, clone_audio: Optional[str]) -> dict[str, Any]:
    """On upload: the automatic window (up to ~10 s of speech ending at a pause) and what to watch out for.

    A file that cannot be cloned (not audio, too short, only silence) is refused in place with the sentence
    ``/clone`` gives, and what belonged to the previous recording is cleared.
    """
    if not clone_audio:
        return _forget_previous("")
    try:
        audio, sr = _audio(clone_audio)
        start, end = bark_core.pick_window(audio, sr)
        warnings, speech = bark_core.check_recording(audio, sr, (start, end))
    except ValueError as e:
        return _forget_previous(f"⚠ {plain(e)}")
    lines = [f"{len(audio) / sr:.1f} s recording · window {start:.1f}–{end:.1f} s · {speech:.1f} s of speech"]
    lines += [f"⚠ {plain(w)}" for w in warnings]
    return {"clone_start": round(start, 2), "clone_seconds": round(end - start, 2), "clone_msg": "  \n".join(lines),
            "clone_preview": None, "clone_wave": waveform_html(audio, sr), "clone_preview_btn": gr.update(interactive=True),
            "clone_save_btn": gr.update(interactive=True)}


def _clone(studio: Studio, clone_audio: Optional[str], clone_start: Any, clone_seconds: Any, name: str = ""):
    start = float(clone_start) if clone_start not in (None, "") else None
    seconds = float(clone_seconds) if clone_seconds not in (None, "") and float(clone_seconds) > 0 else None
    _audio(clone_audio)  # the same sentences as on upload for a bad file
    return studio.voices.cloner().clone_file(clone_audio, start=start, seconds=seconds, name=name)


def preview_clone(studio: Studio, clone_audio: Optional[str], clone_start: Any, clone_seconds: Any,
                  request: gr.Request) -> dict[str, Any]:
    """Clone and speak a test sentence with it (nothing is saved)."""
    result = _clone(studio, clone_audio, clone_start, clone_seconds)
    key = session_key(request)
    req = studio.requests.make(TEST_SENTENCE, result.voice, {"seed": 0})
    gen = studio.runner.run_blocking(req, studio.runner.should_stop(key), key or "")
    notes = [f"⚠ {plain(w)}" for w in result.warnings]
    return {"clone_preview": (bark_core.SAMPLE_RATE, gen.takes[0].audio),
            "clone_msg": "  \n".join([f"Window {result.window[0]:.1f}–{result.window[1]:.1f} s. "
                                      "This is the clone speaking a test sentence.", *notes])}


def save_clone(studio: Studio, owner: str, clone_audio: Optional[str], clone_start: Any, clone_seconds: Any,
               clone_name: str, f_language: str, f_gender: str, f_version: str, f_query: str) -> dict[str, Any]:
    """Clone and add the voice to the owner's voices; it becomes the selected voice."""
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    name = (clone_name or "").strip() or "My cloned voice"
    studio.quotas.check_voices(owner)  # before the cloning work, not after it
    result = _clone(studio, clone_audio, clone_start, clone_seconds, name)
    rec = studio.voices.add(owner, name, result.voice, "clone")
    ref = user_ref(rec.id)
    gr.Info("Voice saved. It is selected now, under ★ in the voice list.")
    return {"voice": ref, "voice_md": voice_details(studio, owner, ref),
            **voice_list(studio, owner, ref, f_language, f_gender, f_version, f_query),
            "clone_msg": f"✓ Saved as **{plain(rec.name)}** and selected."}
