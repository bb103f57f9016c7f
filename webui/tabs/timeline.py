"""The Timeline tab: long text as segments that can each be edited and regenerated alone, joined into versions.

Handlers: ``webui.tab_timeline`` (``opening``, ``segment_editor``, ``generating``, ``versions``); each
takes the studio's ``TimelineStore`` as ``tstore``. Besides its own events, this tab wires the page load
(the timeline this browser had open, reopened) and the take cards' "Open in timeline" (Results' and History's).
Its buttons are named like their elem_ids (``tl_create_btn`` is ``#tl-create``).
"""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from bark_core import settings as table
from bark_core import timeline as T
from bark_core.export import FORMAT_CHOICES

from .. import job_control
from ..page import ENGINE, QUICK, Page
from ..tab_timeline import generating, opening, segment_editor, versions, views
from ..take_cards import result_ref
from ..voice_book import NO_VOICE
from ..wiring import bind, connect

SPEAKERS_HINT = "One per line, e.g.\nALICE = v2/en_speaker_9\nBOB = v2/en_speaker_6"
PRIVATE_ENGINE = dict(ENGINE, api_visibility="private")


def _temp_slider(name: str, elem_id: str) -> gr.Slider:
    s = table.BY_NAME[name]
    return gr.Slider(s.minimum, s.maximum, s.default, step=s.step, label=s.label, elem_id=elem_id)


def layout(page: Page) -> None:
    """The tab (``timeline_tab``) and the groups its handlers write: ``timeline_view`` (the segment list and
    editor), ``timeline_versions`` and ``timeline_opened`` (everything opening a timeline sets)."""
    with gr.Tab("Timeline", id="timeline", elem_id="tab-timeline") as tab:
        page.add("timeline_tab", tab)
        _layout_sources(page)
        _layout_segment_list(page)
        _layout_segment_editor(page)
        _layout_join_and_export(page)
    page.define("segment_edits", ("seg_text", "seg_voice", "seg_seed", "seg_semantic", "seg_coarse", "seg_fine"))
    page.define("timeline_view", ("tl_id", "tl_table", "tl_stale", "tl_status", "seg_no", "seg_audio", "seg_info",
                                  "insert_text", "segment_edits"))
    page.define("timeline_versions", ("tl_versions", "version_ids"))
    page.define("timeline_opened", ("timeline_view", "timeline_versions", "tl_pause", "tl_crossfade", "tl_joined",
                                    "timeline_pick", "history_pick", "tl_text"))


def _layout_sources(page: Page) -> None:
    """The tab's state, the text to split and how, and the owner's timelines and takes to open."""
    page.add("tl_id", gr.State(None))
    page.add("version_ids", gr.State([]))
    page.add("sel_version", gr.State(None))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            page.add("tl_text", gr.Textbox(label="Long text", lines=8, max_lines=30, elem_id="tl-text", placeholder=(
                "Paste a story, a script or a dialogue (ALICE: Hi! / BOB: Hello.)")))
        with gr.Column(scale=2, min_width=280):
            page.add("tl_mode", gr.Dropdown(T.SPLIT_MODE_CHOICES, value="sentence", label="Split", elem_id="tl-mode"))
            page.add("tl_max_chars", gr.Number(T.DEFAULT_MAX_CHARS, label="Max characters per segment (by length)",
                                               minimum=T.MIN_MAX_CHARS, maximum=T.MAX_MAX_CHARS, precision=0,
                                               elem_id="tl-max-chars"))
            page.add("tl_voice", gr.Dropdown(views.voice_choices(page.studio, None, views.NO_VOICE_LABEL),
                                             value=NO_VOICE, label="Voice", elem_id="tl-voice"))
            page.add("tl_speakers", gr.Textbox(label="Dialogue voices (NAME = voice)", lines=2,
                                               placeholder=SPEAKERS_HINT, elem_id="tl-speakers"))
            # Textboxes, not gr.Number, for values that may be empty: a Number sends 0 for "empty"
            page.add("tl_seed", gr.Textbox("", label="Seed (empty = random; segment k gets seed + k)",
                                           elem_id="tl-seed"))
    with gr.Row():
        page.add("tl_create_btn", gr.Button("Create timeline", variant="primary", elem_id="tl-create"))
        page.add("timeline_pick", gr.Dropdown([], value=None, label="Your timelines", elem_id="tl-pick", scale=3))
        page.add("tl_open_btn", gr.Button("Open", size="sm", elem_id="tl-open", scale=0, min_width=80))
        page.add("tl_delete_timeline_btn", gr.Button("Delete timeline", size="sm", variant="stop",
                                                     elem_id="tl-delete-timeline", scale=0, min_width=130,
                                                     interactive=False))
    with gr.Row():
        page.add("history_pick", gr.Dropdown([], value=None, label="Or open a take from your history",
                                             info="A long-form take opens with its segments as they were made.",
                                             elem_id="tl-history-pick", scale=3))
        page.add("tl_open_history_btn", gr.Button("Open as timeline", size="sm", elem_id="tl-open-history", scale=0,
                                                  min_width=150))


