"""Arm and Stop, the handlers every engine job of every tab shares: Stop stops only the caller's own job."""

from __future__ import annotations

import gradio as gr

from .job_runner import session_key
from .studio import Studio


def arm(studio: Studio, request: gr.Request) -> dict:
    """Clear this session's Stop flag before its job is queued."""
    key = session_key(request)
    if key:
        studio.runner.arm(key)
    return {}


def stop(studio: Studio, request: gr.Request) -> dict:
    """Stop this session's job (and only this session's)."""
    key = session_key(request)
    if key:
        studio.runner.stop(key)
    return {}


__all__ = ["arm", "stop"]
