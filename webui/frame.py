"""What sits around the tabs: the header, the first-run setup panel and the page load.

On a page load the settings and prompt this browser kept are set as values, in the browser
(``webui.remember``); then the server answers with what is loaded and what this owner has: its
history, voices, the voice this browser chose and its latest takes (``webui.page_load``).
"""

from __future__ import annotations

import gradio as gr

from . import page_load, remember, tab_models
from .model_settings import first_run_text
from .page import ENGINE, QUICK, Page
from .wiring import connect

BRAND = ("<div class='brand'><span class='logo' aria-hidden='true'>B</span><div><h1>Bark Studio</h1>"
         "<p>Expressive text-to-audio with Suno's Bark — speech, laughter, music, voices.</p></div></div>")


def layout(page: Page) -> None:
    holder = page.studio.holder
    page.add("saved_voice", gr.Textbox(visible=False))  # what remember.saved_voice_js hands the page load
    with gr.Row(elem_id="header"):
        gr.HTML(BRAND)
        page.add("engine_badge", gr.HTML(elem_id="engine-badge"))
    with gr.Column(visible=not holder.ready, elem_id="setup-panel") as setup, gr.Group():
        page.add("setup_panel", setup)
        page.add("setup_md", gr.Markdown(first_run_text(holder)))
        with gr.Row():
            page.add("download_btn", gr.Button("Download the model", variant="primary", elem_id="download-btn", scale=0))
            page.add("setup_status", gr.Markdown(elem_id="setup-status"))


def wire(page: Page) -> None:
    kept = page.pick(*remember.KEPT_NAMES, "text")
    page.demo.load(None, list(kept.values()), [*kept.values(), page["advanced"]], js=remember.restore_js())
    loaded = page.on(page.demo.load, page_load.on_load, page.pick("saved_voice"),
                     page.group("setup_md", "voice_md", "results_title", "results", "loaded", "history_list", "filters",
                                "result_cards_outputs"), js=remember.saved_voice_js(), **QUICK)
    connect(loaded.then, tab_models.estimate_memory, page.group("model_controls"), page.pick("m_estimate"), **QUICK)
    for comp in kept.values():
        comp.change(None, list(kept.values()), None, js=remember.save_settings_js())
    page["voice_radio"].change(None, [page["voice_radio"]], None, js=remember.save_voice_js())
    page.on(page["download_btn"].click, tab_models.download_model, page.group("filters"),
            page.group("loaded", "setup_status"), api_visibility="private", **ENGINE)


__all__ = ["layout", "wire"]
