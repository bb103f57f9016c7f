"""The Studio tab's voice column: filters, the voice list, the chosen voice's details and preview, and
"My voices" (upload, rename, delete, undo). Handlers: ``webui.tab_voices``; the list: ``webui.voice_list``."""

from __future__ import annotations

import gradio as gr

from ... import job_control, tab_voices, voice_list
from ...page import ENGINE, QUICK, Page
from ...voice_book import NO_VOICE

FILTERS = ("f_language", "f_gender", "f_version", "f_query")


def layout(page: Page) -> None:
    """The filters (group ``filters``), the list (group ``voice_list``), details and preview; ``voice``: the chosen one."""
    studio = page.studio
    page.add("voice", gr.State(NO_VOICE))
    gr.Markdown("### Voice")
    filters = voice_list.default_filters(studio)
    with gr.Row():
        page.add("f_language", gr.Dropdown(["All", *studio.voices.languages()], value=filters["f_language"],
                                           label="Language", elem_id="f-language", min_width=120))
        page.add("f_gender", gr.Dropdown(["Any", "Male", "Female"], value="Any", label="Gender",
                                         elem_id="f-gender", min_width=100))
        page.add("f_version", gr.Radio(["v2", "v1"], value="v2", label="Presets", elem_id="f-version",
                                       min_width=100, info="v2 is newer and clearer."))
    page.add("f_query", gr.Textbox(label="Search voices", placeholder=tab_voices.SEARCH_HINT, elem_id="f-query"))
    page.add("voice_radio", gr.Radio([("No voice (random speaker)", NO_VOICE)], value=NO_VOICE, label="Voices",
                                     elem_id="voice-gallery", show_label=False))
    page.add("voice_note", gr.Markdown(elem_id="voice-note"))
    page.add("voice_md", gr.Markdown(voice_list.voice_details(studio, "", NO_VOICE), elem_id="voice-details"))
    page.add("preview_btn", gr.Button("▶ Preview voice", size="sm", elem_id="preview-btn"))
    page.add("preview_audio", gr.Audio(label="Preview", type="filepath", interactive=False, visible=False,
                                       elem_id="preview-audio"))
    page.define("filters", FILTERS)
    page.define("voice_list", ("voice_radio", "voice_note"))


def layout_my_voices(page: Page) -> None:
    """"My voices": upload a .npz, rename or delete the selected voice of one's own, undo a delete."""
    page.add("undo_voice", gr.State(None))  # the voice deleted last (Undo)
    with gr.Accordion("My voices: upload, rename, delete", open=False, elem_id="my-voices"):
        page.add("upload", gr.File(label="Upload a Bark voice (.npz)", file_types=[".npz"], type="filepath",
                                   elem_id="voice-upload"))
        page.add("upload_name", gr.Textbox(label="Name for the uploaded voice", elem_id="upload-name"))
        page.add("upload_btn", gr.Button("Add uploaded voice", size="sm", elem_id="upload-btn"))
        gr.Markdown("<span class='muted'>Select one of your voices (★) above, then:</span>")
        page.add("rename_box", gr.Textbox(label="New name", elem_id="rename-box"))
        with gr.Row():
            page.add("rename_btn", gr.Button("Rename", size="sm", elem_id="rename-btn"))
            page.add("delete_voice_btn", gr.Button("Delete voice", size="sm", variant="stop",
                                                   elem_id="delete-voice-btn"))
            page.add("undo_voice_btn", gr.Button("↶ Undo delete", size="sm", visible=False, elem_id="voice-undo"))
        page.add("voice_msg", gr.Markdown(elem_id="voice-msg"))


def wire(page: Page) -> None:
    filters, voice = page.group("filters"), page.pick("voice")
    page.on(page["voice"].change, tab_voices.show_voice, voice, page.pick("voice_md"), **QUICK)
    for f in FILTERS:
        page.on(page[f].change, voice_list.voice_list, {**voice, **filters}, page.group("voice_list"),
                trigger_mode="always_last", **QUICK)
    page.on(page["voice_radio"].change, tab_voices.pick_voice, {**voice, "picked": page["voice_radio"]},
            page.pick("voice", "voice_md", "preview_audio"), **QUICK)
    armed = page.on(page["preview_btn"].click, job_control.arm, {}, {}, **QUICK)
    page.on(armed.then, tab_voices.preview, voice, page.pick("preview_audio"), api_visibility="private", **ENGINE)
    wire_my_voices(page)


def wire_my_voices(page: Page) -> None:
    filters, voice = page.group("filters"), page.pick("voice")
    changed = page.group("voice", "voice_md", "voice_msg", "voice_list")
    page.on(page["upload_btn"].click, tab_voices.add_uploaded, {**page.pick("upload", "upload_name"), **filters},
            {**changed, **page.pick("upload", "upload_name")})
    page.on(page["rename_btn"].click, tab_voices.rename_voice, {**voice, "new_name": page["rename_box"], **filters},
            {**changed, **page.pick("rename_box")})
    undo = page.pick("undo_voice", "undo_voice_btn")
    page.on(page["delete_voice_btn"].click, tab_voices.delete_voice, {**voice, **filters}, {**changed, **undo})
    page.on(page["undo_voice_btn"].click, tab_voices.undo_delete_voice, {**page.pick("undo_voice"), **filters},
            {**changed, **undo})


__all__ = ["FILTERS", "layout", "layout_my_voices", "wire"]
