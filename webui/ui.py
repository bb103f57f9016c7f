"""The Bark Studio Gradio app: layout and wiring only.

``build_demo(engine_or_holder, data_dir=...)`` returns a ``gr.Blocks``; ``launch_options`` gives the
launch keywords it needs (CSS, the page script, safe file paths). The engine is injected; it may be
``None`` when the weights are missing (first run). What each event does lives in the tab modules
(``tab_generate``, ``tab_voices``, ``tab_history``, ``tab_models``) and ``api``; every event goes
through the one queue, and the ones that use the engine share one concurrency slot.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr

from bark_core import MAX_TAKES, settings as table
from bark_core.takecheck import Thresholds

from . import (api, job_control, page_load, remember, tab_clone, tab_generate, tab_history, tab_models, tab_presets, tab_timeline,
               tab_voices, take_cards, voice_list)
from .engine_holder import STAGES, EngineHolder
from .exports import GRADIO_CACHE
from .limits import Limits
from .model_settings import first_run_text, model_defaults
from .store import Store
from .request_builder import MAX_TEXT_CHARS
from .studio import Studio
from .take_checks import MAX_RETAKE_SECONDS, MAX_RETAKES
from .voice_book import NO_VOICE
from .tags import TAGS
from .http_guard import forget_served_copies, guard_launch_kwargs
from .input_guard import guard_inputs
from .wiring import bind, connect

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
ENGINE = dict(concurrency_limit=1, concurrency_id="engine")  # engine jobs share one limit: build_demo(engine_concurrency=)
QUICK = dict(show_progress="hidden")

EXAMPLES = [
    "Hello, my name is Suno. And, uh — and I like pizza. [laughs] But I also have other interests such as playing tic tac toe.",
    "♪ In the jungle, the mighty jungle, the lion barks tonight ♪",
    "[clears throat] Ladies and gentlemen... WELCOME to the show! [laughter]",
    "I have a silky smooth voice, and today I will tell you about the exercise regimen of the common sloth. [sighs]",
    "Buenos días. Hoy hace un día MUY bonito, ¿no crees? [laughs]",
]
SIZE_CHOICES = [("Large", "large"), ("Small", "small")]
SIZE_LABEL = {"semantic": "Semantic model", "coarse": "Coarse model", "fine": "Fine model"}
SIZE_HINT = ("A small fine or coarse model saves memory with little quality loss; "
             "the semantic model matters most for what is said.")
CHECK_DEFAULTS = Thresholds()
API_ENDPOINTS = ("generate", "history", "clone", "export")  # the documented endpoints; every other event is private
HISTORY_HEADERS = ["★", "When", "Prompt", "Voice", "Takes", "Length", "Seed"]


def launch_options(data_dir: str | Path, *, max_upload_bytes: int = 8 * 2**20, auth_required: bool = False,
                   cross_site: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: styling, the page script, safe file serving and the HTTP guard.

    Only the audio and preview folders are served; the database beside them is not. The guard
    (``webui.http_guard``) caps whole requests, closes Gradio's queue-skipping routes, requires the
    login on every route with ``auth_required`` and gives each browser its owner cookie.
    """
    store_root = Path(data_dir).resolve()
    return dict(
        **guard_launch_kwargs(max_request_bytes=max_upload_bytes + 64 * 1024, auth_required=auth_required,
                              cross_site=cross_site),
        css_paths=[HERE / "style.css"],
        head="".join(f"<script>{(HERE / js).read_text(encoding='utf-8')}</script>" for js in ("palette.js", "clone_window.js")),
        allowed_paths=[str(store_root / "audio"), str(store_root / "previews")],
        blocked_paths=[str(store_root / "studio.sqlite3")],
        show_error=False,
        max_file_size=max_upload_bytes,
        theme=gr.themes.Soft(primary_hue="violet", secondary_hue="indigo", neutral_hue="slate",
                             font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]),
    )


def launch(demo: gr.Blocks, *, tries: int = 3, **kwargs: Any) -> Any:
    """``demo.launch(**kwargs)``, started again when Gradio's start-up self-check gave up on a server that is fine.

    That check allows the page's first request 3 s; on a busy machine (a laptop compiling, a loaded CI
    runner) it can take longer, and Gradio then raises "localhost is not accessible".
    """
    for attempt in range(tries):
        try:
            return demo.launch(**kwargs)
        except ValueError as e:
            if "localhost is not accessible" not in str(e) or attempt == tries - 1:
                raise
            log.warning("The studio's first page took over 3 s to answer; starting it again.")
            demo.close()


