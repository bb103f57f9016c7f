"""The Studio tab: write a prompt, pick a voice, generate, compare takes.

It composes its panels, each with its own ``layout(page)`` and ``wire(page)``: the prompt and
settings (``prompt``), the voice column (``voices``: the list, a preview and My voices), the Style
presets (``styles``), cloning (``clone``) and Results' take cards (``results``).
"""

from __future__ import annotations

import gradio as gr

from ...page import Page
from . import clone, prompt, results, styles, voices


def layout(page: Page) -> None:
    with gr.Tab("Studio", id="studio", elem_id="tab-studio"):
        with gr.Row(equal_height=False, elem_id="studio-row"):
            prompt.layout(page)
            with gr.Column(scale=2, min_width=300, elem_id="voice-col"):
                voices.layout(page)
                styles.layout(page)  # named generation presets (presets/generation and the user's own)
                voices.layout_my_voices(page)
                clone.layout(page)
        results.layout(page)


def wire(page: Page) -> None:
    prompt.wire(page)
    results.wire(page)
    voices.wire(page)
    clone.wire(page)
    styles.wire(page)


__all__ = ["layout", "wire"]
