"""The Bark Studio Gradio app: prompt editor, voices, generation, results, history, models.

``build_demo(engine_or_holder, data_dir=...)`` returns a ``gr.Blocks``; ``launch_options``
gives the launch keywords it needs (CSS, the tag-palette script, safe file paths).
The engine is injected; it may be ``None`` when the weights are missing (first run).
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import random
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr

from .engine_holder import STAGES, EngineHolder
from .formatting import details_md, fmt_bytes, history_rows, short, take_info
from .model_settings import engine_sizes, first_run_text, model_defaults, reload_settings, sizes_dict
from .store import Store
from .studio import (MAX_TEXT_CHARS, NO_VOICE, SAMPLE_RATE, Studio, preset_catalog_or_empty, storage_error,
                     text_too_long, user_error)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MAX_TAKES = 8
MAX_SEED = 2**32 - 1
HISTORY_LIMIT = 200
VOICE_UPLOAD_MAX_BYTES = 4 * 1024 * 1024

# (tag, tooltip) for the palette; inserted at the caret by webui/palette.js.
TAGS: list[tuple[str, str]] = [
    ("[laughter]", "Laughter, as from an audience or a group"),
    ("[laughs]", "The speaker laughs"),
    ("[sighs]", "The speaker sighs"),
    ("[music]", "Background music"),
    ("[gasps]", "The speaker gasps"),
    ("[clears throat]", "The speaker clears their throat"),
    ("—", "Em dash: a hesitation or a break in the sentence"),
    ("...", "Ellipsis: a pause or trailing off"),
    ("♪", "Wrap lyrics in ♪ to make Bark sing them"),
    ("[MAN]", "Bias the speaker towards a male voice"),
    ("[WOMAN]", "Bias the speaker towards a female voice"),
]

EXAMPLES = [
    "Hello, my name is Suno. And, uh — and I like pizza. [laughs] But I also have other interests such as playing tic tac toe.",
    "♪ In the jungle, the mighty jungle, the lion barks tonight ♪",
    "[clears throat] Ladies and gentlemen... WELCOME to the show! [laughter]",
    "I have a silky smooth voice, and today I will tell you about the exercise regimen of the common sloth. [sighs]",
    "Buenos días. Hoy hace un día MUY bonito, ¿no crees? [laughs]",
]

STAGE_LABEL = {"semantic": "Semantic tokens (text → meaning)", "coarse": "Coarse audio tokens",
               "fine": "Fine audio tokens", "decode": "Decoding audio"}
SIZE_CHOICES = [("Large", "large"), ("Small", "small")]
SIZE_LABEL = {"semantic": "Semantic model", "coarse": "Coarse model", "fine": "Fine model"}
SIZE_HINT = ("A small fine or coarse model saves memory with little quality loss; "
             "the semantic model matters most for what is said.")
HISTORY_HEADERS = ["★", "When", "Prompt", "Voice", "Takes", "Length", "Seed"]


def _session_key(request: Optional[gr.Request]) -> str:
    sh = getattr(request, "session_hash", None) if request is not None else None
    return sh or "anonymous"


def _api_owner(request: Optional[gr.Request]) -> str:
    """API clients are isolated by their session: each gradio_client.Client has its own."""
    return "api:" + _session_key(request)


def launch_options(data_dir: str | Path) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: styling, the palette script, and safe file serving.

    Only the audio and preview folders are served; the database and secrets beside them are not.
    """
    store_root = Path(data_dir).resolve()
    return dict(
        css_paths=[HERE / "style.css"],
        head=f"<script>{(HERE / 'palette.js').read_text(encoding='utf-8')}</script>",
        allowed_paths=[str(store_root / "audio"), str(store_root / "previews")],
        blocked_paths=[str(store_root / "studio.sqlite3"), str(store_root / "browser-secret")],
        show_error=False,
        max_file_size="8mb",
        theme=gr.themes.Soft(primary_hue="violet", secondary_hue="indigo", neutral_hue="slate",
                             font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]),
    )