def setting_widget(s: table.Setting, **kwargs: Any) -> Any:
    """The widget of one settings-table row.

    A number that may be left empty (no default and no "off" value: the seed) is a text box, since a
    number box that mounts empty reports 0, which would silently become the value.
    """
    if s.widget == "checkbox":
        return gr.Checkbox(s.ui_default, label=s.label, info=s.help, **kwargs)
    if s.widget == "number" and s.default is None and s.off is None:
        return gr.Textbox(None, label=s.label, info=s.help, placeholder="random", max_length=20, **kwargs)
    if s.widget == "number":
        return gr.Number(s.ui_default if s.default is not None or s.off is not None else None, label=s.label,
                         info=s.help, minimum=s.off if s.off is not None else s.minimum, maximum=s.maximum,
                         step=s.step, precision=0 if s.kind is int else None, **kwargs)
    low = s.off if s.off is not None and s.off < s.minimum else s.minimum
    high = s.off if s.off is not None and s.off > s.maximum else s.maximum
    return gr.Slider(low, high, s.ui_default, step=s.step, label=s.label, info=s.help, **kwargs)


def take_slot(i: int, prefix: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """One take card; its parts are added to ``outputs`` as ``{prefix}{i}_group`` etc."""
    # The id sits on a Column: Gradio draws a Group as two nested elements that would both carry it.
    with gr.Column(visible=False, elem_id=f"{prefix}-{i + 1}", elem_classes=["take-slot"]) as group, \
            gr.Group(elem_classes=["take-card"]):
        info = gr.Markdown(elem_classes=["take-info"])
        audio = gr.Audio(type="filepath", interactive=False, show_label=False, elem_id=f"{prefix}-{i + 1}-audio",
                         buttons=["download"])
        with gr.Row(elem_classes=["take-actions"]):
            download = gr.DownloadButton("⬇ WAV", size="sm", elem_id=f"{prefix}-{i + 1}-download")
            voice_download = gr.DownloadButton("⬇ Voice .npz", size="sm", elem_id=f"{prefix}-{i + 1}-voice-download")
            save = gr.Button("Save as voice", size="sm", elem_id=f"{prefix}-{i + 1}-save")
            reuse = gr.Button("Reuse settings", size="sm", elem_id=f"{prefix}-{i + 1}-reuse")
            regen = gr.Button("↻ Regenerate this take", size="sm", elem_id=f"{prefix}-{i + 1}-regen")
            timeline = gr.Button("Open in timeline", size="sm", elem_id=f"{prefix}-{i + 1}-timeline")
            star = gr.Button("☆ Star", size="sm", elem_id=f"{prefix}-{i + 1}-star") if prefix == "take" else None
    parts = dict(group=group, info=info, audio=audio, download=download, voice_download=voice_download)
    outputs.update({f"{prefix}{i}_{k}": v for k, v in parts.items()})
    return dict(parts, save=save, reuse=reuse, star=star, regen=regen, timeline=timeline)


def build_demo(engine_or_holder: Any, *, data_dir: str | Path = "data", settings: Any = None,
               load_error: Optional[str] = None, allow_model_changes: bool = True, queue_size: int = 20,
               request_defaults: Optional[dict[str, Any]] = None,
               gpu_wrap: Optional[Callable[[Callable], Callable]] = None,
               loader: Optional[Callable[[Any, Callable[[str, float], None]], Any]] = None,
               title: str = "Bark Studio", max_text_chars: int = MAX_TEXT_CHARS,
               engine_concurrency: int = 1, limits: Optional[Limits] = None) -> gr.Blocks:
    """Build the studio around an engine (or an :class:`EngineHolder`, or ``None`` when weights are missing).

    ``settings`` are the ``EngineSettings`` the engine was (or would be) loaded with; ``load_error``
    the message to show when it could not be loaded. ``gpu_wrap`` wraps the function that drives the
    engine (``spaces.GPU`` on ZeroGPU). ``request_defaults`` fill ``GenerationRequest`` fields the
    user left unset (e.g. ``max_seconds`` from ``--max-seconds``; tests use it to keep audio short).
    ``engine_concurrency`` is how many engine jobs (every event of concurrency id "engine") may be in
    flight at once: 1 runs them one by one; more lets an engine that batches across requests fill a batch.
    ``limits`` bound what one visitor may store and how fast (``webui.limits``; the defaults when None).
    """
    if not isinstance(engine_concurrency, int) or isinstance(engine_concurrency, bool) or engine_concurrency < 1:
        raise ValueError(f"engine_concurrency must be a whole number of at least 1, got {engine_concurrency!r}.")
    if isinstance(engine_or_holder, EngineHolder):
        holder = engine_or_holder
    else:
        holder = EngineHolder(engine_or_holder, settings=settings, error=load_error, loader=loader)
    store = Store(data_dir)
    studio = Studio(holder, store, allow_model_changes=allow_model_changes,
                    request_defaults=request_defaults, gpu_wrap=gpu_wrap, max_text_chars=max_text_chars,
                    limits=limits, forget_files=forget_served_copies)
    languages = studio.voices.languages()
    c: dict[str, Any] = {}  # every component an event reads or writes, by name
    b: dict[str, Any] = {}  # buttons and take slots, which only trigger events

    # Gradio's copies of served files (takes, previews, downloads) older than an hour go every 10 minutes
    with gr.Blocks(title=title, fill_width=False, delete_cache=GRADIO_CACHE) as demo:
        c["voice"] = gr.State(NO_VOICE)
        c["saved_voice"] = gr.Textbox(visible=False)  # what remember.saved_voice_js hands the page load
        c["results"] = gr.State(None)  # Results' takes: {"refs": [[gen_id, take, label]...], "shown": [...]}
        c["history_ids"] = gr.State([])
        c["selected_gen"] = gr.State(None)
        c["undo_gen"] = gr.State(None)  # the history row deleted last (Undo)
        c["undo_voice"] = gr.State(None)  # the voice deleted last (Undo)

        with gr.Row(elem_id="header"):
            gr.HTML("<div class='brand'><span class='logo' aria-hidden='true'>B</span><div><h1>Bark Studio</h1>"
                    "<p>Expressive text-to-audio with Suno's Bark — speech, laughter, music, voices.</p></div></div>")
            c["engine_badge"] = gr.HTML(elem_id="engine-badge")

        with gr.Column(visible=not holder.ready, elem_id="setup-panel") as c["setup_panel"], gr.Group():
            c["setup_md"] = gr.Markdown(first_run_text(holder))
            with gr.Row():
                b["download_btn"] = gr.Button("Download the model", variant="primary", elem_id="download-btn", scale=0)
                c["setup_status"] = gr.Markdown(elem_id="setup-status")

        with gr.Tabs(elem_id="main-tabs") as c["tabs"]:
            with gr.Tab("Studio", id="studio", elem_id="tab-studio"):
                with gr.Row(equal_height=False, elem_id="studio-row"):
                    with gr.Column(scale=3, min_width=320, elem_id="editor-col"):
                        c["text"] = gr.Textbox(
                            label="Prompt", lines=6, max_lines=20, elem_id="prompt",
                            placeholder="Type what Bark should say, sing or do…  e.g. Well... [sighs] I guess you're RIGHT. [laughs]")
                        gr.HTML("<div class='tag-palette' role='toolbar' aria-label='Insert a tag'>" + "".join(
                            f"<button type='button' class='tag-btn' data-bark-tag='{html.escape(t, quote=True)}' "
                            f"title='{html.escape(tip, quote=True)}'>{html.escape(t)}</button>" for t, tip in TAGS)
                                + "</div>", elem_id="tag-palette")
                        c["estimate"] = gr.Markdown(f"<span class='muted'>{tab_generate.PROMPT_HINT}</span>",
                                                    elem_id="estimate")
                        gr.Examples(EXAMPLES, inputs=[c["text"]], label="Examples")
                        with gr.Column(elem_id="controls"), gr.Group():
                            with gr.Row():
                                for s in table.SETTINGS:
                                    if s.section == "main" and s.widget != "none":
                                        c[s.name] = setting_widget(s, elem_id=s.name.replace("_", "-"))
                        with gr.Accordion("Advanced", open=False, elem_id="advanced") as c["advanced"]:
                            advanced = [s for s in table.SETTINGS if s.section == "advanced" and s.widget != "none"]
                            for row in range(0, len(advanced), 3):
                                with gr.Row():
                                    for s in advanced[row:row + 3]:
                                        if s.name != "seed":
                                            c[s.name] = setting_widget(s, elem_id=s.name.replace("_", "-"))
                                            continue
                                        with gr.Row(elem_id="seed-row"):
                                            c["seed"] = setting_widget(s, elem_id="seed", scale=4, min_width=80)
                                            # a die face from the common text fonts (not every machine draws emoji)
                                            b["dice_btn"] = gr.Button("⚄", size="sm", elem_id="seed-dice", scale=0,
                                                                      min_width=44)
                        with gr.Accordion("Take check: retake until it passes", open=False, elem_id="take-check"):
                            with gr.Row():
                                c["min_on_script"] = gr.Slider(
                                    0, 1, CHECK_DEFAULTS.min_on_script, step=0.05, label="On-script minimum",
                                    info="Share of the prompt's words found in the take (English only).",
                                    elem_id="min-on-script")
                                c["min_same_voice"] = gr.Slider(
                                    0, 1, CHECK_DEFAULTS.min_speaker_similarity, step=0.05,
                                    label="Same-speaker minimum", info="Similarity to the chosen voice's own audio.",
                                    elem_id="min-same-voice")
                            with gr.Row():
                                c["retake_tries"] = gr.Slider(
                                    0, MAX_RETAKES, 0, step=1, label="Retakes",
                                    info="Extra tries (new seeds) while no take passes; 0 = off.",
                                    elem_id="retake-tries")
                                c["retake_seconds"] = gr.Number(
                                    0, label="Time budget (s)", info="No retake starts once the job has run this long; 0 = no limit.",
                                    minimum=0, maximum=MAX_RETAKE_SECONDS, elem_id="retake-seconds")
                        with gr.Row(elem_id="run-row"):
                            b["gen_btn"] = gr.Button("Generate", variant="primary", size="lg", elem_id="generate-btn")
                            b["stop_btn"] = gr.Button("Stop", variant="stop", size="lg", elem_id="stop-btn")
                        c["status"] = gr.Markdown(elem_id="status")

                    with gr.Column(scale=2, min_width=300, elem_id="voice-col"):
                        gr.Markdown("### Voice")
                        filters = voice_list.default_filters(studio)
                        with gr.Row():
                            c["f_language"] = gr.Dropdown(["All", *languages], value=filters["f_language"],
                                                          label="Language", elem_id="f-language", min_width=120)
                            c["f_gender"] = gr.Dropdown(["Any", "Male", "Female"], value="Any", label="Gender",
                                                        elem_id="f-gender", min_width=100)
                            c["f_version"] = gr.Radio(["v2", "v1"], value="v2", label="Presets", elem_id="f-version",
                                                      min_width=100, info="v2 is newer and clearer.")
                        c["f_query"] = gr.Textbox(label="Search voices", placeholder=tab_voices.SEARCH_HINT,
                                                  elem_id="f-query")
                        c["voice_radio"] = gr.Radio([("No voice (random speaker)", NO_VOICE)], value=NO_VOICE,
                                                    label="Voices", elem_id="voice-gallery", show_label=False)
                        c["voice_note"] = gr.Markdown(elem_id="voice-note")
                        c["voice_md"] = gr.Markdown(voice_list.voice_details(studio, "", NO_VOICE),
                                                    elem_id="voice-details")
                        b["preview_btn"] = gr.Button("▶ Preview voice", size="sm", elem_id="preview-btn")
                        c["preview_audio"] = gr.Audio(label="Preview", type="filepath", interactive=False,
                                                      visible=False, elem_id="preview-audio")
                        # Style: named generation presets (presets/generation and the user's own)
                        b["styles"] = tab_presets.build_style_panel(
                            demo, store.root, {n: c[n] for n in tab_generate.UI_SETTINGS})
                        with gr.Accordion("My voices: upload, rename, delete", open=False, elem_id="my-voices"):
                            c["upload"] = gr.File(label="Upload a Bark voice (.npz)", file_types=[".npz"],
                                                  type="filepath", elem_id="voice-upload")
                            c["upload_name"] = gr.Textbox(label="Name for the uploaded voice", elem_id="upload-name")
                            b["upload_btn"] = gr.Button("Add uploaded voice", size="sm", elem_id="upload-btn")
                            gr.Markdown("<span class='muted'>Select one of your voices (★) above, then:</span>")
                            c["rename_box"] = gr.Textbox(label="New name", elem_id="rename-box")
                            with gr.Row():
                                b["rename_btn"] = gr.Button("Rename", size="sm", elem_id="rename-btn")
                                b["delete_voice_btn"] = gr.Button("Delete voice", size="sm", variant="stop",
                                                             elem_id="delete-voice-btn")
                                c["undo_voice_btn"] = gr.Button("↶ Undo delete", size="sm", visible=False,
                                                                elem_id="voice-undo")
                            c["voice_msg"] = gr.Markdown(elem_id="voice-msg")
                        with gr.Accordion("Clone a voice from a recording", open=False, elem_id="clone-panel"):
                            gr.Markdown("<span class='muted'>5–10 s of one person speaking clearly, ending at the end "
                                        "of a sentence, works best. Only the window below is used.</span>")
                            c["clone_audio"] = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                                        label="Recording", elem_id="clone-audio")
                            c["clone_wave"] = gr.HTML(elem_id="clone-wave")  # drag the window (clone_window.js)
                            with gr.Row():
                                c["clone_start"] = gr.Number(None, label="Window start (s)", minimum=0,
                                                             elem_id="clone-start")
                                c["clone_seconds"] = gr.Number(None, label="Window length (s)", minimum=0,
                                                               maximum=30, elem_id="clone-seconds")
                            c["clone_name"] = gr.Textbox(label="Name", placeholder="e.g. Grandpa reading",
                                                         elem_id="clone-name")
                            with gr.Row():
                                b["clone_preview_btn"] = gr.Button("▶ Hear the clone", size="sm",
                                                                   elem_id="clone-preview-btn", interactive=False)
                                b["clone_save_btn"] = gr.Button("Save to My voices", size="sm", variant="primary",
                                                                elem_id="clone-save-btn", interactive=False)
                            c["clone_preview"] = gr.Audio(label="The clone says a test sentence", interactive=False,
                                                          elem_id="clone-preview")
                            c["clone_msg"] = gr.Markdown(elem_id="clone-msg")

                with gr.Column(elem_id="results"):
                    with gr.Row(elem_id="results-head"):
                        c["results_title"] = gr.Markdown(
                            "### Results\n<span class='muted'>Your takes will appear here.</span>", elem_id="results-title")
                        c["best_first"] = gr.Checkbox(False, label="Best first", scale=0, min_width=120,
                                                      elem_id="best-first",
                                                      info="Order takes by their check (passing, on script, voice).")
                    b["result_slots"] = [take_slot(i, "take", c) for i in range(MAX_TAKES)]

            with gr.Tab("History", id="history", elem_id="tab-history"):
                with gr.Row():
                    c["history_search"] = gr.Textbox(label="Search prompts", elem_id="history-search", scale=3)
                    c["starred_only"] = gr.Checkbox(False, label="Starred only", scale=0, min_width=140)
                    b["refresh_btn"] = gr.Button("↻ Refresh", size="sm", scale=0, min_width=100)
                    c["undo_delete_btn"] = gr.Button("↶ Undo delete", size="sm", scale=0, min_width=160,
                                                     visible=False, elem_id="history-undo")
                c["history_table"] = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, wrap=True,
                                                  elem_id="history-table",
                                                  column_widths=["5%", "17%", "38%", "18%", "7%", "8%", "7%"])
                c["storage_md"] = gr.Markdown(elem_id="storage-use", elem_classes=["muted"])  # use vs limits
                with gr.Column(visible=False, elem_id="history-detail") as c["detail_group"], gr.Group():
                    c["detail_md"] = gr.Markdown(elem_id="detail-md")
                    with gr.Row():
                        b["reuse_hist_btn"] = gr.Button("Reuse settings", size="sm", elem_id="history-reuse")
                        c["star_btn"] = gr.Button("☆ Star", size="sm", elem_id="history-star")
                        b["export_zip_btn"] = gr.Button("⬇ Export (zip)", size="sm", elem_id="history-export")
                        b["delete_gen_btn"] = gr.Button("Delete", size="sm", variant="stop", elem_id="history-delete")
                    c["export_file"] = gr.File(label="Export: audio, voices and settings", visible=False,
                                               interactive=False, elem_id="history-export-file")
                    b["history_slots"] = [take_slot(i, "hist", c) for i in range(MAX_TAKES)]

            b["timeline_tab"] = tab_timeline.build_timeline_tab(studio)

            with gr.Tab("Models", id="models", elem_id="tab-models"):
                c["models_info"] = gr.Markdown(elem_id="models-info")
                defaults = model_defaults(holder.settings, holder.engine)
                with gr.Row(elem_id="model-sizes"):  # three abreast on a laptop, stacked on a phone
                    for s in STAGES:
                        c[f"size_{s}"] = gr.Radio(SIZE_CHOICES, value=defaults["sizes"][s], label=SIZE_LABEL[s],
                                                  elem_id=f"size-{s}", min_width=200)
                gr.Markdown(f"<span class='muted'>{html.escape(SIZE_HINT)}</span>", elem_id="size-hint")
                with gr.Row():
                    devices = tab_models.device_choices()
                    c["m_device"] = gr.Dropdown(devices, value=defaults["device"] if defaults["device"] in devices
                                                else "auto", label="Device", elem_id="m-device")
                    c["m_dtype"] = gr.Dropdown(tab_models.DTYPES, value=defaults["dtype"], label="Precision",
                                               elem_id="m-dtype")
                    c["m_place"] = gr.Dropdown(tab_models.PLACEMENTS, value=defaults["placement"], label="Placement",
                                               elem_id="m-place")
                c["m_estimate"] = gr.Markdown(elem_id="memory-estimate")
                b["reload_btn"] = gr.Button("Reload model", variant="primary", interactive=allow_model_changes,
                                       elem_id="reload-btn")
                c["fast_btn"] = gr.Button(tab_models.FAST_LABELS[False], visible=False, elem_id="fast-mode-btn",
                                          interactive=allow_model_changes)  # label and visibility: loaded_controls
                c["m_status"] = gr.Markdown(elem_id="m-status")
                if not allow_model_changes:
                    gr.Markdown("<span class='muted'>Model changes are turned off on this shared deployment.</span>")

        with gr.Group(visible=False):  # the API's inputs and outputs
            a = api.api_components()
            a["limit"] = gr.Number(20)
            a["files"] = gr.File(file_count="multiple")
            a["scores"] = gr.JSON()
            a["history"] = gr.JSON()
            a["history_files"] = gr.File(file_count="multiple")
            a["clone_file"] = gr.File()
            a["clone_name"] = gr.Textbox("")
            a["clone_result"] = gr.JSON()
            b["api_btn"] = gr.Button()
            b["api_hist_btn"] = gr.Button()
            b["api_clone_btn"] = gr.Button()
            x = {"gen_id": gr.Textbox(""), "take": gr.Number(0), "format": gr.Textbox("wav"),
                 "normalize": gr.Number(None), "trim_silence": gr.Checkbox(False), "fade_ms": gr.Number(0)}
            a.update({f"export_{k}": v for k, v in x.items()})
            a["export_file"] = gr.File()
            b["api_export_btn"] = gr.Button()

        _wire(demo, studio, c, a, b)

    for fn in demo.fns.values():  # every tab's engine events share one limit (Gradio keeps a group's lowest)
        if fn.concurrency_id == "engine":
            fn.concurrency_limit = engine_concurrency
    for fn in demo.fns.values():  # only the documented endpoints are callable by API clients
        if fn.api_name not in API_ENDPOINTS:
            fn.api_visibility = "private"
    demo.queue(max_size=queue_size, default_concurrency_limit=4)
    guard_inputs(demo)  # Gradio's own input checks answer sentences and log no value
    demo.studio = studio  # for tests and app.py
    return demo