def _layout_segment_list(page: Page) -> None:
    """Generate and Stop, the status lines and the table of segments."""
    with gr.Row():
        page.add("tl_generate_btn", gr.Button("Generate missing and stale", variant="primary", elem_id="tl-generate",
                                              interactive=False))
        page.add("tl_stop_btn", gr.Button("Stop", variant="stop", elem_id="tl-stop"))
    page.add("tl_status", gr.Markdown(elem_id="tl-status"))
    page.add("tl_stale", gr.Markdown(elem_id="tl-stale"))
    page.add("tl_table", gr.Dataframe(headers=views.SEGMENT_HEADERS, value=[], interactive=False, wrap=True,
                                      elem_id="tl-segments",
                                      # fixed widths: readable cells that scroll sideways on a phone
                                      column_widths=["44px", "90px", "130px", "430px", "110px", "70px", "150px",
                                                     "150px"]))
    page.add("tl_none", gr.Markdown(views.NO_TIMELINE_HINT, elem_id="tl-none"))


def _layout_segment_editor(page: Page) -> None:
    """The editor of one segment (shown while a timeline is open)."""
    with gr.Column(elem_id="tl-editor", visible=False) as editor:  # an id on a Group is drawn twice
        page.add("tl_editor", editor)
        with gr.Group():
            page.add("seg_info", gr.Markdown(elem_id="tl-seg-info"))
            page.add("seg_audio", gr.Audio(type="numpy", interactive=False, show_label=False, elem_id="tl-seg-audio"))
            with gr.Row():
                page.add("seg_no", gr.Number(None, label="Segment", precision=0, minimum=1, elem_id="tl-seg-no",
                                             scale=0, min_width=100))
                page.add("seg_text", gr.Textbox(label="Text", lines=2, elem_id="tl-seg-text", scale=4))
            with gr.Row():
                page.add("seg_voice", gr.Dropdown(views.voice_choices(page.studio, None, views.CONTINUE_LABEL),
                                                  value=NO_VOICE, label="Voice", elem_id="tl-seg-voice"))
                page.add("seg_seed", gr.Textbox("", label="Seed (empty = random)", elem_id="tl-seg-seed"))
            with gr.Row():
                page.add("seg_semantic", _temp_slider("semantic_temp", "tl-seg-semantic"))
                page.add("seg_coarse", _temp_slider("coarse_temp", "tl-seg-coarse"))
                page.add("seg_fine", _temp_slider("fine_temp", "tl-seg-fine"))
            with gr.Row():
                for name, label, elem_id, kw in (
                        ("tl_regen_btn", "Regenerate this segment", "tl-regen", {"variant": "primary"}),
                        ("tl_apply_btn", "Save edits", "tl-apply", {}), ("tl_up_btn", "↑ Move up", "tl-up", {}),
                        ("tl_down_btn", "↓ Move down", "tl-down", {}),
                        ("tl_save_voice_btn", "Save as voice", "tl-save-voice", {}),
                        ("tl_delete_btn", "Delete", "tl-delete", {"variant": "stop"})):
                    page.add(name, gr.Button(label, size="sm", elem_id=elem_id, **kw))
            with gr.Row():
                page.add("insert_text", gr.Textbox(label="New segment's text", lines=1, elem_id="tl-insert-text",
                                                   scale=4))
                page.add("tl_insert_btn", gr.Button("Insert after", size="sm", elem_id="tl-insert", scale=0,
                                                    min_width=120))


