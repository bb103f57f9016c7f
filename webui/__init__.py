"""Bark Studio's Gradio web UI. It talks to ``bark_core`` only through its public API.

``build_demo`` and ``launch_options`` are imported on first use, so ``app.py`` can read
``webui.limits`` for its flags without importing Gradio.
"""

from typing import Any

from .engine_holder import EngineHolder

__all__ = ["EngineHolder", "build_demo", "launch", "launch_options"]


def __getattr__(name: str) -> Any:
    if name in ("build_demo", "launch", "launch_options"):
        from . import ui

        return getattr(ui, name)
    raise AttributeError(f"module 'webui' has no attribute {name!r}")
