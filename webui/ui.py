"""The Bark Studio Gradio app: the list of its parts, and the page's settings.

``build_demo(engine_or_holder, data_dir=...)`` returns a ``gr.Blocks``; ``launch_options`` gives the
launch keywords it needs (CSS, the page script, safe file paths). The engine is injected; it may be
``None`` when the weights are missing (first run). Each part of the page lays itself out and wires
itself (``webui.page``): the frame around the tabs (``webui.frame``), each tab (``webui.tabs``) and the
hidden API (``webui.api``). Every event goes through the one queue, and the ones that use the engine
share one concurrency slot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr

from . import api, frame
from .engine_holder import EngineHolder
from .exports import GRADIO_CACHE
from .http_guard import forget_served_copies, guard_launch_kwargs
from .input_guard import guard_inputs
from .limits import Limits
from .page import Page
from .store import Store
from .request_builder import MAX_TEXT_CHARS
from .studio import Studio
from .tabs import history as history_tab, models as models_tab, studio as studio_tab, timeline as timeline_tab

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
TABS = (studio_tab, history_tab, timeline_tab, models_tab)  # in page order


class StudioBlocks(gr.Blocks):
    """The studio's Blocks; ``studio`` is the one :class:`Studio` its events use (app.py and tests read it)."""

    def __init__(self, studio: Studio, **kwargs: Any):
        super().__init__(**kwargs)
        self.studio = studio


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


def build_demo(engine_or_holder: Any, *, data_dir: str | Path = "data", settings: Any = None,
               load_error: Optional[str] = None, allow_model_changes: bool = True, queue_size: int = 20,
               request_defaults: Optional[dict[str, Any]] = None,
               gpu_wrap: Optional[Callable[[Callable], Callable]] = None,
               loader: Optional[Callable[[Any, Callable[[str, float], None]], Any]] = None,
               title: str = "Bark Studio", max_text_chars: int = MAX_TEXT_CHARS,
               engine_concurrency: int = 1, limits: Optional[Limits] = None) -> StudioBlocks:
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
    studio = Studio(holder, Store(data_dir), allow_model_changes=allow_model_changes,
                    request_defaults=request_defaults, gpu_wrap=gpu_wrap, max_text_chars=max_text_chars,
                    limits=limits, forget_files=forget_served_copies)
    # Gradio's copies of served files (takes, previews, downloads) older than an hour go every 10 minutes
    with StudioBlocks(studio, title=title, fill_width=False, delete_cache=GRADIO_CACHE) as demo:
        page = Page(studio, demo)
        frame.layout(page)
        with gr.Tabs(elem_id="main-tabs") as tabs:
            page.add("tabs", tabs)
            for tab in TABS:
                tab.layout(page)
        api.layout(page)
        for part in (api, frame, *TABS):  # the API first, so its endpoints get their names before any UI event
            part.wire(page)

    for fn in demo.fns.values():  # every tab's engine events share one limit (Gradio keeps a group's lowest)
        if fn.concurrency_id == "engine":
            fn.concurrency_limit = engine_concurrency
    for fn in demo.fns.values():  # only the documented endpoints are callable by API clients
        if fn.api_name not in api.API_ENDPOINTS:
            fn.api_visibility = "private"
    demo.queue(max_size=queue_size, default_concurrency_limit=4)
    guard_inputs(demo)  # Gradio's own input checks answer sentences and log no value
    return demo