def _layout_join_and_export(page: Page) -> None:
    """Joins, rendered versions and the export of one."""
    gr.Markdown("### Join and render")
    with gr.Row():
        page.add("tl_pause", gr.Number(250, label="Pause between segments (ms)", minimum=0, maximum=T.MAX_PAUSE_MS,
                                       elem_id="tl-pause"))
        page.add("tl_crossfade", gr.Number(0, label="Crossfade (ms)", minimum=0, maximum=T.MAX_CROSSFADE_MS,
                                           elem_id="tl-crossfade"))
        page.add("tl_render_btn", gr.Button("Render new version", variant="primary", elem_id="tl-render",
                                            interactive=False))
    page.add("tl_joined", gr.Audio(type="numpy", interactive=False, label="Joined audio", elem_id="tl-joined"))
    page.add("tl_versions", gr.Dataframe(headers=views.VERSION_HEADERS, value=[], interactive=False,
                                         elem_id="tl-versions"))
    with gr.Accordion("Export: trim, loudness, fades, format", open=False, elem_id="tl-export"):
        with gr.Row():
            page.add("ex_format", gr.Dropdown(FORMAT_CHOICES, value="wav", label="Format", elem_id="tl-ex-format"))
            page.add("ex_trim", gr.Checkbox(False, label="Trim leading and trailing silence", elem_id="tl-ex-trim"))
            page.add("ex_lufs", gr.Textbox("", label="Normalise to LUFS (empty = off; e.g. -16)",
                                           elem_id="tl-ex-lufs"))
        with gr.Row():
            page.add("ex_fade_in", gr.Number(0, label="Fade in (ms)", minimum=0, elem_id="tl-ex-fade-in"))
            page.add("ex_fade_out", gr.Number(0, label="Fade out (ms)", minimum=0, elem_id="tl-ex-fade-out"))
            page.add("ex_limit", gr.Textbox("", label="Limit peaks at dBFS (empty = off; e.g. -1)",
                                            elem_id="tl-ex-limit"))
        with gr.Row():
            page.add("tl_export_btn", gr.Button("Prepare download", elem_id="tl-ex-prepare"))
            page.add("ex_download", gr.DownloadButton("⬇ Download", visible=False, elem_id="tl-ex-download"))
        page.add("ex_msg", gr.Markdown(elem_id="tl-ex-msg"))


def _on(page: Page, trigger: Callable, fn: Callable, inputs: dict[str, Any], outputs: dict[str, Any], **kwargs: Any):
    """``page.on`` for a timeline handler: its ``tstore`` is the studio's timelines."""
    return page.on(trigger, bind(fn, tstore=page.studio.library.timelines), inputs, outputs, **kwargs)


def wire(page: Page) -> None:
    _wire_timelines(page)
    _wire_segments(page)
    _wire_generating(page)
    _wire_versions(page)
    _wire_opening_takes(page)


def _wire_timelines(page: Page) -> None:
    """Create, open (from the list or the history list) and delete timelines; the tab's lists when it opens."""
    view, listed = page.group("timeline_view", "timeline_versions"), page.pick("timeline_pick")
    connect(page["tl_id"].change, views.editor_state, page.pick("tl_id"),
            page.pick("tl_editor", "tl_none", *views.NEEDS_TIMELINE), **QUICK)
    _on(page, page["timeline_tab"].select, opening.tab_opened, page.pick("tl_voice"),
        page.pick("timeline_pick", "history_pick", "tl_voice"), **QUICK)
    _on(page, page["tl_open_history_btn"].click, opening.open_from_history, page.pick("history_pick"),
        page.group("timeline_opened"), **QUICK)
    _on(page, page["tl_create_btn"].click, opening.create_timeline,
        page.pick("tl_text", "tl_mode", "tl_max_chars", "tl_voice", "tl_speakers", "tl_seed", "tl_pause",
                  "tl_crossfade"), {**view, **listed, **page.pick("tl_joined")}, **QUICK)
    _on(page, page["tl_open_btn"].click, opening.open_timeline, listed,
        {**view, **page.pick("tl_pause", "tl_crossfade", "tl_joined")}, **QUICK)
    _on(page, page["tl_delete_timeline_btn"].click, opening.delete_timeline, page.pick("tl_id"),
        {**view, **page.pick("sel_version", "tl_joined"), **listed}, **QUICK)


