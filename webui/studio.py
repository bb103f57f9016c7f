"""The state and behaviour behind the studio's UI, without its layout: voices, requests, runs, saving.

``Studio`` turns what the browser sends into a ``GenerationRequest`` (every bad value a sentence,
raised as ``gr.Error``), runs it on the shared engine and stores the result for its owner.
"""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr

from .engine_holder import EngineHolder
from .jobs import CancelRegistry
from .runner import stream_generation
from .store import GenerationRecord, Store

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
# Longest prompt accepted at once: about five minutes of speech (~16 characters a second), split into
# ~20 segments. Much longer text would hold the one shared engine for a long time, and splitting
# 100 000 characters alone takes seconds, so it is refused with a sentence instead.
MAX_TEXT_CHARS = 5000

PREVIEW_TEXT = {
    "en": "Hi! This is what my voice sounds like.",
    "de": "Hallo! So klingt meine Stimme.",
    "es": "¡Hola! Así suena mi voz.",
    "fr": "Bonjour ! Voici à quoi ressemble ma voix.",
    "hi": "नमस्ते! मेरी आवाज़ ऐसी सुनाई देती है।",
    "it": "Ciao! Ecco come suona la mia voce.",
    "ja": "こんにちは！これが私の声です。",
    "ko": "안녕하세요! 제 목소리는 이렇습니다.",
    "pl": "Cześć! Tak brzmi mój głos.",
    "pt": "Olá! É assim que a minha voz soa.",
    "ru": "Привет! Вот так звучит мой голос.",
    "tr": "Merhaba! Sesim böyle duyuluyor.",
    "zh": "你好！这就是我的声音。",
}
PREVIEW_MAX_SECONDS = 5.0
NO_VOICE = ""


def preset_catalog_or_empty(engine: Any) -> list[Any]:
    if engine is not None:
        try:
            return list(engine.presets())
        except Exception:
            log.exception("engine.presets() failed")
    try:
        from bark_core.voices import preset_catalog

        return list(preset_catalog())
    except Exception:
        log.exception("preset catalog unavailable")
        return []


def _preset_label(p: Any) -> str:
    if p.name == "announcer":
        return "Announcer (English, v1)"
    n = p.name.rsplit("_", 1)[-1]
    gender = {"male": "♂ male", "female": "♀ female"}.get(p.gender, "")
    return " · ".join(x for x in (f"{p.language_name} {n}", gender, p.version) if x)


def _echo(value: str, n: int = 60) -> str:
    """A user's string quoted back in a message: printable and short."""
    text = "".join(ch if ch.isprintable() else "�" for ch in str(value))
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _none_if(value: Any, off: Any) -> Any:
    if value is None:
        return None
    try:
        if float(value) == float(off):
            return None
    except (TypeError, ValueError):
        return value
    return value


def _as_int(value: Any, what: str) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a whole number.") from None
    if not math.isfinite(f) or f != int(f):
        raise gr.Error(f"{what} must be a whole number.")
    return int(f)


