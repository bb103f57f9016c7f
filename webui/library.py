"""The library: each owner's saved work. History rows (save, list, star, trash and Undo), their downloads
(``Exports``: prepared files, swept after a while) and the timelines made from them (``TimelineStore``)."""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path
from typing import Any, Callable, Optional

import soundfile as sf

from bark_core import Generation, GenerationRequest, export, load_voice_npz, save_voice
from bark_core.audiotools import PostProcess

from .exports import Exports
from .quotas import Quotas
from .request_builder import RequestBuilder
from .store import GenerationRecord, Store, storage_error
from .timeline_store import TimelineStore
from .voice_book import VoiceBook

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200


def _save_take_voice(voice: Any, path: Path) -> None:
    # A very short take (a few semantic tokens) is not a usable voice by Bark's own rule; keep its
    # audio anyway: "Save as voice" will say so for that take instead of the generation being lost.
    try:
        save_voice(voice, path)
    except ValueError as e:
        log.info("take not saved as a voice: %s", e)


class Library:
    """History, exports and timelines of every owner; nothing here reads another owner's rows."""

    def __init__(self, store: Store, quotas: Quotas, voices: VoiceBook, requests: RequestBuilder, exports: Exports,
                 timelines: TimelineStore, forget_files: Callable[[list[Path]], None]):
        self.store, self.exports, self.timelines = store, exports, timelines
        self._quotas, self._voices, self._requests, self._forget_files = quotas, voices, requests, forget_files
        self.forget_purged_timelines()  # rows purged while the studio was not running (the store purges on opening)

    # -- history ----------------------------------------------------------------------
    def save_generation(self, owner: str, req: GenerationRequest, voice_ref: str, gen: Generation,
                        scores: Optional[list[Optional[dict[str, Any]]]] = None) -> GenerationRecord:
        """Store a finished generation; StorageError (nothing stored) when the data folder cannot be written,
        ValueError when the owner's history is full (``Limits.max_history``, ``max_history_mb``)."""
        try:
            self._quotas.check_history(owner)
            return self.store.add_generation(
                owner, prompt=req.text, voice=voice_ref, voice_label=self._voices.label(owner, voice_ref),
                settings={"text": req.text, "voice": voice_ref, **req.settings(), "seed": int(gen.seed)},
                seed=int(gen.seed), audios=[t.audio for t in gen.takes],
                sample_rate=gen.sample_rate,
                timings={k: round(float(v), 3) for k, v in gen.timings.items()}, warnings=list(gen.warnings),
                take_voices=[t.voice for t in gen.takes], save_voice_fn=_save_take_voice, take_scores=scores,
                take_seeds=[int(t.seed) for t in gen.takes],
            )
        except Exception as e:  # OSError, soundfile's LibsndfileError, sqlite3's "database or disk is full"
            if isinstance(e, (OSError, sf.LibsndfileError, sqlite3.OperationalError)):
                raise storage_error(e) from None
            raise

    def history(self, owner: str, starred_only: bool = False, limit: int = HISTORY_LIMIT) -> list[GenerationRecord]:
        return self.store.list_generations(owner, starred_only=starred_only, limit=limit) if owner else []

    def generation(self, owner: str, gen_id: Optional[str]) -> Optional[GenerationRecord]:
        return self.store.get_generation(owner, gen_id) if owner and gen_id else None

    def toggle_star(self, owner: str, rec: GenerationRecord) -> None:
        self.store.set_star(owner, rec.id, not rec.starred)

    def take_again_request(self, owner: str, gen_id: Optional[str], index: int) -> tuple[GenerationRecord,
                                                                                         GenerationRequest]:
        """(row, request) that makes take ``index`` of a history row again, alone: its own seed, one take."""
        rec = self.generation(owner, gen_id)
        if rec is None or not 0 <= index < len(rec.takes):
            raise ValueError("That take is no longer in your history.")
        seed = rec.takes[index].seed
        if seed is None:
            if len(rec.takes) > 1:
                raise ValueError("This take was made before takes had their own seeds, so it cannot be made again "
                                 "alone; use Reuse settings to make the whole batch again.")
            seed = rec.seed
        if self._voices.deleted(owner, rec.voice):
            raise ValueError("The voice of that take was deleted, so it cannot be made again.")
        return rec, self._requests.from_record(rec, self._voices.resolve(owner, rec.voice), seed=int(seed), takes=1)

    # -- exports ----------------------------------------------------------------------
    def export_zip(self, rec: GenerationRecord) -> str:
        """A zip of a history row (audio, voices, settings JSON) as a prepared download (``self.exports``); its path."""
        audios, voices = [], []
        for take in rec.takes:
            audio, rate = sf.read(take.wav, dtype="float32")
            audios.append(audio)
            npz = take.wav.with_suffix(".npz")
            voices.append(load_voice_npz(npz) if npz.is_file() else None)
        data = export.zip_generation(audios, rate, {**rec.settings, "seed": rec.seed, "created": rec.created},
                                     voices=voices, stem=f"bark-{rec.id[:8]}")
        path = self.exports.folder(rec.id) / f"bark-{rec.id[:8]}.zip"
        path.write_bytes(data)
        return str(path)

    def export_take(self, owner: str, gen_id: Any, index: Any = 0, fmt: Any = "wav", normalize_lufs: Any = None,
                    trim_silence: Any = False, fade_ms: Any = 0.0) -> str:
        """One take of the owner's history row as an audio file (``bark_core.export`` formats, audio tools
        applied: trim -> fades -> loudness); its path among the prepared downloads (``self.exports``). ValueError with a sentence."""
        rec = self.generation(owner, str(gen_id or "").strip()) if isinstance(gen_id, str) else None
        if rec is None:
            raise ValueError("There is no generation with that id in your history (ids are in /history's rows).")
        try:
            i = math.nan if isinstance(index, bool) else float(0 if index is None or index == "" else index)
        except (TypeError, ValueError):
            i = math.nan
        if not (math.isfinite(i) and i == int(i) and 0 <= i < len(rec.takes)):
            raise ValueError(f"That generation has {len(rec.takes)} take(s): the take index must be a whole number "
                             f"from 0 to {len(rec.takes) - 1}.")
        f = export.get_format(str(fmt or "wav"))
        try:
            fade = float(fade_ms or 0.0)
            lufs = None if normalize_lufs is None or normalize_lufs == "" else float(normalize_lufs)
        except (TypeError, ValueError):
            raise ValueError("fade_ms and normalize must be numbers (normalize: a loudness in LUFS, e.g. -16).") from None
        if not isinstance(trim_silence, bool):
            raise ValueError("trim_silence must be true or false.")
        post = PostProcess(trim_silence=trim_silence, fade_in_ms=fade, fade_out_ms=fade, normalize_lufs=lufs)
        post.validate()
        take = rec.takes[int(i)]
        audio, rate = sf.read(take.wav, dtype="float32")
        return str(export.export_file(audio, rate, self.exports.folder(rec.id) / f"bark-{rec.id[:8]}-take{int(i) + 1}{f.suffix}", fmt=f,
                                      post=None if post.is_identity else post))

    # -- deleting ---------------------------------------------------------------------
    def _unserve(self, rec: GenerationRecord) -> None:
        """Stop serving a row's files: its takes' served copies and its prepared downloads (their URLs answer 404)."""
        self._forget_files([p for t in rec.takes for p in (t.wav, t.wav.with_suffix(".npz"))])
        self.exports.drop(rec.id)

    def delete_generation(self, owner: str, gen_id: str) -> bool:
        """Delete a generation and everything served from it; False when it is not the owner's."""
        rec = self.generation(owner, gen_id)
        if rec is None:
            return False
        self._unserve(rec)
        return self.store.delete_generation(owner, gen_id)

    def trash_generation(self, owner: str, gen_id: str) -> bool:
        """Delete with Undo: hidden and unserved at once (served copies and downloads forgotten; Undo brings the
        row back, not these downloads), restorable for ``store.UNDO_SECONDS``, then purged with the timelines
        nobody opened. False when it is not the owner's."""
        rec = self.generation(owner, gen_id)
        if rec is None:
            return False
        self._unserve(rec)
        done = self.store.trash_generation(owner, rec.id)
        self.store.purge_deleted()
        self.forget_purged_timelines()  # a row in the trash keeps its timelines, so Undo brings them back
        return done

    def restore_generation(self, owner: str, gen_id: Optional[str]) -> bool:
        return bool(owner and gen_id) and self.store.restore_generation(owner, str(gen_id))

    def forget_purged_timelines(self) -> None:
        """The timelines of rows purged for good: never-opened ones go, opened ones are unlinked."""
        try:
            self.timelines.forget_purged_generations()
        except Exception as e:  # a leftover timeline is only disk space
            log.warning("timelines of purged generations not removed: %s", type(e).__name__)


__all__ = ["HISTORY_LIMIT", "Library"]