def _wire_segments(page: Page) -> None:
    """Hand edits of the segment in the editor: pick, edit, delete, save as a voice, insert, move."""
    current, out = page.pick("tl_id", "seg_no"), page.group("timeline_view")
    edited = {**current, **page.group("segment_edits")}
    _on(page, page["tl_table"].select, segment_editor.select_segment, page.pick("tl_id"), out, **QUICK)
    _on(page, page["seg_no"].submit, segment_editor.show_segment, current, out, **QUICK)
    _on(page, page["tl_apply_btn"].click, segment_editor.apply_edit, edited, out, **QUICK)
    _on(page, page["tl_delete_btn"].click, segment_editor.delete_segment, current, out, **QUICK)
    _on(page, page["tl_save_voice_btn"].click, segment_editor.save_segment_voice, current,
        page.pick("tl_status", "seg_voice", "tl_voice"), **QUICK)
    _on(page, page["tl_insert_btn"].click, segment_editor.insert_after, page.pick("tl_id", "seg_no", "insert_text"),
        out, **QUICK)
    for button, step in (("tl_up_btn", -1), ("tl_down_btn", 1)):
        _on(page, page[button].click, bind(segment_editor.move_segment, step=step), current, out, **QUICK)


def _wire_generating(page: Page) -> None:
    """Regenerate the segment in the editor, or generate every missing and stale one; Stop."""
    current, out, progress = page.pick("tl_id", "seg_no"), page.group("timeline_view"), [page["tl_status"]]
    armed = page.on(page["tl_regen_btn"].click, job_control.arm, {}, {}, **QUICK)
    _on(page, armed.then, generating.regenerate, {**current, **page.group("segment_edits")}, out,
        show_progress_on=progress, **PRIVATE_ENGINE)
    armed = page.on(page["tl_generate_btn"].click, job_control.arm, {}, {}, **QUICK)
    _on(page, armed.then, generating.generate_all, page.pick("tl_id"), out, show_progress_on=progress,
        **PRIVATE_ENGINE)
    page.on(page["tl_stop_btn"].click, job_control.stop, {}, {}, queue=False)  # never waits behind the job it stops


def _wire_versions(page: Page) -> None:
    """Render a joined version, play one, export one."""
    shown = page.group("timeline_versions")
    _on(page, page["tl_render_btn"].click, versions.render_version, page.pick("tl_id", "tl_pause", "tl_crossfade"),
        {**shown, **page.pick("tl_joined", "sel_version", "tl_status")}, show_progress_on=[page["tl_joined"]])
    _on(page, page["tl_versions"].select, versions.select_version, page.pick("tl_id", "version_ids"),
        page.pick("sel_version", "tl_joined", "tl_status"), **QUICK)
    _on(page, page["tl_export_btn"].click, versions.export_version,
        page.pick("tl_id", "sel_version", "ex_format", "ex_trim", "ex_lufs", "ex_fade_in", "ex_fade_out", "ex_limit"),
        page.pick("ex_download", "ex_msg"), show_progress_on=[page["ex_msg"]])


def _wire_opening_takes(page: Page) -> None:
    """The page load reopens the timeline this browser had open; a take card's "Open in timeline" (Results' card i
    shows the take ``take_cards.result_ref`` reads, History's card i take i of the selected row) opens its take."""
    opened = page.group("timeline_opened")
    reopened = {n: c for n, c in opened.items() if n not in ("history_pick", "tl_text")}
    _on(page, page.demo.load, opening.page_opened, {}, reopened, **QUICK)
    for cards, source, resolve in (("result_cards", "results", result_ref), ("history_cards", "selected_gen", None)):
        for i, card in enumerate(page[cards]):
            _on(page, card["timeline"].click, bind(opening.open_in_timeline, take_index=i, resolve=resolve),
                {"source": page[source]}, {**opened, **page.pick("tabs")}, **QUICK)


__all__ = ["layout", "wire"]
