"""The Studio tab's Style panel, beside the voice gallery: pick a named generation preset, save the current
settings as one's own, delete it. Handlers and what they do: ``webui.tab_presets``; the store: ``webui.preset_store``.
``presets`` (the PresetStore) is on the page, where the API's ``/generate`` finds it too."""

from __future__ import annotations

import gradio as gr

from bark_core import presets as P

from ... import tab_presets
from ...page import QUICK, Page
from ...wiring import bind, connect


def layout(page: Page) -> None:
    presets = page.add("presets", page.studio.presets)
    page.add("style", gr.Dropdown(tab_presets.style_choices(presets, None), value=None, label="Style",
                                  info=tab_presets.STYLE_INFO, elem_id="style-preset", allow_custom_value=False))
    page.add("style_note", gr.Markdown(elem_id="style-note"))
    with gr.Accordion("My presets: save the current settings, delete", open=False, elem_id="my-presets"):
        page.add("style_name", gr.Textbox(label="Name for the current settings", max_length=80, elem_id="style-name"))
        with gr.Row():
            page.add("style_save_btn", gr.Button("Save as preset", size="sm", elem_id="style-save-btn"))
            page.add("style_delete_btn", gr.Button("Delete selected preset", size="sm", variant="stop",
                                                   elem_id="style-delete-btn"))
        page.add("style_msg", gr.Markdown(elem_id="style-msg"))


def wire(page: Page) -> None:
    """Each event gets the preset store (``presets``); picking a preset sets the settings widgets it holds."""
    def on(trigger, fn, inputs, outputs):
        return connect(trigger, bind(fn, presets=page["presets"]), inputs, outputs, quotas=page.studio.quotas, **QUICK)

    widgets = {s.name: page[s.name] for s in P.PRESET_SETTINGS}
    on(page.demo.load, tab_presets.list_styles, {}, page.pick("style"))
    on(page["style"].input, tab_presets.pick_style, page.pick("style"), {**widgets, **page.pick("style_note")})
    on(page["style_save_btn"].click, tab_presets.save_style, {**page.pick("style_name"), **widgets},
       page.pick("style", "style_name", "style_note", "style_msg"))
    on(page["style_delete_btn"].click, tab_presets.delete_style, page.pick("style"),
       page.pick("style", "style_note", "style_msg"))


__all__ = ["layout", "wire"]