def _browser_secret(root: Path) -> str:
    """A persistent secret so the owner id in localStorage survives a server restart."""
    path = root / "browser-secret"
    if path.is_file():
        value = path.read_text().strip()
        if len(value) >= 16:
            return value
    value = secrets.token_urlsafe(32)
    tmp = path.with_name(".browser-secret.tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    tmp.replace(path)
    return value


def build_demo(engine_or_holder: Any, *, data_dir: str | Path = "data", settings: Any = None,
               load_error: Optional[str] = None, allow_model_changes: bool = True, queue_size: int = 20,
               request_defaults: Optional[dict[str, Any]] = None,
               gpu_wrap: Optional[Callable[[Callable], Callable]] = None,
               loader: Optional[Callable[[Any, Callable[[str, float], None]], Any]] = None,
               title: str = "Bark Studio", max_text_chars: int = MAX_TEXT_CHARS) -> gr.Blocks:
    """Build the studio around an engine (or an :class:`EngineHolder`, or ``None`` when weights are missing).

    ``settings`` are the ``EngineSettings`` the engine was (or would be) loaded with; ``load_error``
    the message to show when it could not be loaded. ``gpu_wrap`` wraps the function that drives the
    engine (``spaces.GPU`` on ZeroGPU). ``request_defaults`` fill ``GenerationRequest`` fields the
    user left unset (e.g. ``max_seconds`` from ``--max-seconds``; tests use it to keep audio short).
    """
    if isinstance(engine_or_holder, EngineHolder):
        holder = engine_or_holder
    else:
        holder = EngineHolder(engine_or_holder, settings=settings, error=load_error, loader=loader)
    store = Store(data_dir)
    studio = Studio(holder, store, allow_model_changes=allow_model_changes,
                    request_defaults=request_defaults, gpu_wrap=gpu_wrap, max_text_chars=max_text_chars)
    languages = sorted({p.language_name for p in studio.catalog})

    with gr.Blocks(title=title, fill_width=False) as demo:
        owner = gr.BrowserState(None, storage_key="bark-studio-owner", secret=_browser_secret(store.root))
        voice_ref = gr.State(NO_VOICE)
        current_gen = gr.State(None)
        history_ids = gr.State([])
        selected_gen = gr.State(None)

        # ---- header --------------------------------------------------------------
        with gr.Row(elem_id="header"):
            gr.HTML("<div class='brand'><span class='logo' aria-hidden='true'>B</span><div><h1>Bark Studio</h1>"
                    "<p>Expressive text-to-audio with Suno's Bark — speech, laughter, music, voices.</p></div></div>")
            engine_badge = gr.HTML(elem_id="engine-badge")

        # ---- first run -----------------------------------------------------------
        with gr.Group(visible=not holder.ready, elem_id="setup-panel") as setup_panel:
            setup_md = gr.Markdown(first_run_text(holder))
            with gr.Row():
                download_btn = gr.Button("Download the model", variant="primary", elem_id="download-btn", scale=0)
                setup_status = gr.Markdown(elem_id="setup-status")

        with gr.Tabs(elem_id="main-tabs") as tabs:
            # ================================ Studio ==============================
            with gr.Tab("Studio", id="studio", elem_id="tab-studio"):
                with gr.Row(equal_height=False, elem_id="studio-row"):
                    with gr.Column(scale=3, min_width=320, elem_id="editor-col"):
                        prompt = gr.Textbox(
                            label="Prompt", lines=6, max_lines=20, elem_id="prompt",
                            placeholder="Type what Bark should say, sing or do…  e.g. Well... [sighs] I guess you're RIGHT. [laughs]",
                        )
                        gr.HTML(
                            "<div class='tag-palette' role='toolbar' aria-label='Insert a tag'>"
                            + "".join(
                                f"<button type='button' class='tag-btn' data-bark-tag='{html.escape(t, quote=True)}' "
                                f"title='{html.escape(tip, quote=True)}'>{html.escape(t)}</button>"
                                for t, tip in TAGS)
                            + "</div>", elem_id="tag-palette")
                        estimate_md = gr.Markdown("Tip: CAPITALS add emphasis. Tags insert at the cursor.",
                                                  elem_id="estimate")
                        gr.Examples(EXAMPLES, inputs=[prompt], label="Examples")

                        with gr.Group(elem_id="controls"):
                            with gr.Row():
                                semantic_temp = gr.Slider(0.05, 1.5, 0.7, step=0.05, label="Semantic temperature",
                                                          info="What is said and how: higher = more varied, riskier.")
                                coarse_temp = gr.Slider(0.05, 1.5, 0.7, step=0.05, label="Coarse temperature",
                                                        info="Voice and prosody: higher = more expressive, less stable.")
                                fine_temp = gr.Slider(0.05, 1.5, 0.5, step=0.05, label="Fine temperature",
                                                      info="Audio detail: rarely worth changing.")
                        with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                            with gr.Row():
                                top_k = gr.Number(0, precision=0, minimum=0, label="Top-k",
                                                  info="Keep only the k likeliest tokens (0 = off).")
                                top_p = gr.Slider(0.05, 1.0, 1.0, step=0.01, label="Top-p",
                                                  info="Nucleus sampling (1 = off).")
                                min_eos_p = gr.Slider(0.01, 1.0, 0.2, step=0.01, label="Min EOS probability",
                                                      info="Lower = ends sooner; higher = runs on longer.")
                            with gr.Row():
                                seed = gr.Number(None, precision=0, minimum=0, maximum=MAX_SEED, label="Seed",
                                                 elem_id="seed", info="Same seed + settings = same audio.")
                                lock_seed = gr.Checkbox(False, label="Lock seed", elem_id="lock-seed",
                                                        info="Off: a new random seed every time.")
                                takes = gr.Slider(1, MAX_TAKES, 1, step=1, label="Takes", elem_id="takes",
                                                  info="Variations made in one batch.")
                            with gr.Row():
                                segment_pause = gr.Slider(0.0, 2.0, 0.25, step=0.05, label="Pause between segments (s)",
                                                          info="Long text is split into sentences, joined with this pause.")
                                early_stop = gr.Checkbox(True, label="Stop at end of speech",
                                                         info="Off: always run to the maximum length.")
                                max_seconds = gr.Number(0, minimum=0, label="Max seconds per segment",
                                                        info="0 = Bark's limit (about 14 s).", elem_id="max-seconds")
                        with gr.Row(elem_id="run-row"):
                            gen_btn = gr.Button("Generate", variant="primary", size="lg", elem_id="generate-btn")
                            stop_btn = gr.Button("Stop", variant="stop", size="lg", elem_id="stop-btn")
                        status_md = gr.Markdown(elem_id="status")

                    with gr.Column(scale=2, min_width=300, elem_id="voice-col"):
                        gr.Markdown("### Voice")
                        with gr.Row():
                            f_language = gr.Dropdown(["All", *languages], value="English" if "English" in languages else "All",
                                                     label="Language", elem_id="f-language", min_width=120)
                            f_gender = gr.Dropdown(["Any", "Male", "Female"], value="Any", label="Gender",
                                                   elem_id="f-gender", min_width=100)
                            f_version = gr.Radio(["v2", "v1"], value="v2", label="Presets", elem_id="f-version",
                                                 min_width=100, info="v2 is newer and clearer.")
                        f_query = gr.Textbox(label="Search descriptions", placeholder="e.g. narrator, calm, deep",
                                             elem_id="f-query")
                        voice_radio = gr.Radio([("No voice (random speaker)", NO_VOICE)], value=NO_VOICE,
                                               label="Voices", elem_id="voice-gallery", show_label=False)
                        voice_md = gr.Markdown(studio.voice_details("", NO_VOICE), elem_id="voice-details")
                        with gr.Row():
                            preview_btn = gr.Button("▶ Preview voice", size="sm", elem_id="preview-btn")
                        preview_audio = gr.Audio(label="Preview", type="filepath", interactive=False, visible=False,
                                                 elem_id="preview-audio")
                        with gr.Accordion("My voices: upload, rename, delete", open=False, elem_id="my-voices"):
                            upload = gr.File(label="Upload a Bark voice (.npz)", file_types=[".npz"], type="filepath",
                                             elem_id="voice-upload")
                            upload_name = gr.Textbox(label="Name for the uploaded voice", elem_id="upload-name")
                            upload_btn = gr.Button("Add uploaded voice", size="sm")
                            gr.Markdown("<span class='muted'>Select one of your voices (★) above, then:</span>")
                            rename_box = gr.Textbox(label="New name", elem_id="rename-box")
                            with gr.Row():
                                rename_btn = gr.Button("Rename", size="sm")
                                delete_voice_btn = gr.Button("Delete voice", size="sm", variant="stop")
                            voice_msg = gr.Markdown()

                # ---- results ---------------------------------------------------------
                with gr.Column(elem_id="results"):
                    results_title = gr.Markdown("### Results\n<span class='muted'>Your takes will appear here.</span>")
                    result_slots = [_take_slot(i, "take") for i in range(MAX_TAKES)]

            # ================================ History =============================
            with gr.Tab("History", id="history", elem_id="tab-history"):
                with gr.Row():
                    starred_only = gr.Checkbox(False, label="Starred only", scale=0, min_width=140)
                    refresh_btn = gr.Button("↻ Refresh", size="sm", scale=0, min_width=100)
                history_table = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, wrap=True,
                                             elem_id="history-table", column_widths=["5%", "17%", "38%", "18%", "7%", "8%", "7%"])
                with gr.Group(visible=False, elem_id="history-detail") as detail_group:
                    detail_md = gr.Markdown(elem_id="detail-md")
                    with gr.Row():
                        reuse_hist_btn = gr.Button("Reuse settings", size="sm", elem_id="history-reuse")
                        star_btn = gr.Button("☆ Star", size="sm", elem_id="history-star")
                        delete_gen_btn = gr.Button("Delete", size="sm", variant="stop", elem_id="history-delete")
                    history_slots = [_take_slot(i, "hist") for i in range(MAX_TAKES)]

            # ================================ Models ==============================
            with gr.Tab("Models & memory", id="models", elem_id="tab-models"):
                models_info = gr.Markdown(elem_id="models-info")
                defaults = model_defaults(holder.settings, holder.engine)
                with gr.Row(elem_id="model-sizes"):  # three abreast on a laptop, stacked on a phone
                    m_sizes = [gr.Radio(SIZE_CHOICES, value=defaults["sizes"][s], label=SIZE_LABEL[s],
                                        elem_id=f"size-{s}", min_width=200) for s in STAGES]
                gr.Markdown(f"<span class='muted'>{html.escape(SIZE_HINT)}</span>", elem_id="size-hint")
                with gr.Row():
                    m_device = gr.Dropdown(["auto", "cuda", "mps", "cpu"], value=defaults["device"], label="Device",
                                           elem_id="m-device")
                    m_dtype = gr.Dropdown(["float32", "bfloat16", "float16"], value=defaults["dtype"], label="Precision",
                                          elem_id="m-dtype")
                    m_place = gr.Dropdown([("All on GPU", "resident"), ("Stage-by-stage offload", "offload"),
                                           ("CPU only", "cpu")], value=defaults["placement"], label="Placement",
                                          elem_id="m-place")
                m_estimate = gr.Markdown(elem_id="memory-estimate")
                reload_btn = gr.Button("Reload model", variant="primary", interactive=allow_model_changes,
                                       elem_id="reload-btn")
                m_status = gr.Markdown()
                if not allow_model_changes:
                    gr.Markdown("<span class='muted'>Model changes are turned off on this shared deployment.</span>")

        # ---- API-only endpoints (hidden components) ---------------------------------
        with gr.Group(visible=False):
            a_text = gr.Textbox()
            a_voice = gr.Textbox("")
            a_st = gr.Number(0.7)
            a_ct = gr.Number(0.7)
            a_ft = gr.Number(0.5)
            # No precision=0 here: Gradio's rounding fails on NaN/inf without a message; Studio.make_request explains.
            a_seed = gr.Number(None)
            a_takes = gr.Number(1)
            a_files = gr.File(file_count="multiple")
            a_limit = gr.Number(20, precision=0)
            a_history = gr.JSON()
            a_hist_files = gr.File(file_count="multiple")
            api_btn = gr.Button()
            api_hist_btn = gr.Button()

        # ---- API for scripts ----------------------------------------------------------
        def api_generate(text, voice="", semantic_temp=0.7, coarse_temp=0.7, fine_temp=0.5, seed=None, takes=1,
                         request: gr.Request = None):
            """Generate audio. Returns a list of WAV files, one per take (24 kHz mono)."""
            who = _api_owner(request)
            ref = ""
            if voice:
                v = str(voice).strip()
                ref = v if v.startswith(("preset:", "user:")) else f"preset:{v}"
            req = studio.make_request(text, None, semantic_temp=semantic_temp, coarse_temp=coarse_temp,
                                      fine_temp=fine_temp, seed=seed, takes=takes)
            vobj = studio.resolve_voice(who, ref)
            if vobj is not None:
                from dataclasses import replace

                req = replace(req, voice=vobj)
            key = _session_key(request)
            studio.cancels.arm(key)
            gen = studio.run_blocking(req, studio.cancels.event(key).is_set)
            rec = studio.save_generation(who, req, ref, gen)
            return [str(t.wav) for t in rec.takes]

        api_btn.click(api_generate, [a_text, a_voice, a_st, a_ct, a_ft, a_seed, a_takes], a_files,
                      api_name="generate", concurrency_limit=1, concurrency_id="engine")

        def api_history(limit=20, request: gr.Request = None):
            """The caller's own history, newest first: rows (JSON) and their audio files (flattened, in row order)."""
            who = _api_owner(request)
            n = max(1, min(int(limit or 20), HISTORY_LIMIT))
            recs = store.list_generations(who, limit=n)
            rows, files = [], []
            for r in recs:
                rows.append(dict(id=r.id, created=_dt.datetime.fromtimestamp(r.created).isoformat(timespec="seconds"),
                                 prompt=r.prompt, voice=r.voice, settings=r.settings, seed=r.seed, starred=r.starred,
                                 timings=r.timings, warnings=r.warnings,
                                 takes=[dict(seconds=t.seconds, file_index=len(files) + i) for i, t in enumerate(r.takes)]))
                files += [str(t.wav) for t in r.takes]
            return rows, files

        api_hist_btn.click(api_history, [a_limit], [a_history, a_hist_files], api_name="history", queue=False)


        # ============================ behaviour ====================================
        sampling_inputs = [semantic_temp, coarse_temp, fine_temp, top_k, top_p, min_eos_p, seed, lock_seed, takes,
                           segment_pause, early_stop, max_seconds]
        slot_outputs = [c for s in result_slots for c in (s["group"], s["audio"], s["info"], s["download"])]

        def header_html() -> str:
            if holder.engine is None:
                return "<div class='badge badge-warn'>Model not loaded</div>"
            try:
                info = holder.engine.info()
            except Exception:
                info = {}
            bits = [str(info.get(k)) for k in ("size", "device", "dtype", "placement") if info.get(k)]
            return f"<div class='badge'>● {html.escape(' · '.join(bits) or 'ready')}</div>"

        def setup_text() -> str:
            return first_run_text(holder)

        def models_md() -> str:
            if holder.engine is None:
                return "**Current model:** not loaded."
            try:
                info = holder.engine.info()
            except Exception:
                return "**Current model:** loaded."
            est = info.get("gpu_memory_estimate_bytes")
            params = info.get("params")
            size = str(info.get("size", "?"))
            sizes = info.get("sizes")
            if isinstance(sizes, dict) and size == "mixed":
                size = "mixed (" + ", ".join(f"{s} {sizes.get(s, '?')}" for s in STAGES) + ")"
            rows = [f"**Current model:** {html.escape(size)} · {info.get('device', '?')} · {info.get('dtype', '?')} · "
                    f"{info.get('placement', '?')}"]
            if isinstance(params, dict):
                params = sum(int(v) for v in params.values())
            if params:
                rows.append(f"{params / 1e6:.0f} M parameters")
            if est:
                rows.append(f"estimated GPU memory {fmt_bytes(int(est))}")
            slow = info.get("precision_warning")
            return " · ".join(rows) + (f"  \n⚠ {html.escape(slow)}" if slow else "")

        def estimate_memory(semantic: str, coarse: str, fine: str, device: str, dtype: str, place: str) -> str:
            sizes = sizes_dict(semantic, coarse, fine)
            try:
                from bark_core.placement import DTYPES, cpu_precision_warning, estimate_gpu_memory

                if place == "cpu" or device == "cpu":
                    pace = "slow" if "large" in sizes.values() else "slowish"
                    slow = cpu_precision_warning(DTYPES[dtype]) if dtype in DTYPES else None
                    return (f"**GPU memory needed:** none — runs on the CPU ({pace})."
                            + (f"  \n⚠ {html.escape(slow)}" if slow else ""))
                n = estimate_gpu_memory(sizes, dtype, place)
                saved = estimate_gpu_memory("large", dtype, place) - n
                free = ""
                try:
                    from bark_core.placement import cuda_total_memory

                    total = cuda_total_memory()
                    if total:
                        free = f" of {fmt_bytes(total)} on this GPU" + (" ⚠ may not fit" if n > total * 0.9 else " ✓")
                except Exception:
                    pass
                less = f" · {fmt_bytes(saved)} less than all large" if saved > 0 else ""
                return f"**Estimated peak GPU memory:** {fmt_bytes(n)}{free}{less}"
            except Exception as e:
                return f"<span class='muted'>No estimate available ({html.escape(str(e))}).</span>"

        def on_load(owner_token: Optional[str]):
            if not owner_token or not isinstance(owner_token, str) or len(owner_token) < 16:
                owner_token = secrets.token_urlsafe(24)
            recs = store.list_generations(owner_token, limit=HISTORY_LIMIT)
            loaded = engine_sizes(holder.engine)  # another visitor may have reloaded since the page was built
            return {
                **{r: gr.update(value=loaded[s]) if loaded else gr.update() for s, r in zip(STAGES, m_sizes)},
                owner: owner_token,
                engine_badge: header_html(),
                setup_panel: gr.update(visible=not holder.ready),
                setup_md: setup_text(),
                models_info: models_md(),
                history_table: history_rows(recs),
                history_ids: [r.id for r in recs],
                voice_radio: gr.update(choices=studio.voice_choices(owner_token, *_filters_default(languages)),
                                       value=NO_VOICE),
            }

        estimate_inputs = [*m_sizes, m_device, m_dtype, m_place]
        demo.load(on_load, [owner], [owner, engine_badge, setup_panel, setup_md, models_info, history_table,
                                     history_ids, voice_radio, *m_sizes], queue=False) \
            .then(estimate_memory, estimate_inputs, m_estimate, queue=False)

        # ---- prompt estimate --------------------------------------------------------
        def estimate(text: str) -> str:
            hint = "Tip: CAPITALS add emphasis. Tags insert at the cursor."
            if not text or not text.strip():
                return hint
            too_long = text_too_long(text, studio.max_text_chars)
            if too_long:
                return f"⚠ {html.escape(too_long)}"
            engine = holder.engine
            if engine is None:
                secs = len(text.split()) / 2.6
                return f"≈ {secs:.0f} s of audio · {hint}"
            try:
                segments, warnings = engine.split_text(text)
                secs = engine.estimate_seconds(text)
            except Exception as e:
                return f"<span class='muted'>{html.escape(str(e))}</span>"
            n = len(segments)
            seg = "1 segment" if n == 1 else f"{n} segments (generated one after another, playable as they finish)"
            warn = (" · ⚠ " + html.escape(" ".join(warnings))) if warnings else ""
            return f"≈ **{secs:.0f} s** of audio · {seg}{warn}  \n<span class='muted'>{hint}</span>"

        prompt.change(estimate, prompt, estimate_md, queue=False, trigger_mode="always_last", show_progress="hidden")

        # ---- voices -----------------------------------------------------------------
        filters = [f_language, f_gender, f_version, f_query]

        def refilter(owner_token, ref, language, gender, version, query):
            choices = studio.voice_choices(owner_token or "", language, gender, version, query)
            values = {v for _, v in choices}
            return gr.update(choices=choices, value=ref if ref in values else None)

        for f in (f_language, f_gender, f_version):
            f.change(refilter, [owner, voice_ref, *filters], voice_radio, queue=False, show_progress="hidden")
        f_query.change(refilter, [owner, voice_ref, *filters], voice_radio, queue=False, trigger_mode="always_last",
                       show_progress="hidden")

        def pick_voice(owner_token, ref, current):
            if ref is None:
                return current, gr.update(), gr.update()
            return ref, studio.voice_details(owner_token or "", ref), gr.update(visible=False, value=None)

        voice_radio.change(pick_voice, [owner, voice_radio, voice_ref], [voice_ref, voice_md, preview_audio],
                           queue=False, show_progress="hidden")

        def do_preview(owner_token, ref, request: gr.Request):
            key = _session_key(request)
            path = studio.preview(owner_token or "", ref, lambda: studio.cancels.event(key).is_set())
            return gr.update(value=path, visible=True)

        def arm(request: gr.Request):
            studio.cancels.arm(_session_key(request))

        preview_btn.click(arm, None, None, queue=False).then(
            do_preview, [owner, voice_ref], preview_audio, concurrency_limit=1, concurrency_id="engine",
            api_visibility="private")

        def refresh_voices(owner_token, ref, *f):
            return refilter(owner_token, ref, *f)

        def add_uploaded(owner_token, path, name, *f):
            if not owner_token:
                raise gr.Error("Your browser session is not ready yet; reload the page.")
            if not path:
                raise gr.Error("Choose a .npz voice file first.")
            from bark_core.voices import load_voice_npz, save_voice

            p = Path(path)
            if p.stat().st_size > VOICE_UPLOAD_MAX_BYTES:
                raise gr.Error("That file is too big to be a Bark voice (limit 4 MB).")
            try:
                voice = load_voice_npz(p, max_bytes=VOICE_UPLOAD_MAX_BYTES)
                rec = store.add_voice(owner_token, name or p.stem, voice, "upload", save_voice)
            except ValueError as e:
                raise gr.Error(str(e)) from None
            except OSError as e:
                raise storage_error(e) from None
            ref = f"user:{rec.id}"
            return (ref, studio.voice_details(owner_token, ref), refilter(owner_token, ref, *f),
                    f"Added **{html.escape(rec.name)}**.", None, "")

        upload_btn.click(add_uploaded, [owner, upload, upload_name, *filters],
                         [voice_ref, voice_md, voice_radio, voice_msg, upload, upload_name])

        def rename_voice(owner_token, ref, name, *f):
            if not ref.startswith("user:"):
                raise gr.Error("Select one of your own voices (★) to rename it.")
            try:
                ok = store.rename_voice(owner_token or "", ref[5:], name)
            except ValueError as e:
                raise gr.Error(str(e)) from None
            if not ok:
                raise gr.Error("That voice no longer exists.")
            return studio.voice_details(owner_token, ref), refilter(owner_token, ref, *f), "Renamed.", ""

        rename_btn.click(rename_voice, [owner, voice_ref, rename_box, *filters],
                         [voice_md, voice_radio, voice_msg, rename_box])

        def delete_voice(owner_token, ref, *f):
            if not ref.startswith("user:"):
                raise gr.Error("Select one of your own voices (★) to delete it.")
            store.delete_voice(owner_token or "", ref[5:])
            return (NO_VOICE, studio.voice_details(owner_token, NO_VOICE), refilter(owner_token, NO_VOICE, *f),
                    "Deleted.")

        delete_voice_btn.click(delete_voice, [owner, voice_ref, *filters], [voice_ref, voice_md, voice_radio, voice_msg])

        # ---- generate / stop ------------------------------------------------------
        def generate(owner_token, text, ref, st, ct, ft, tk, tp, eos, seed_v, lock, n_takes, pause, early, max_s,
                     request: gr.Request, progress=gr.Progress()):
            from bark_core.types import GenerationCancelled

            if not owner_token:
                raise gr.Error("Your browser session is not ready yet; reload the page.")
            key = _session_key(request)
            cancel = studio.cancels.event(key)
            use_seed = seed_v if lock and seed_v not in (None, "") else random.randint(0, MAX_SEED)
            req = studio.make_request(text, None, semantic_temp=st, coarse_temp=ct, fine_temp=ft, top_k=tk, top_p=tp,
                                      min_eos_p=eos, seed=use_seed, takes=n_takes, segment_pause_s=pause,
                                      early_stop=early, max_seconds=max_s)
            voice = studio.resolve_voice(owner_token, ref)
            if voice is not None:
                from dataclasses import replace

                req = replace(req, voice=voice)
            if cancel.is_set():
                yield {status_md: "■ Stopped before it started. Nothing was saved."}
                return
            hide = {}
            for s in result_slots:
                hide.update({s["group"]: gr.update(visible=False), s["audio"]: None})
            yield {**hide, status_md: "Starting…", seed: req.seed,
                   results_title: "### Results\n<span class='muted'>Generating…</span>"}
            progress(0.0, desc="Starting")
            last = 0.0
            for kind, payload in studio._stream(studio.engine(), req, cancel.is_set):
                if kind == "progress":
                    p = payload
                    now = time.monotonic()
                    if now - last > 0.1 or p.step == p.total:
                        last = now
                        seg = f"segment {p.segment} of {p.segments} · " if p.segments > 1 else ""
                        progress(min(1.0, p.fraction), desc=f"{seg}{STAGE_LABEL.get(p.stage, p.stage)}")
                elif kind == "segment":
                    index, n_segments, per_take = payload
                    if n_segments <= 1:
                        continue
                    upd = {status_md: f"Segment {index + 1} of {n_segments} done — playable below while the rest is made."}
                    for i, audio in enumerate(per_take[:MAX_TAKES]):
                        s = result_slots[i]
                        upd[s["group"]] = gr.update(visible=True)
                        upd[s["audio"]] = (SAMPLE_RATE, audio)
                        upd[s["info"]] = f"**Take {i + 1}** · {len(audio) / SAMPLE_RATE:.1f} s so far…"
                    yield upd
                elif kind == "error":
                    if isinstance(payload, GenerationCancelled):
                        yield {**hide, status_md: "■ Stopped. Nothing was saved.",
                               results_title: "### Results\n<span class='muted'>Stopped.</span>"}
                        return
                    raise user_error(payload)
                elif kind == "done":
                    gen = payload
                    if cancel.is_set():
                        yield {**hide, status_md: "■ Stopped. Nothing was saved."}
                        return
                    rec = studio.save_generation(owner_token, req, ref, gen)
                    upd = {current_gen: rec.id, seed: rec.seed}
                    total = rec.timings.get("total")
                    for i, s in enumerate(result_slots):
                        if i < len(rec.takes):
                            t = rec.takes[i]
                            upd.update({s["group"]: gr.update(visible=True), s["audio"]: str(t.wav),
                                        s["info"]: take_info(i, t.seconds, rec.seed, total),
                                        s["download"]: gr.update(value=str(t.wav))})
                        else:
                            upd.update({s["group"]: gr.update(visible=False)})
                    warn = ("  \n⚠ " + html.escape(" ".join(rec.warnings))) if rec.warnings else ""
                    upd[status_md] = f"✓ Done in {total or 0:.1f} s · seed {rec.seed}{warn}"
                    upd[results_title] = f"### Results\n<span class='muted'>{html.escape(short(rec.prompt, 90))}</span>"
                    recs = store.list_generations(owner_token, limit=HISTORY_LIMIT)
                    upd[history_table] = history_rows(recs)
                    upd[history_ids] = [r.id for r in recs]
                    yield upd
                    return

        gen_outputs = [status_md, seed, results_title, current_gen, history_table, history_ids, *slot_outputs]
        gen_btn.click(arm, None, None, queue=False).then(
            generate, [owner, prompt, voice_ref, *sampling_inputs], gen_outputs, show_progress_on=[status_md],
            concurrency_limit=1, concurrency_id="engine", api_visibility="private")

        def stop(request: gr.Request):
            studio.cancels.stop(_session_key(request))

        stop_btn.click(stop, None, None, queue=False, api_visibility="private")

        # ---- reuse / save-as-voice / star / delete --------------------------------
        reuse_outputs = [prompt, voice_ref, voice_md, semantic_temp, coarse_temp, fine_temp, top_k, top_p, min_eos_p,
                         seed, lock_seed, takes, segment_pause, early_stop, max_seconds, tabs]

        def reuse(owner_token, gen_id):
            rec = store.get_generation(owner_token or "", gen_id) if gen_id else None
            if rec is None:
                raise gr.Error("That generation is no longer in your history.")
            s = rec.settings
            ref = s.get("voice", "")
            if ref.startswith("user:") and store.get_voice(owner_token, ref[5:]) is None:
                gr.Warning("The voice of that generation was deleted; using no voice.")
                ref = NO_VOICE
            return (s.get("text", rec.prompt), ref, studio.voice_details(owner_token, ref), s.get("semantic_temp", 0.7),
                    s.get("coarse_temp", 0.7), s.get("fine_temp", 0.5), s.get("top_k") or 0, s.get("top_p") or 1.0,
                    s.get("min_eos_p", 0.2), rec.seed, True, s.get("takes", 1), s.get("segment_pause_s", 0.25),
                    s.get("early_stop", True), s.get("max_seconds") or 0, gr.Tabs(selected="studio"))

        def save_take_as_voice(owner_token, gen_id, index, *f):
            rec = store.get_generation(owner_token or "", gen_id) if gen_id else None
            if rec is None or index >= len(rec.takes):
                raise gr.Error("That take is no longer in your history.")
            from bark_core.voices import load_voice_npz, save_voice

            src = rec.takes[index].wav.with_suffix(".npz")
            if not src.is_file():
                raise gr.Error("That take is too short to be used as a voice; pick a longer take.")
            try:
                voice = load_voice_npz(src)
                name = f"{short(rec.prompt, 40)} (take {index + 1})"
                v = store.add_voice(owner_token, name, voice, f"generation:{gen_id}:{index}", save_voice)
            except ValueError as e:
                raise gr.Error(f"Could not save the voice: {e}") from None
            except OSError as e:
                raise storage_error(e) from None
            gr.Info(f"Saved as voice “{v.name}”. Find it under ★ in the voice list.")
            ref = f"user:{v.id}"
            return refilter(owner_token, ref, *f)

        for slots, gen_state in ((result_slots, current_gen), (history_slots, selected_gen)):
            for i, s in enumerate(slots):
                s["reuse"].click(reuse, [owner, gen_state], reuse_outputs, queue=False)
                s["save"].click(lambda o, g, *f, _i=i: save_take_as_voice(o, g, _i, *f), [owner, gen_state, *filters],
                                voice_radio, queue=False)
        reuse_hist_btn.click(reuse, [owner, selected_gen], reuse_outputs, queue=False)

        # ---- history ------------------------------------------------------------------
        hist_slot_outputs = [c for s in history_slots for c in (s["group"], s["audio"], s["info"], s["download"])]

        def list_history(owner_token, only_starred):
            recs = store.list_generations(owner_token or "", starred_only=bool(only_starred), limit=HISTORY_LIMIT) \
                if owner_token else []
            return history_rows(recs), [r.id for r in recs]

        def show_detail(owner_token, gen_id):
            rec = store.get_generation(owner_token or "", gen_id) if gen_id else None
            out: list[Any] = []
            if rec is None:
                out += [None, gr.update(visible=False), "", gr.update()]
                for s in history_slots:
                    out += [gr.update(visible=False), None, "", gr.update()]
                return out
            out += [rec.id, gr.update(visible=True), details_md(rec), "★ Starred" if rec.starred else "☆ Star"]
            total = rec.timings.get("total")
            for i, s in enumerate(history_slots):
                if i < len(rec.takes):
                    t = rec.takes[i]
                    out += [gr.update(visible=True), str(t.wav), take_info(i, t.seconds, rec.seed, total),
                            gr.update(value=str(t.wav))]
                else:
                    out += [gr.update(visible=False), None, "", gr.update()]
            return out

        detail_outputs = [selected_gen, detail_group, detail_md, star_btn, *hist_slot_outputs]

        def select_row(owner_token, ids, evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            gen_id = ids[row] if isinstance(row, int) and 0 <= row < len(ids) else None
            return show_detail(owner_token, gen_id)

        history_table.select(select_row, [owner, history_ids], detail_outputs, queue=False)
        refresh_btn.click(list_history, [owner, starred_only], [history_table, history_ids], queue=False)
        starred_only.change(list_history, [owner, starred_only], [history_table, history_ids], queue=False)

        def toggle_star(owner_token, gen_id, only_starred):
            rec = store.get_generation(owner_token or "", gen_id) if gen_id else None
            if rec is None:
                raise gr.Error("That generation is no longer in your history.")
            store.set_star(owner_token, gen_id, not rec.starred)
            return [*list_history(owner_token, only_starred), *show_detail(owner_token, gen_id)]

        star_btn.click(toggle_star, [owner, selected_gen, starred_only], [history_table, history_ids, *detail_outputs],
                       queue=False)

        def delete_gen(owner_token, gen_id, only_starred):
            if gen_id:
                store.delete_generation(owner_token or "", gen_id)
            return [*list_history(owner_token, only_starred), *show_detail(owner_token, None)]

        delete_gen_btn.click(delete_gen, [owner, selected_gen, starred_only],
                             [history_table, history_ids, *detail_outputs], queue=False)

        # ---- models ------------------------------------------------------------------
        for c in estimate_inputs:
            c.change(estimate_memory, estimate_inputs, m_estimate, queue=False)

        def after_load_updates(owner_token, *f):
            studio.catalog = preset_catalog_or_empty(holder.engine)
            studio.catalog_by_name = {p.name: p for p in studio.catalog}
            return (header_html(), gr.update(visible=not holder.ready), models_md(),
                    refilter(owner_token, NO_VOICE, *f), NO_VOICE)

        def reload_model(owner_token, semantic, coarse, fine, device, dtype, place, *f, progress=gr.Progress()):
            if not allow_model_changes:
                raise gr.Error("Model changes are turned off on this deployment.")
            base = holder.settings
            if base is None:
                raise gr.Error("No engine settings to reload from.")
            try:
                new = reload_settings(base, sizes_dict(semantic, coarse, fine), device, dtype, place)
            except ValueError as e:
                raise gr.Error(str(e)) from None
            progress(0, desc="Loading")
            try:
                holder.load(new, lambda msg, frac=None: progress(frac if frac is not None else None, desc=str(msg)))
            except Exception as e:
                log.exception("reload failed")
                raise gr.Error(f"Could not load the model: {e}") from None
            return (*after_load_updates(owner_token, *f), "✓ Loaded.")

        load_outputs = [engine_badge, setup_panel, models_info, voice_radio, voice_ref]
        reload_btn.click(reload_model, [owner, *estimate_inputs, *filters], [*load_outputs, m_status],
                         concurrency_limit=1, concurrency_id="engine", api_visibility="private")

        def download_model(owner_token, *f, progress=gr.Progress()):
            if not allow_model_changes:
                raise gr.Error("Downloads are turned off on this deployment.")
            if holder.settings is None:
                raise gr.Error("No engine settings to download for.")
            try:
                progress(0, desc="Downloading")
                holder.download(lambda msg, frac=None: progress(frac, desc=str(msg)))
                progress(0.9, desc="Loading the model")
                holder.load(holder.settings, lambda msg, frac=None: progress(frac, desc=str(msg)))
            except Exception as e:
                log.exception("download failed")
                holder.error = str(e)
                raise gr.Error(f"Download failed: {e}") from None
            return (*after_load_updates(owner_token, *f), "✓ Ready.")

        download_btn.click(download_model, [owner, *filters], [*load_outputs, setup_status],
                           concurrency_limit=1, concurrency_id="engine", api_visibility="private")

    # Only the two documented endpoints are callable by API clients; every UI event is private.
    for fn in demo.fns.values():
        if fn.api_name not in ("generate", "history"):
            fn.api_visibility = "private"
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.studio = studio  # for tests and app.py
    return demo


def _filters_default(languages: list[str]) -> tuple[str, str, str, str]:
    return ("English" if "English" in languages else "All", "Any", "v2", "")


def _take_slot(i: int, prefix: str) -> dict[str, Any]:
    with gr.Group(visible=False, elem_id=f"{prefix}-{i + 1}", elem_classes=["take-card"]) as group:
        info = gr.Markdown(elem_classes=["take-info"])
        audio = gr.Audio(type="filepath", interactive=False, show_label=False, elem_id=f"{prefix}-{i + 1}-audio",
                         buttons=["download"])
        with gr.Row(elem_classes=["take-actions"]):
            download = gr.DownloadButton("⬇ WAV", size="sm", elem_id=f"{prefix}-{i + 1}-download")
            save = gr.Button("Save as voice", size="sm", elem_id=f"{prefix}-{i + 1}-save")
            reuse = gr.Button("Reuse settings", size="sm", elem_id=f"{prefix}-{i + 1}-reuse")
    return dict(group=group, info=info, audio=audio, download=download, save=save, reuse=reuse)
