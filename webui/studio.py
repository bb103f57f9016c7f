"""The studio: its services, built once and handed to every handler as ``studio``.

``Studio`` only composes them; each has one job:

- ``voices`` (``webui.voice_book``): the preset catalog and each owner's voices, references, labels, previews;
- ``requests`` (``webui.request_builder``): what the browser or API sends, as a validated ``GenerationRequest``;
- ``runner`` (``webui.job_runner``): engine jobs (Stop, queue estimate, the one stream);
- ``checks`` (``webui.take_checks``): the take check for takes and segments, thresholds and retakes;
- ``library`` (``webui.library``): history, exports, trash and timelines;
- ``presets`` (``webui.preset_store``): the named settings presets, built-in and each owner's own;
- ``quotas`` (``webui.quotas``) and ``limits``: what one owner may store, and how fast;
- ``holder`` (``webui.engine_holder``): the engine itself, which the Models tab loads and swaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from .engine_holder import EngineHolder
from .exports import Exports, default_root
from .job_runner import JobRunner
from .library import Library
from .limits import Limits
from .preset_store import PresetStore
from .quotas import Quotas
from .request_builder import MAX_TEXT_CHARS, RequestBuilder
from .store import Store
from .take_checks import TakeChecks
from .timeline_store import TimelineStore
from .voice_book import VoiceBook


class Studio:
    """The studio's services around one engine holder and one store (see the module docstring).

    ``forget_files(paths)`` drops Gradio's served copies of deleted files (``http_guard.forget_served_copies``).
    """

    def __init__(self, holder: EngineHolder, store: Store, *, allow_model_changes: bool = True,
                 request_defaults: Optional[dict[str, Any]] = None,
                 gpu_wrap: Optional[Callable[[Callable], Callable]] = None, max_text_chars: int = MAX_TEXT_CHARS,
                 limits: Optional[Limits] = None,
                 forget_files: Callable[[list[Path]], None] = lambda paths: None):
        self.holder = holder
        self.allow_model_changes = allow_model_changes
        self.limits = limits or Limits()
        # the timelines count in the storage line, and the quotas decide whether a timeline may be saved
        self.quotas = Quotas(self.limits, store, count_timelines=lambda owner: timelines.count(owner))
        timelines = TimelineStore(store.root, max_timelines=self.limits.max_timelines,
                                  max_versions=self.limits.max_versions, check_room=self.quotas.check_data)
        # every prepared download (History zip, /export, timeline exports): one folder, swept with its served copies
        exports = Exports(default_root(store.root), keep_s=self.limits.export_keep_s,
                          max_bytes=self.limits.export_max_bytes, forget_served=lambda paths: forget_files(list(paths)))
        self.requests = RequestBuilder(max_text_chars, request_defaults)
        self.runner = JobRunner(holder, gpu_wrap, default_max_seconds=self.requests.defaults.get("max_seconds"))
        self.voices = VoiceBook(holder, store, self.quotas, self.requests, self.runner, forget_files)
        self.checks = TakeChecks(self.voices, self.runner)
        self.library = Library(store, self.quotas, self.voices, self.requests, exports, timelines, forget_files)
        self.presets = PresetStore(store.root)


__all__ = ["Studio"]
