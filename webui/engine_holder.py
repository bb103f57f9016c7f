"""The one shared engine behind the UI: load, reload and first-run download, with their errors."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

import bark_core
from bark_core import STAGES

log = logging.getLogger(__name__)

LoadProgress = Callable[[str, float], None]


class EngineHolder:
    """Holds the current engine (or why there is none) and swaps it on reload.

    ``loader(settings, on_progress) -> engine`` defaults to ``bark_core.Engine.load``.
    """

    def __init__(self, engine: Any = None, settings: Any = None, error: Optional[str] = None,
                 loader: Optional[Callable[[Any, LoadProgress], Any]] = None):
        self.engine = engine
        self.settings = settings
        self.error = error
        self._loader = loader
        self.lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def load(self, settings: Any, on_progress: LoadProgress) -> Any:
        """Load an engine with ``settings``; on success it replaces the current one."""
        loader = self._loader
        if loader is None:
            def loader(s, cb):
                return bark_core.Engine.load(s, on_progress=cb)

        with self.lock:
            engine = loader(settings, on_progress)
            old, self.engine, self.settings, self.error = self.engine, engine, settings, None
        del old
        bark_core.free_accelerator_memory()
        return engine

    def download(self, on_progress: LoadProgress) -> None:
        """Fetch the weights the current settings ask for (first run)."""
        s = self.settings
        if getattr(s, "offline", False):
            raise ValueError("The studio is offline (--offline, or the Hugging Face Hub could not be reached), so it "
                             "cannot download. On a machine with internet run `python -m bark_core download`, "
                             "copy the folder here and start with `python app.py --models FOLDER`.")
        for small in needed_sizes(s):  # mixed sizes need both checkpoints
            bark_core.download_weights(small=small, cache_dir=getattr(s, "cache_dir", None),
                             on_progress=lambda message: on_progress(message, None), spec=getattr(s, "models", None))



def settings_sizes(settings: Any) -> dict[str, str]:
    """"large" or "small" per stage (``bark_core.stage_sizes``); large when there are no settings."""
    return {s: "large" for s in STAGES} if settings is None else bark_core.stage_sizes(settings)


def needed_sizes(settings: Any) -> list[bool]:
    """Which checkpoints (small? False = large) the settings load, large first."""
    return sorted({size == "small" for size in settings_sizes(settings).values()})
