"""Bark Studio's Gradio web UI. It talks to ``bark_core`` only through its public API."""

from .engine_holder import EngineHolder
from .ui import build_demo, launch, launch_options

__all__ = ["EngineHolder", "build_demo", "launch", "launch_options"]
