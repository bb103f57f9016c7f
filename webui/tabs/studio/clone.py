"""The Studio tab's clone panel: a recording, the window of it to use (dragged on its waveform,
``clone_window.js``), a preview of the clone, and saving it to My voices. Handlers: ``webui.tab_clone``."""

from __future__ import annotations

import gradio as gr

from ... import tab_clone
from ...page import ENGINE, QUICK, Page

HINT = ("<span class='muted'>5–10 s of one person speaking clearly, ending at the end of a sentence, works best. "
        "Only the window below is used.</span>")


def layout(page: Page) -> None:
    with gr.Accordion("Clone a voice from a recording", open=False, elem_id="clone-panel"):
        gr.Markdown(HINT)
        page.add("clone_audio", gr.Audio(sources=["upload", "microphone"], type="filepath", label="Recording",
                                         elem_id="clone-audio"))
        page.add("clone_wave", gr.HTML(elem_id="clone-wave"))  # drag the window (clone_window.js)
        with gr.Row():
            page.add("clone_start", gr.Number(None, label="Window start (s)", minimum=0, elem_id="clone-start"))
            page.add("clone_seconds", gr.Number(None, label="Window length (s)", minimum=0, maximum=30,
                                                elem_id="clone-seconds"))
        page.add("clone_name", gr.Textbox(label="Name", placeholder="e.g. Grandpa reading", elem_id="clone-name"))
        with gr.Row():
            page.add("clone_preview_btn", gr.Button("▶ Hear the clone", size="sm", elem_id="clone-preview-btn",
                                                    interactive=False))
            page.add("clone_save_btn", gr.Button("Save to My voices", size="sm", variant="primary",
                                                 elem_id="clone-save-btn", interactive=False))
        page.add("clone_preview", gr.Audio(label="The clone says a test sentence", interactive=False,
                                           elem_id="clone-preview"))
        page.add("clone_msg", gr.Markdown(elem_id="clone-msg"))


def wire(page: Page) -> None:
    window = page.pick("clone_audio", "clone_start", "clone_seconds")
    page.on(page["clone_audio"].change, tab_clone.inspect_recording, page.pick("clone_audio"),
            page.pick("clone_start", "clone_seconds", "clone_msg", "clone_name", "clone_preview", "clone_wave",
                      "clone_preview_btn", "clone_save_btn"), **QUICK)
    page.on(page["clone_preview_btn"].click, tab_clone.preview_clone, window, page.pick("clone_preview", "clone_msg"),
            api_visibility="private", **ENGINE)
    page.on(page["clone_save_btn"].click, tab_clone.save_clone, {**window, **page.pick("clone_name"),
                                                                 **page.group("filters")},
            page.group("voice", "voice_md", "clone_msg", "voice_list"), api_visibility="private", **ENGINE)


__all__ = ["layout", "wire"]
