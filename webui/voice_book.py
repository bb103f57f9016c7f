"""The voice book: which voices there are (the preset catalog and each owner's own), their labels and previews.

A voice reference is how the UI and the API name a voice: ``preset:v2/en_speaker_6`` (a catalog preset),
``user:<id>`` (one of the owner's voices) or ``""`` (no voice: a random speaker). This module is the one
place that builds and reads that format (``preset_ref``, ``user_ref``, ``split_ref``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Callable, Optional

from bark_core import (CloneSettings, PresetInfo, Voice, VoiceCloner, WeightsNotFound, load_voice_npz,
                       preset_catalog, save_voice)

from .engine_holder import EngineHolder
from .job_runner import JobRunner
from .quotas import Quotas
from .request_builder import RequestBuilder
from .store import Store, VoiceRecord, owner_key, storage_error, write_wav_atomic

log = logging.getLogger(__name__)

NO_VOICE = ""
PRESET, USER = "preset", "user"
MAX_CLONE_BYTES = 32 * 1024 * 1024  # a recording to clone from, uploaded to the studio or /clone

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


def preset_ref(name: str) -> str:
    """The reference of a catalog preset, e.g. ``preset:v2/en_speaker_6``."""
    return f"{PRESET}:{name}"


def user_ref(voice_id: str) -> str:
    """The reference of one of an owner's voices: ``user:<id>``."""
    return f"{USER}:{voice_id}"


def split_ref(ref: Any) -> tuple[str, str]:
    """``(PRESET, name)``, ``(USER, voice id)``, or ``("", ref)`` for no voice or anything else."""
    kind, sep, key = str(ref or "").partition(":")
    return (kind, key) if sep and kind in (PRESET, USER) else ("", str(ref or ""))


def user_voice_id(ref: Any) -> Optional[str]:
    """The voice id of a ``user:`` reference; None for a preset, no voice or anything else."""
    kind, key = split_ref(ref)
    return key if kind == USER else None


def ref_from_text(voice: Any) -> str:
    """What an API caller or a dialogue line names a voice with (``v2/en_speaker_6``, or a reference) as a reference."""
    v = str(voice or "").strip()
    if not v:
        return NO_VOICE
    return v if split_ref(v)[0] else preset_ref(v)


def preset_label(p: PresetInfo) -> str:
    if p.name == "announcer":
        return "Announcer (English, v1)"
    n = p.name.rsplit("_", 1)[-1]
    gender = {"male": "♂ male", "female": "♀ female"}.get(p.gender, "")
    return " · ".join(x for x in (f"{p.language_name} {n}", gender, p.version) if x)


def preset_search_text(p: PresetInfo) -> str:
    """What voice search matches for a preset: its name, label, language, gender, version and notes."""
    return f"{p.name} {preset_label(p)} {p.language_name} {p.gender} {p.version} {p.description}".lower()


def echo(value: Any, n: int = 60) -> str:
    """A user's string quoted back in a message: printable and short."""
    text = "".join(ch if ch.isprintable() else "�" for ch in str(value))
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _read_catalog(engine: Any) -> list[PresetInfo]:
    try:
        return list(engine.presets()) if engine is not None else list(preset_catalog())
    except Exception:
        log.exception("preset catalog unavailable")
        return []


