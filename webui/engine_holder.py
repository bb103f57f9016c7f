"""The one shared engine behind the UI: load, reload and first-run download, with their errors."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

LoadProgress = Callable[[str, float], None]


class EngineHolder:
    """Holds the current engine (or why there is none) and swaps it on reload.

    ``loader(settings, on_progress) -> engine`` defaults to ``bark_core.engine.Engine.load``.
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
            from bark_core.engine import Engine

            def loader(s, cb):
                return Engine.load(s, on_progress=cb)

        with self.lock:
            engine = loader(settings, on_progress)
            old, self.engine, self.settings, self.error = self.engine, engine, settings, None
        del old
        _free_accelerator_memory()
        return engine

    def download(self, on_progress: LoadProgress) -> None:
        """Fetch the weights the current settings ask for (first run)."""
        from bark_core import sources

        s = self.settings
        for small in needed_sizes(s):  # mixed sizes need both checkpoints
            sources.download(small=small, cache_dir=getattr(s, "cache_dir", None),
                             on_progress=lambda message: on_progress(message, None), spec=getattr(s, "models", None))

    def with_settings(self, **changes: Any) -> Any:
        return replace(self.settings, **changes) if self.settings is not None else None


STAGES = ("semantic", "coarse", "fine")


def settings_sizes(settings: Any) -> dict[str, str]:
    """"large" or "small" per stage, read off ``small`` / ``small_stages`` (large when there are no settings)."""
    every = bool(getattr(settings, "small", False))
    some = set(getattr(settings, "small_stages", ()) or ())
    return {s: "small" if every or s in some else "large" for s in STAGES}


def needed_sizes(settings: Any) -> list[bool]:
    """Which checkpoints (small? False = large) the settings load, large first."""
    return sorted({size == "small" for size in settings_sizes(settings).values()})


def _free_accelerator_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort only
        log.debug("could not empty the CUDA cache", exc_info=True)