def _as_float(value: Any, what: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number.") from None
    return f


def text_too_long(text: str, limit: int) -> Optional[str]:
    if text is not None and len(text) > limit:
        return (f"The text is {len(text):,} characters long; the studio takes at most {limit:,} at a time "
                f"(about {limit // 16 // 60} minutes of audio). Split it into parts and generate them one by one.")
    return None


def storage_error(e: OSError) -> gr.Error:
    """A failed write to the data directory (disk full, read-only, missing folder) as a sentence."""
    log.error("could not write to the data directory", exc_info=e)
    reason = e.strerror or type(e).__name__
    return gr.Error(f"Could not save to the studio's data folder ({reason}). The disk may be full or the folder "
                    "read-only; free some space or start the studio with a writable --data-dir. Nothing was saved.")


def user_error(e: BaseException) -> gr.Error:
    """What the browser sees for a failed generation: our sentence, never a traceback."""
    if type(e).__name__ == "GPUOutOfMemory":
        return gr.Error(f"{e} In the studio: Models & memory → Small or Stage-by-stage offload, or fewer Takes.")
    if isinstance(e, ValueError):
        return gr.Error(str(e))
    log.error("generation failed", exc_info=e)
    return gr.Error(f"Generation failed ({type(e).__name__}). The server log has the details.")


class Studio:
    """The state and behaviour behind the UI; Gradio callbacks are its methods."""

    def __init__(self, holder: EngineHolder, store: Store, *, allow_model_changes: bool = True,
                 request_defaults: Optional[dict[str, Any]] = None,
                 gpu_wrap: Optional[Callable[[Callable], Callable]] = None, max_text_chars: int = MAX_TEXT_CHARS):
        self.holder = holder
        self.max_text_chars = int(max_text_chars)
        self.store = store
        self.cancels = CancelRegistry()
        self.allow_model_changes = allow_model_changes
        self.request_defaults = dict(request_defaults or {})
        self._stream = gpu_wrap(stream_generation) if gpu_wrap else stream_generation
        self.catalog = preset_catalog_or_empty(holder.engine)
        self.catalog_by_name = {p.name: p for p in self.catalog}

    # -- engine access ----------------------------------------------------------------
    def engine(self) -> Any:
        if self.holder.engine is None:
            raise gr.Error("The model is not loaded yet. Open the setup panel at the top to download or load it.")
        return self.holder.engine

    # -- voices -----------------------------------------------------------------------
    def voice_label(self, owner: str, ref: str) -> str:
        if not ref:
            return "No voice (a random speaker each time)"
        kind, _, key = ref.partition(":")
        if kind == "preset":
            p = self.catalog_by_name.get(key)
            return _preset_label(p) if p else key
        if kind == "user" and owner:
            v = self.store.get_voice(owner, key)
            return f"My voice: {v.name}" if v else "(deleted voice)"
        return ref

    def resolve_voice(self, owner: str, ref: str) -> Any:
        if not ref:
            return None
        kind, _, key = ref.partition(":")
        engine = self.engine()
        try:
            if kind == "preset":
                if key not in self.catalog_by_name:
                    raise ValueError(f"Unknown voice preset {_echo(key)}. Pick one from the voice list "
                                     "(e.g. v2/en_speaker_6), or leave it empty for a random speaker.")
                return engine.load_voice(key)
            if kind == "user":
                v = self.store.get_voice(owner, key) if owner else None
                if v is None:
                    raise ValueError("That voice no longer exists; pick another one.")
                from bark_core.voices import load_voice_npz

                return load_voice_npz(v.path, name=v.name)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        raise gr.Error(f"Unknown voice {_echo(ref)}.")

    def voice_choices(self, owner: str, language: str, gender: str, version: str, query: str) -> list[tuple[str, str]]:
        choices: list[tuple[str, str]] = [("No voice (random speaker)", NO_VOICE)]
        if owner:
            choices += [(f"★ {v.name}", f"user:{v.id}") for v in self.store.list_voices(owner)]
        q = (query or "").strip().lower()
        for p in self.catalog:
            if p.name == "announcer":
                if version != "v1" and language not in ("All", p.language_name):
                    continue
            else:
                if p.version != version:
                    continue
                if language != "All" and p.language_name != language:
                    continue
            if gender != "Any" and p.gender != gender.lower():
                continue
            if q and q not in f"{p.name} {p.description} {p.language_name}".lower():
                continue
            choices.append((_preset_label(p), f"preset:{p.name}"))
        return choices

    def voice_details(self, owner: str, ref: str) -> str:
        label = html.escape(self.voice_label(owner, ref))
        if not ref:
            return f"**Selected voice:** {label}"
        kind, _, key = ref.partition(":")
        if kind == "preset" and key in self.catalog_by_name:
            p = self.catalog_by_name[key]
            return f"**Selected voice:** {label}  \n<span class='muted'>`{p.name}` — {html.escape(p.description)}</span>"
        return f"**Selected voice:** {label}"

    # -- requests ---------------------------------------------------------------------
    def make_request(self, text: str, voice: Any, *, semantic_temp: Any = 0.7, coarse_temp: Any = 0.7,
                     fine_temp: Any = 0.5, top_k: Any = None, top_p: Any = None, min_eos_p: Any = 0.2,
                     seed: Any = None, takes: Any = 1, segment_pause_s: Any = 0.25, early_stop: bool = True,
                     max_seconds: Any = None) -> Any:
        from bark_core.types import GenerationRequest

        too_long = text_too_long(text, self.max_text_chars)
        if too_long:
            raise gr.Error(too_long)
        n_takes = _as_int(takes, "Takes")
        kwargs = dict(
            text=text or "",
            voice=voice,
            semantic_temp=_as_float(semantic_temp, "Semantic temperature", 0.7),
            coarse_temp=_as_float(coarse_temp, "Coarse temperature", 0.7),
            fine_temp=_as_float(fine_temp, "Fine temperature", 0.5),
            top_k=_none_if(_as_int(top_k, "Top-k"), 0),
            top_p=_none_if(None if top_p in (None, "") else _as_float(top_p, "Top-p", 1.0), 1.0),
            min_eos_p=_as_float(min_eos_p, "Min EOS probability", 0.2),
            seed=_as_int(seed, "Seed"),
            takes=1 if n_takes is None else n_takes,
            segment_pause_s=_as_float(segment_pause_s, "Pause between segments", 0.25),
            early_stop=bool(early_stop),
            max_seconds=_none_if(None if max_seconds in (None, "") else _as_float(max_seconds, "Max seconds", 0), 0),
        )
        for k, v in self.request_defaults.items():
            if kwargs.get(k) is None:
                kwargs[k] = v
        req = GenerationRequest(**kwargs)
        try:
            req.validate()
        except ValueError as e:
            raise gr.Error(str(e)) from None
        return req

    @staticmethod
    def settings_of(req: Any, voice_ref: str) -> dict[str, Any]:
        return dict(text=req.text, voice=voice_ref, semantic_temp=req.semantic_temp, coarse_temp=req.coarse_temp,
                    fine_temp=req.fine_temp, top_k=req.top_k, top_p=req.top_p, min_eos_p=req.min_eos_p,
                    seed=req.seed, takes=req.takes, segment_pause_s=req.segment_pause_s,
                    early_stop=req.early_stop, max_seconds=req.max_seconds)

    def run_blocking(self, req: Any, should_stop: Callable[[], bool]) -> Any:
        """Run to completion (API path); raise gr.Error on bad input, cancellation or failure."""
        from bark_core.types import GenerationCancelled

        for kind, payload in self._stream(self.engine(), req, should_stop):
            if kind == "done":
                return payload
            if kind == "error":
                if isinstance(payload, GenerationCancelled):
                    raise gr.Error("Generation stopped; nothing was saved.")
                raise user_error(payload)
        raise gr.Error("Generation ended without a result.")

    def save_generation(self, owner: str, req: Any, voice_ref: str, gen: Any) -> GenerationRecord:
        """Store a finished generation; raise gr.Error (nothing stored) when the data folder cannot be written."""
        from bark_core.voices import save_voice

        def save_take_voice(voice: Any, path: Path) -> None:
            # A very short take (a few semantic tokens) is not a usable voice by Bark's own rule; keep its
            # audio anyway: "Save as voice" will say so for that take instead of the generation being lost.
            try:
                save_voice(voice, path)
            except ValueError as e:
                log.info("take not saved as a voice: %s", e)

        try:
            return self._add_generation(owner, req, voice_ref, gen, save_take_voice)
        except OSError as e:
            raise storage_error(e) from None

    def _add_generation(self, owner: str, req: Any, voice_ref: str, gen: Any, save_voice: Any) -> GenerationRecord:
        rec = self.store.add_generation(
            owner, prompt=req.text, voice=voice_ref, voice_label=self.voice_label(owner, voice_ref),
            settings={**self.settings_of(req, voice_ref), "seed": int(gen.seed)}, seed=int(gen.seed),
            audios=[t.audio for t in gen.takes], sample_rate=getattr(gen, "sample_rate", SAMPLE_RATE),
            timings={k: round(float(v), 3) for k, v in gen.timings.items()}, warnings=list(gen.warnings),
            take_voices=[t.voice for t in gen.takes], save_voice_fn=save_voice,
        )
        return rec

    # -- previews ---------------------------------------------------------------------
    def preview(self, owner: str, ref: str, should_stop: Callable[[], bool]) -> Optional[str]:
        if not ref:
            raise gr.Error("“No voice” picks a random speaker each time, so it has no preview.")
        kind, _, key = ref.partition(":")
        cache_key = f"preset-{key}" if kind == "preset" else f"user-{key}"
        path = self.store.preview_path(cache_key)
        if path.is_file():
            return str(path)
        voice = self.resolve_voice(owner, ref)
        lang = self.catalog_by_name[key].language if kind == "preset" and key in self.catalog_by_name else "en"
        req = self.make_request(PREVIEW_TEXT.get(lang, PREVIEW_TEXT["en"]), voice, seed=0,
                                max_seconds=PREVIEW_MAX_SECONDS)
        gen = self.run_blocking(req, should_stop)
        from .store import write_wav_atomic

        try:
            write_wav_atomic(path, gen.takes[0].audio, getattr(gen, "sample_rate", SAMPLE_RATE))
        except OSError as e:
            raise storage_error(e) from None
        return str(path)