def _wire(demo: gr.Blocks, studio: Studio, c: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> None:
    """Connect every event. ``c``: named UI components; ``a``: API components; ``b``: buttons and take slots."""
    def pick(*names: str) -> dict[str, Any]:
        return {n: c[n] for n in names}

    ui_settings = pick(*tab_generate.UI_SETTINGS)
    filters = pick("f_language", "f_gender", "f_version", "f_query")
    list_outputs = pick("voice_radio", "voice_note")
    sizes = {f"size_{s}": c[f"size_{s}"] for s in STAGES}
    model_controls = {**sizes, **pick("m_device", "m_dtype", "m_place")}
    slots = {k: v for k, v in c.items() if k.startswith(("take", "hist")) and "_" in k}
    take_outputs = {k: v for k, v in slots.items() if k.startswith("take")}
    history_outputs = pick("history_table", "history_ids", "storage_md")
    detail_outputs = {**pick("selected_gen", "detail_group", "detail_md", "star_btn", "export_file"),
                      **{k: v for k, v in slots.items() if k.startswith("hist")}}
    load_outputs = {**pick("engine_badge", "setup_panel", "models_info", "voice", "voice_radio", "voice_note"),
                    **model_controls, **pick("fast_btn")}

    def on(trigger, fn, inputs, outputs, **kw):
        return connect(trigger, bind(fn, studio=studio), inputs, outputs, **kw)

    # the API first, so its endpoints get their names before any UI event could take them
    api_defaults = {"voice": "", **{s.name: s.default for s in api.API_SETTINGS}, "preset": ""}
    api_inputs = {k: v for k, v in a.items() if k in ("text", "voice") or k in api_defaults}
    on(b["api_btn"].click, bind(api.api_generate, presets=b["styles"].store), api_inputs,
       {"files": a["files"], "scores": a["scores"]}, api=True, defaults=api_defaults,
       api_name="generate", **ENGINE)
    on(b["api_hist_btn"].click, api.api_history, {"limit": a["limit"]},
       {"history": a["history"], "history_files": a["history_files"]}, api=True, defaults={"limit": 20},
       api_name="history")

    on(b["api_clone_btn"].click, api.api_clone, {"audio_file": a["clone_file"], "name": a["clone_name"]},
       {"voice": a["clone_result"]}, api=True, defaults={"name": ""}, api_name="clone", **ENGINE)

    export_inputs = {k: a[f"export_{k}"] for k in ("gen_id", *api.EXPORT_DEFAULTS)}
    on(b["api_export_btn"].click, api.api_export, export_inputs, {"export": a["export_file"]}, api=True,
       defaults=api.EXPORT_DEFAULTS, api_name="export", **QUICK)

    # page load: the settings and prompt this browser kept (set as values, in the browser), then what it owns
    # (its bark_owner cookie), the voice it chose and what is loaded (webui.remember, webui.page_load)
    kept = pick(*remember.KEPT_NAMES, "text")
    demo.load(None, list(kept.values()), [*kept.values(), c["advanced"]], js=remember.restore_js())
    loaded = on(demo.load, page_load.on_load, {"saved_voice": c["saved_voice"]},
                {**pick("setup_md", "voice_md", "results_title", "results"), **load_outputs, **history_outputs,
                 **filters, **take_outputs}, js=remember.saved_voice_js(), **QUICK)
    connect(loaded.then, tab_models.estimate_memory, model_controls, pick("m_estimate"), **QUICK)
    for comp in kept.values():
        comp.change(None, list(kept.values()), None, js=remember.save_settings_js())
    c["voice_radio"].change(None, [c["voice_radio"]], None, js=remember.save_voice_js())
    b["dice_btn"].click(None, None, [c["seed"]], js=f"() => String(Math.floor(Math.random() * {table.MAX_SEED + 1}))")
    b["timeline_tab"].wire_load(demo.load)  # the timeline this browser had open, reopened

    # prompt and generation
    on(c["text"].change, tab_generate.estimate_prompt, pick("text"), pick("estimate"), trigger_mode="always_last",
       **QUICK)
    gen_outputs = {**pick("status", "results_title", "results"), **history_outputs, **take_outputs}
    arm_event = on(b["gen_btn"].click, tab_generate.arm_generate,
                   pick("text", "takes", "max_seconds", *tab_generate.CHECK_OPTIONS), pick("status"), **QUICK)
    connect(arm_event.then, bind(tab_generate.generate, studio=studio), {**pick("text", "voice"), **ui_settings},
            gen_outputs, show_progress_on=[c["results_title"]], api_visibility="private", **ENGINE)
    on(c["best_first"].change, tab_generate.reorder_results, pick("results", "best_first"),
       {**take_outputs, **pick("results")}, **QUICK)
    on(b["stop_btn"].click, job_control.stop, {}, {}, queue=False)  # never waits behind the job it stops

    # reuse, save as voice
    reuse_outputs = {**pick("text", "voice", "tabs", "status"), **ui_settings}
    save_outputs = {**pick("voice", "voice_md", "status"), **list_outputs}
    for i, s in enumerate(b["result_slots"]):  # Results' card i shows results["shown"][i]
        connect(s["reuse"].click, bind(tab_generate.reuse_result, studio=studio, index=i), pick("results"),
                reuse_outputs, **QUICK)
        connect(s["save"].click, bind(tab_generate.save_take_as_voice, studio=studio, index=i),
                {**pick("results"), **filters}, save_outputs, **QUICK)
        connect(s["star"].click, bind(tab_generate.star_result, studio=studio, index=i), pick("results"),
                {**pick("status"), **history_outputs}, **QUICK)
    regen_outputs = {**gen_outputs, **pick("tabs")}
    for i, s in enumerate(b["result_slots"]):  # the take again, alone (its own seed), as a new generation
        armed = on(s["regen"].click, job_control.arm, {}, {}, **QUICK)
        connect(armed.then, bind(tab_generate.regenerate_result, studio=studio, index=i),
                pick("results", "best_first"), regen_outputs, show_progress_on=[c["results_title"]],
                api_visibility="private", **ENGINE)
    for i, s in enumerate(b["history_slots"]):
        armed = on(s["regen"].click, job_control.arm, {}, {}, **QUICK)
        connect(armed.then, bind(tab_generate.regenerate, studio=studio, index=i),
                {"gen_id": c["selected_gen"], **pick("best_first")}, regen_outputs,
                show_progress_on=[c["results_title"]], api_visibility="private", **ENGINE)
    for i, s in enumerate(b["result_slots"]):  # "Open in timeline": the take's segments, each editable
        b["timeline_tab"].wire_open(s["timeline"].click, c["results"], i, c["tabs"], resolve=take_cards.result_ref)
    for i, s in enumerate(b["history_slots"]):
        b["timeline_tab"].wire_open(s["timeline"].click, c["selected_gen"], i, c["tabs"])
    for i, s in enumerate(b["history_slots"]):
        on(s["reuse"].click, tab_generate.reuse, {"gen_id": c["selected_gen"]}, reuse_outputs, **QUICK)
        connect(s["save"].click, bind(tab_generate.save_history_take_as_voice, studio=studio, index=i),
                {"gen_id": c["selected_gen"], **filters}, save_outputs, **QUICK)
    on(b["reuse_hist_btn"].click, tab_generate.reuse, {"gen_id": c["selected_gen"]},
       reuse_outputs, **QUICK)
    on(c["voice"].change, tab_voices.show_voice, pick("voice"), pick("voice_md"), **QUICK)

    # voices
    for f in ("f_language", "f_gender", "f_version", "f_query"):
        on(c[f].change, voice_list.voice_list, {**pick("voice"), **filters}, list_outputs,
           trigger_mode="always_last", **QUICK)
    on(c["voice_radio"].change, tab_voices.pick_voice, {**pick("voice"), "picked": c["voice_radio"]},
       pick("voice", "voice_md", "preview_audio"), **QUICK)
    preview_arm = on(b["preview_btn"].click, job_control.arm, {}, {}, **QUICK)
    connect(preview_arm.then, bind(tab_voices.preview, studio=studio), pick("voice"), pick("preview_audio"),
            api_visibility="private", **ENGINE)
    voice_outputs = {**pick("voice", "voice_md", "voice_msg"), **list_outputs}
    on(b["upload_btn"].click, tab_voices.add_uploaded, {**pick("upload", "upload_name"), **filters},
       {**voice_outputs, **pick("upload", "upload_name")})
    on(b["rename_btn"].click, tab_voices.rename_voice,
       {**pick("voice"), "new_name": c["rename_box"], **filters}, {**voice_outputs, **pick("rename_box")})
    voice_undo = pick("undo_voice", "undo_voice_btn")
    on(b["delete_voice_btn"].click, tab_voices.delete_voice, {**pick("voice"), **filters},
       {**voice_outputs, **voice_undo})
    on(c["undo_voice_btn"].click, tab_voices.undo_delete_voice, {**pick("undo_voice"), **filters},
       {**voice_outputs, **voice_undo})

    # cloning
    clone_window = pick("clone_audio", "clone_start", "clone_seconds")
    on(c["clone_audio"].change, tab_clone.inspect_recording, pick("clone_audio"),
       {**pick("clone_start", "clone_seconds", "clone_msg", "clone_name", "clone_preview", "clone_wave"),
        **{k: b[k] for k in ("clone_preview_btn", "clone_save_btn")}}, **QUICK)
    on(b["clone_preview_btn"].click, tab_clone.preview_clone, clone_window, pick("clone_preview", "clone_msg"),
       api_visibility="private", **ENGINE)
    on(b["clone_save_btn"].click, tab_clone.save_clone, {**clone_window, **pick("clone_name"),
                                                         **filters},
       {**pick("voice", "voice_md", "clone_msg"), **list_outputs}, api_visibility="private", **ENGINE)

    # history
    history_in = {"starred_only": c["starred_only"], "search": c["history_search"]}
    for trigger in (b["refresh_btn"].click, c["starred_only"].change, c["history_search"].submit):
        on(trigger, tab_history.list_history, history_in, history_outputs, **QUICK)
    on(c["history_table"].select, tab_history.select_row, pick("history_ids"), detail_outputs, **QUICK)
    selected = {"selected_gen": c["selected_gen"], "starred_only": c["starred_only"],
                "search": c["history_search"]}
    on(b["export_zip_btn"].click, tab_history.export_zip, {"selected_gen": c["selected_gen"]},
       pick("export_file"), **QUICK)
    on(c["star_btn"].click, tab_history.toggle_star, selected, {**history_outputs, **detail_outputs}, **QUICK)
    undo_outputs = pick("undo_gen", "undo_delete_btn")
    on(b["delete_gen_btn"].click, tab_history.delete_generation, selected,
       {**history_outputs, **detail_outputs, **undo_outputs})
    on(c["undo_delete_btn"].click, tab_history.undo_delete,
       {"undo_gen": c["undo_gen"], "starred_only": c["starred_only"], "search": c["history_search"]},
       {**history_outputs, **detail_outputs, **undo_outputs})

    # models
    for comp in model_controls.values():
        connect(comp.change, tab_models.estimate_memory, model_controls, pick("m_estimate"), **QUICK)
    on(b["reload_btn"].click, tab_models.reload_model, {**model_controls, **filters},
       {**load_outputs, **pick("m_status")}, api_visibility="private", **ENGINE)
    on(c["fast_btn"].click, tab_models.switch_fast_mode, {**filters},
       {**load_outputs, **pick("m_status")}, api_visibility="private", **ENGINE)
    on(b["download_btn"].click, tab_models.download_model, {**filters},
       {**load_outputs, **pick("setup_status")}, api_visibility="private", **ENGINE)