class VoiceBook:
    """The preset catalog and each owner's voices: references to labels, voices and previews; add, rename, trash."""

    def __init__(self, holder: EngineHolder, store: Store, quotas: Quotas, requests: RequestBuilder,
                 runner: JobRunner, forget_files: Callable[[list[Path]], None]):
        self._holder, self._store, self._quotas = holder, store, quotas
        self._requests, self._runner, self._forget_files = requests, runner, forget_files
        self._cloner: Optional[tuple[Any, Any]] = None  # (engine, cloner)
        self._catalog: list[PresetInfo] = []
        self._by_name: dict[str, PresetInfo] = {}
        self.refresh_catalog()

    # -- the catalog ------------------------------------------------------------------
    def refresh_catalog(self) -> None:
        """Re-read the preset catalog (after a model load)."""
        self._catalog = _read_catalog(self._holder.engine)
        self._by_name = {p.name: p for p in self._catalog}

    def languages(self) -> list[str]:
        return sorted({p.language_name for p in self._catalog})

    def preset(self, ref: Any) -> Optional[PresetInfo]:
        """The catalog entry a ``preset:`` reference names (None for anything else)."""
        kind, key = split_ref(ref)
        return self._by_name.get(key) if kind == PRESET else None

    # -- references -------------------------------------------------------------------
    def own(self, owner: str, ref: Any) -> Optional[VoiceRecord]:
        """The owner's voice a ``user:`` reference names (None for presets, deleted or other owners' voices)."""
        voice_id = user_voice_id(ref)
        return self._store.get_voice(owner, voice_id) if owner and voice_id is not None else None

    def deleted(self, owner: str, ref: Any) -> bool:
        """Whether ``ref`` names one of the owner's voices that no longer exists."""
        return user_voice_id(ref) is not None and self.own(owner, ref) is None

    def usable(self, owner: str, ref: Any) -> bool:
        """Whether ``ref`` names a catalog preset or one of the owner's voices."""
        return self.preset(ref) is not None or self.own(owner, ref) is not None

    def label(self, owner: str, ref: str) -> str:
        if not ref:
            return "No voice (a random speaker each time)"
        kind, key = split_ref(ref)
        if kind == PRESET:
            p = self._by_name.get(key)
            return preset_label(p) if p else key
        if kind == USER and owner:
            v = self._store.get_voice(owner, key)
            return f"My voice: {v.name}" if v else "(deleted voice)"
        return ref

    def resolve(self, owner: str, ref: str) -> Optional[Voice]:
        if not ref:
            return None
        kind, key = split_ref(ref)
        engine = self._runner.engine()
        if kind == PRESET:
            if key not in self._by_name:
                raise ValueError(f"Unknown voice preset {echo(key)}. Pick one from the voice list "
                                 "(e.g. v2/en_speaker_6), or leave it empty for a random speaker.")
            return engine.load_voice(key)
        if kind == USER:
            v = self._store.get_voice(owner, key) if owner else None
            if v is None:
                raise ValueError("That voice no longer exists; pick another one.")
            return load_voice_npz(v.path, name=v.name)
        raise ValueError(f"Unknown voice {echo(ref)}.")

    def choices(self, owner: str, language: str, gender: str, version: str, query: str) -> list[tuple[str, str]]:
        """The voice list for these filters: no voice, the owner's voices, then matching presets."""
        q = (query or "").strip().lower()
        choices: list[tuple[str, str]] = [("No voice (random speaker)", NO_VOICE)]
        if owner:
            choices += [(f"★ {v.name}", user_ref(v.id)) for v in self._store.list_voices(owner)
                        if not q or q in v.name.lower()]
        for p in self._catalog:
            if p.version != version:
                continue
            if language not in ("All", p.language_name):
                continue
            if gender != "Any" and p.gender != gender.lower():
                continue
            if q and q not in preset_search_text(p):
                continue
            choices.append((preset_label(p), preset_ref(p.name)))
        return choices

    # -- the owner's voices -----------------------------------------------------------
    def list_own(self, owner: str) -> list[VoiceRecord]:
        return self._store.list_voices(owner) if owner else []

    def add(self, owner: str, name: str, voice: Voice, source: str) -> VoiceRecord:
        self._quotas.check_voices(owner)
        try:
            return self._store.add_voice(owner, self.unique_name(owner, name), voice, source, save_voice)
        except OSError as e:
            raise storage_error(e) from None

    def unique_name(self, owner: str, name: str) -> str:
        """``name``, or ``name (2)``, ``name (3)``… so two voices of one owner can be told apart."""
        taken = {v.name for v in self._store.list_voices(owner)}
        base = " ".join(str(name or "").split()) or "My voice"
        if base not in taken:
            return base
        n = 2
        while f"{base} ({n})" in taken:
            n += 1
        return f"{base} ({n})"

    def rename(self, owner: str, ref: str, new_name: str) -> bool:
        """Rename the owner's voice ``ref``; False when it no longer exists."""
        return self._store.rename_voice(owner or "", user_voice_id(ref) or "", new_name)

    def trash(self, owner: str, voice_id: str) -> bool:
        """Delete one of the owner's voices with Undo (see ``Library.trash_generation``); its served preview goes at once."""
        if not owner or self._store.get_voice(owner, voice_id) is None:
            return False
        preview = self._store.preview_path(f"user-{self._preview_key(owner, voice_id)}")
        self._forget_files([preview])
        preview.unlink(missing_ok=True)
        done = self._store.trash_voice(owner, voice_id)
        self._store.purge_deleted()
        return done

    def restore(self, owner: str, voice_id: Optional[str]) -> bool:
        return bool(owner and voice_id) and self._store.restore_voice(owner, str(voice_id))

    # -- cloning and previews ---------------------------------------------------------
    def cloner(self) -> Any:
        """The voice cloner for the current engine (HuBERT + quantizer + the engine's codec), loaded on first use."""
        engine = self._runner.engine()
        if self._cloner is None or self._cloner[0] is not engine:
            try:
                self._cloner = (engine, VoiceCloner.load(CloneSettings.from_engine(engine), codec=engine.codec))
            except WeightsNotFound as e:
                raise ValueError(str(e)) from None
        return self._cloner[1]

    def preview(self, owner: str, ref: str, should_stop: Callable[[], bool]) -> str:
        """A short sample of a voice (cached per voice); its file path."""
        if not ref:
            raise ValueError("“No voice” picks a random speaker each time, so it has no preview.")
        kind, key = split_ref(ref)
        cache_key = f"preset-{key}" if kind == PRESET else f"user-{self._preview_key(owner, key)}"
        path = self._store.preview_path(cache_key)
        if path.is_file():
            return str(path)
        voice = self.resolve(owner, ref)
        preset = self.preset(ref)
        lang = preset.language if preset else "en"
        req = self._requests.make(PREVIEW_TEXT.get(lang, PREVIEW_TEXT["en"]), voice,
                                  {"seed": 0, "max_seconds": PREVIEW_MAX_SECONDS})
        gen = self._runner.run_blocking(req, should_stop, owner)
        try:
            write_wav_atomic(path, gen.takes[0].audio, gen.sample_rate)
        except OSError as e:
            raise storage_error(e) from None
        return str(path)

    @staticmethod
    def _preview_key(owner: str, voice_id: str) -> str:
        """A preview file name for a user's voice that cannot be guessed from the voice id alone."""
        return hashlib.sha256(f"{owner_key(owner)}:{voice_id}".encode()).hexdigest()[:32]


__all__ = ["MAX_CLONE_BYTES", "NO_VOICE", "VoiceBook", "echo", "preset_label", "preset_ref", "ref_from_text",
           "split_ref", "user_ref", "user_voice_id"]
