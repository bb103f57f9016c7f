"""The Models tab: what is loaded, and loading other sizes, a device, a precision or a placement (with a
memory estimate), or the fast CPU mode. Handlers: ``webui.tab_models``. A reload also refreshes the
header, the setup panel and the Studio tab's voice list (group ``loaded``)."""

from __future__ import annotations

import html

import gradio as gr

from .. import tab_models
from ..engine_holder import STAGES
from ..model_settings import model_defaults
from ..page import ENGINE, QUICK, Page
from ..wiring import connect

SIZE_CHOICES = [("Large", "large"), ("Small", "small")]
SIZE_LABEL = {"semantic": "Semantic model", "coarse": "Coarse model", "fine": "Fine model"}
SIZE_HINT = ("A small fine or coarse model saves memory with little quality loss; "
             "the semantic model matters most for what is said.")
CONTROLS = (*(f"size_{s}" for s in STAGES), "m_device", "m_dtype", "m_place")


def layout(page: Page) -> None:
    """The controls (group ``model_controls``); what a load changes anywhere on the page is the group ``loaded``."""
    holder, allowed = page.studio.holder, page.studio.allow_model_changes
    defaults = model_defaults(holder.settings, holder.engine)
    with gr.Tab("Models", id="models", elem_id="tab-models"):
        page.add("models_info", gr.Markdown(elem_id="models-info"))
        with gr.Row(elem_id="model-sizes"):  # three abreast on a laptop, stacked on a phone
            for s in STAGES:
                page.add(f"size_{s}", gr.Radio(SIZE_CHOICES, value=defaults["sizes"][s], label=SIZE_LABEL[s],
                                               elem_id=f"size-{s}", min_width=200))
        gr.Markdown(f"<span class='muted'>{html.escape(SIZE_HINT)}</span>", elem_id="size-hint")
        with gr.Row():
            devices = tab_models.device_choices()
            page.add("m_device", gr.Dropdown(devices, value=defaults["device"] if defaults["device"] in devices
                                             else "auto", label="Device", elem_id="m-device"))
            page.add("m_dtype", gr.Dropdown(tab_models.DTYPES, value=defaults["dtype"], label="Precision",
                                            elem_id="m-dtype"))
            page.add("m_place", gr.Dropdown(tab_models.PLACEMENTS, value=defaults["placement"], label="Placement",
                                            elem_id="m-place"))
        page.add("m_estimate", gr.Markdown(elem_id="memory-estimate"))
        page.add("reload_btn", gr.Button("Reload model", variant="primary", interactive=allowed, elem_id="reload-btn"))
        page.add("fast_btn", gr.Button(tab_models.FAST_LABELS[False], visible=False, elem_id="fast-mode-btn",
                                       interactive=allowed))  # label and visibility: loaded_controls
        page.add("m_status", gr.Markdown(elem_id="m-status"))
        if not allowed:
            gr.Markdown("<span class='muted'>Model changes are turned off on this shared deployment.</span>")
    page.define("model_controls", CONTROLS)
    page.define("loaded", ("engine_badge", "setup_panel", "models_info", "voice", "voice_list", "model_controls",
                           "fast_btn"))


def wire(page: Page) -> None:
    controls, filters = page.group("model_controls"), page.group("filters")
    for comp in controls.values():
        connect(comp.change, tab_models.estimate_memory, controls, page.pick("m_estimate"), **QUICK)
    page.on(page["reload_btn"].click, tab_models.reload_model, {**controls, **filters},
            page.group("loaded", "m_status"), api_visibility="private", **ENGINE)
    page.on(page["fast_btn"].click, tab_models.switch_fast_mode, filters, page.group("loaded", "m_status"),
            api_visibility="private", **ENGINE)


__all__ = ["layout", "wire"]
