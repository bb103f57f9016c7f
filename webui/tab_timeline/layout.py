"""The Timeline tab's layout and wiring: components, and which handler each event calls.

Handlers live in the sibling modules (``opening``, ``segment_editor``, ``generating``, ``versions``);
they take named inputs and return dicts of named outputs (``webui.wiring``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gradio as gr

from bark_core import settings as table
from bark_core import timeline as T
from bark_core.export import FORMAT_CHOICES

from .. import job_control
from ..studio import Studio
from ..voice_book import NO_VOICE
from ..timeline_store import TimelineStore
from ..wiring import bind, connect
from .generating import generate_all, regenerate
from .opening import (create_timeline, delete_timeline, open_from_history, open_generation, open_timeline,
                      page_opened, tab_opened)
from .segment_editor import (apply_edit, delete_segment, insert_after, move_segment, save_segment_voice,
                             select_segment, show_segment)
from .versions import export_version, render_version, select_version
from .views import (CONTINUE_LABEL, NEEDS_TIMELINE, NO_TIMELINE_HINT, NO_VOICE_LABEL, SEGMENT_HEADERS,
                    VERSION_HEADERS, editor_state, voice_choices)

ENGINE = dict(concurrency_limit=1, concurrency_id="engine", api_visibility="private")
QUICK = dict(show_progress="hidden")
SPEAKERS_HINT = "One per line, e.g.\nALICE = v2/en_speaker_9\nBOB = v2/en_speaker_6"


def _temp_slider(name: str, elem_id: str) -> gr.Slider:
    s = next(x for x in table.SETTINGS if x.name == name)
    return gr.Slider(s.minimum, s.maximum, s.default, step=s.step, label=s.label, elem_id=elem_id)


class TimelineTab:
    """What ``build_timeline_tab`` returns: its components, and ``wire_open`` for "Open in timeline" buttons elsewhere."""

    def __init__(self, studio: Studio, tstore: TimelineStore, tab: Any, components: dict[str, Any],
                 buttons: dict[str, Any]):
        self.studio, self.tstore, self.tab = studio, tstore, tab
        self.components, self.buttons = components, buttons

    def open_outputs(self) -> dict[str, Any]:
        """Every component ``open_generation`` updates."""
        c = self.components
        names = ("tl_id", "tl_table", "tl_stale", "tl_status", "seg_no", "seg_audio", "seg_info", "insert_text",
                 "seg_text", "seg_voice", "seg_seed", "seg_semantic", "seg_coarse", "seg_fine", "tl_versions",
                 "version_ids", "tl_pause", "tl_crossfade", "tl_joined", "timeline_pick", "history_pick", "tl_text")
        return {n: c[n] for n in names}

    def wire_load(self, trigger: Any) -> Any:
        """Make ``trigger`` (the page's ``demo.load``) reopen the timeline this owner had open."""
        outputs = {n: v for n, v in self.open_outputs().items() if n not in ("history_pick", "tl_text")}
        return connect(trigger, bind(page_opened, studio=self.studio, tstore=self.tstore), {}, outputs, **QUICK)

    def wire_open(self, trigger: Any, source: Any, take_index: int, tabs_component: Any = None,
                  resolve: Optional[Callable[[Any, int], tuple[Optional[str], int]]] = None) -> Any:
        """Make ``trigger`` (e.g. a take card's button ``.click``) open a take in this tab and select the tab.

        ``source`` is the component whose value names the generation: a ``gr.State`` holding its id
        (History's ``selected_gen``: take ``take_index`` opens), or anything ``resolve(value,
        take_index) -> (generation id, take index)`` reads (Results' ``results`` state with
        ``take_cards.result_ref``). The take's timeline is imported on first open, then reused.
        ``tabs_component``: the ``gr.Tabs`` this tab is in (its id for this tab is ``"timeline"``).
        Call inside the Blocks.
        """
        outputs = self.open_outputs()
        if tabs_component is not None:
            outputs["tabs"] = tabs_component
        studio, tstore, index, tabs = self.studio, self.tstore, int(take_index), tabs_component is not None

        def open_in_timeline(owner: Optional[str], source: Any) -> dict[str, Any]:
            gen_id, take = resolve(source, index) if resolve is not None else (source, index)
            return open_generation(studio, tstore, owner, gen_id, take, tabs=tabs)

        return connect(trigger, open_in_timeline, {"source": source}, outputs, **QUICK)


def build_timeline_tab(studio: Studio) -> TimelineTab:
    """The Timeline tab; call inside ``gr.Tabs`` (after History). Keep what it returns to wire "Open in timeline"."""
    tstore = studio.library.timelines
    c: dict[str, Any] = {}
    b: dict[str, Any] = {}
    with gr.Tab("Timeline", id="timeline", elem_id="tab-timeline") as tab:
        _timeline_sources(studio, c, b)
        _segment_list(c, b)
        _segment_editor(studio, c, b)
        _join_and_export(c, b)
    _wire(studio, tstore, tab, c, b)
    return TimelineTab(studio, tstore, tab, c, b)


def _timeline_sources(studio: Studio, c: dict[str, Any], b: dict[str, Any]) -> None:
    """The page's state, the text to split and how, and the owner's timelines and takes to open."""
    c["tl_id"] = gr.State(None)
    c["version_ids"] = gr.State([])
    c["sel_version"] = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            c["tl_text"] = gr.Textbox(label="Long text", lines=8, max_lines=30, elem_id="tl-text",
                                      placeholder="Paste a story, a script or a dialogue (ALICE: Hi! / BOB: Hello.)")
        with gr.Column(scale=2, min_width=280):
            c["tl_mode"] = gr.Dropdown(T.SPLIT_MODE_CHOICES, value="sentence", label="Split",
                                       elem_id="tl-mode")
            c["tl_max_chars"] = gr.Number(T.DEFAULT_MAX_CHARS, label="Max characters per segment (by length)",
                                          minimum=T.MIN_MAX_CHARS, maximum=T.MAX_MAX_CHARS, precision=0,
                                          elem_id="tl-max-chars")
            c["tl_voice"] = gr.Dropdown(voice_choices(studio, None, NO_VOICE_LABEL), value=NO_VOICE,
                                        label="Voice", elem_id="tl-voice")
            c["tl_speakers"] = gr.Textbox(label="Dialogue voices (NAME = voice)", lines=2,
                                          placeholder=SPEAKERS_HINT, elem_id="tl-speakers")
            # Textboxes, not gr.Number, for values that may be empty: a Number sends 0 for "empty"
            c["tl_seed"] = gr.Textbox("", label="Seed (empty = random; segment k gets seed + k)",
                                      elem_id="tl-seed")
    with gr.Row():
        b["create_btn"] = gr.Button("Create timeline", variant="primary", elem_id="tl-create")
        c["timeline_pick"] = gr.Dropdown([], value=None, label="Your timelines", elem_id="tl-pick", scale=3)
        b["open_btn"] = gr.Button("Open", size="sm", elem_id="tl-open", scale=0, min_width=80)
        b["delete_tl_btn"] = gr.Button("Delete timeline", size="sm", variant="stop", elem_id="tl-delete-timeline",
                                       scale=0, min_width=130, interactive=False)
    with gr.Row():
        c["history_pick"] = gr.Dropdown([], value=None, label="Or open a take from your history",
                                        info="A long-form take opens with its segments as they were made.",
                                        elem_id="tl-history-pick", scale=3)
        b["open_history_btn"] = gr.Button("Open as timeline", size="sm", elem_id="tl-open-history", scale=0,
                                          min_width=150)


def _segment_list(c: dict[str, Any], b: dict[str, Any]) -> None:
    """Generate and Stop, the status lines and the table of segments."""
    with gr.Row():
        b["gen_all_btn"] = gr.Button("Generate missing and stale", variant="primary", elem_id="tl-generate", interactive=False)
        b["stop_btn"] = gr.Button("Stop", variant="stop", elem_id="tl-stop")
    c["tl_status"] = gr.Markdown(elem_id="tl-status")
    c["tl_stale"] = gr.Markdown(elem_id="tl-stale")
    c["tl_table"] = gr.Dataframe(headers=SEGMENT_HEADERS, value=[], interactive=False, wrap=True,
                                 elem_id="tl-segments",
                                 # fixed widths: readable cells that scroll sideways on a phone
                                 column_widths=["44px", "90px", "130px", "430px", "110px", "70px", "150px", "150px"])
    c["tl_none"] = gr.Markdown(NO_TIMELINE_HINT, elem_id="tl-none")


def _segment_editor(studio: Studio, c: dict[str, Any], b: dict[str, Any]) -> None:
    """The editor of one segment (shown while a timeline is open)."""
    with gr.Column(elem_id="tl-editor", visible=False) as c["tl_editor"]:  # an id on a Group is drawn twice
        with gr.Group():
            c["seg_info"] = gr.Markdown(elem_id="tl-seg-info")
            c["seg_audio"] = gr.Audio(type="numpy", interactive=False, show_label=False, elem_id="tl-seg-audio")
            with gr.Row():
                c["seg_no"] = gr.Number(None, label="Segment", precision=0, minimum=1, elem_id="tl-seg-no",
                                        scale=0, min_width=100)
                c["seg_text"] = gr.Textbox(label="Text", lines=2, elem_id="tl-seg-text", scale=4)
            with gr.Row():
                c["seg_voice"] = gr.Dropdown(voice_choices(studio, None, CONTINUE_LABEL), value=NO_VOICE,
                                             label="Voice", elem_id="tl-seg-voice")
                c["seg_seed"] = gr.Textbox("", label="Seed (empty = random)", elem_id="tl-seg-seed")
            with gr.Row():
                c["seg_semantic"] = _temp_slider("semantic_temp", "tl-seg-semantic")
                c["seg_coarse"] = _temp_slider("coarse_temp", "tl-seg-coarse")
                c["seg_fine"] = _temp_slider("fine_temp", "tl-seg-fine")
            with gr.Row():
                b["regen_btn"] = gr.Button("Regenerate this segment", variant="primary", size="sm",
                                           elem_id="tl-regen")
                b["apply_btn"] = gr.Button("Save edits", size="sm", elem_id="tl-apply")
                b["up_btn"] = gr.Button("↑ Move up", size="sm", elem_id="tl-up")
                b["down_btn"] = gr.Button("↓ Move down", size="sm", elem_id="tl-down")
                b["save_voice_btn"] = gr.Button("Save as voice", size="sm", elem_id="tl-save-voice")
                b["delete_btn"] = gr.Button("Delete", size="sm", variant="stop", elem_id="tl-delete")
            with gr.Row():
                c["insert_text"] = gr.Textbox(label="New segment's text", lines=1, elem_id="tl-insert-text", scale=4)
                b["insert_btn"] = gr.Button("Insert after", size="sm", elem_id="tl-insert", scale=0, min_width=120)


def _join_and_export(c: dict[str, Any], b: dict[str, Any]) -> None:
    """Joins, rendered versions and the export of one."""
    gr.Markdown("### Join and render")
    with gr.Row():
        c["tl_pause"] = gr.Number(250, label="Pause between segments (ms)", minimum=0, maximum=T.MAX_PAUSE_MS,
                                  elem_id="tl-pause")
        c["tl_crossfade"] = gr.Number(0, label="Crossfade (ms)", minimum=0, maximum=T.MAX_CROSSFADE_MS,
                                      elem_id="tl-crossfade")
        b["render_btn"] = gr.Button("Render new version", variant="primary", elem_id="tl-render", interactive=False)
    c["tl_joined"] = gr.Audio(type="numpy", interactive=False, label="Joined audio", elem_id="tl-joined")
    c["tl_versions"] = gr.Dataframe(headers=VERSION_HEADERS, value=[], interactive=False,
                                    elem_id="tl-versions")
    with gr.Accordion("Export: trim, loudness, fades, format", open=False, elem_id="tl-export"):
        with gr.Row():
            c["ex_format"] = gr.Dropdown(FORMAT_CHOICES, value="wav", label="Format", elem_id="tl-ex-format")
            c["ex_trim"] = gr.Checkbox(False, label="Trim leading and trailing silence", elem_id="tl-ex-trim")
            c["ex_lufs"] = gr.Textbox("", label="Normalise to LUFS (empty = off; e.g. -16)",
                                      elem_id="tl-ex-lufs")
        with gr.Row():
            c["ex_fade_in"] = gr.Number(0, label="Fade in (ms)", minimum=0, elem_id="tl-ex-fade-in")
            c["ex_fade_out"] = gr.Number(0, label="Fade out (ms)", minimum=0, elem_id="tl-ex-fade-out")
            c["ex_limit"] = gr.Textbox("", label="Limit peaks at dBFS (empty = off; e.g. -1)",
                                       elem_id="tl-ex-limit")
        with gr.Row():
            b["export_btn"] = gr.Button("Prepare download", elem_id="tl-ex-prepare")
            c["ex_download"] = gr.DownloadButton("⬇ Download", visible=False, elem_id="tl-ex-download")
        c["ex_msg"] = gr.Markdown(elem_id="tl-ex-msg")


def _wire(studio: Studio, tstore: TimelineStore, tab: Any, c: dict[str, Any], b: dict[str, Any]) -> None:
    def pick(*names: str) -> dict[str, Any]:
        return {n: c[n] for n in names}

    def on(trigger, fn, inputs, outputs, **kw):
        return connect(trigger, bind(fn, studio=studio, tstore=tstore), inputs, outputs, **kw)

    edit_fields = pick("seg_text", "seg_voice", "seg_seed", "seg_semantic", "seg_coarse", "seg_fine")
    out = {**pick("tl_id", "tl_table", "tl_stale", "tl_status", "seg_no", "seg_audio", "seg_info", "insert_text"),
           **edit_fields}
    versions = pick("tl_versions", "version_ids")
    current = pick("tl_id", "seg_no")

    connect(c["tl_id"].change, editor_state, pick("tl_id"),
            {**pick("tl_editor", "tl_none"), **{n: b[n] for n in NEEDS_TIMELINE}}, **QUICK)
    on(tab.select, tab_opened, pick("tl_voice"), pick("timeline_pick", "history_pick", "tl_voice"), **QUICK)
    on(b["open_history_btn"].click, open_from_history, pick("history_pick"),
       {**out, **versions, **pick("tl_pause", "tl_crossfade", "tl_joined", "timeline_pick", "history_pick", "tl_text")},
       **QUICK)
    on(b["create_btn"].click, create_timeline,
       pick("tl_text", "tl_mode", "tl_max_chars", "tl_voice", "tl_speakers", "tl_seed", "tl_pause", "tl_crossfade"),
       {**out, **versions, **pick("timeline_pick", "tl_joined")}, **QUICK)
    on(b["open_btn"].click, open_timeline, pick("timeline_pick"),
       {**out, **versions, **pick("tl_pause", "tl_crossfade", "tl_joined")}, **QUICK)
    on(c["tl_table"].select, select_segment, pick("tl_id"), out, **QUICK)
    on(c["seg_no"].submit, show_segment, current, out, **QUICK)
    on(b["apply_btn"].click, apply_edit, {**current, **edit_fields}, out, **QUICK)
    on(b["delete_btn"].click, delete_segment, current, out, **QUICK)
    on(b["save_voice_btn"].click, save_segment_voice, current, pick("tl_status", "seg_voice", "tl_voice"), **QUICK)
    on(b["delete_tl_btn"].click, delete_timeline, pick("tl_id"),
       {**out, **versions, **pick("sel_version", "tl_joined", "timeline_pick")}, **QUICK)
    on(b["insert_btn"].click, insert_after, {**current, **pick("insert_text")}, out, **QUICK)
    connect(b["up_btn"].click, bind(move_segment, studio=studio, tstore=tstore, step=-1), current, out, **QUICK)
    connect(b["down_btn"].click, bind(move_segment, studio=studio, tstore=tstore, step=1), current, out, **QUICK)

    armed = connect(b["regen_btn"].click, bind(job_control.arm, studio=studio), {}, {}, **QUICK)
    on(armed.then, regenerate, {**current, **edit_fields}, out, show_progress_on=[c["tl_status"]], **ENGINE)
    armed_all = connect(b["gen_all_btn"].click, bind(job_control.arm, studio=studio), {}, {}, **QUICK)
    on(armed_all.then, generate_all, pick("tl_id"), out, show_progress_on=[c["tl_status"]], **ENGINE)
    connect(b["stop_btn"].click, bind(job_control.stop, studio=studio), {}, {}, queue=False)  # never waits behind the job it stops

    on(b["render_btn"].click, render_version, pick("tl_id", "tl_pause", "tl_crossfade"),
       {**versions, **pick("tl_joined", "sel_version", "tl_status")}, show_progress_on=[c["tl_joined"]])
    on(c["tl_versions"].select, select_version, pick("tl_id", "version_ids"),
       pick("sel_version", "tl_joined", "tl_status"), **QUICK)
    on(b["export_btn"].click, export_version,
       pick("tl_id", "sel_version", "ex_format", "ex_trim", "ex_lufs", "ex_fade_in", "ex_fade_out", "ex_limit"),
       pick("ex_download", "ex_msg"), show_progress_on=[c["ex_msg"]])
