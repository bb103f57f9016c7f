"""Web UI fixtures: a tiny engine, and the studio launched in-process on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ARTIFACTS = ROOT / "test-artifacts"
SHORT = {"max_seconds": 0.3}  # keep tiny-model audio (and test time) short unless a test asks for more


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_engine(tiny_native):
    from bark_core.engine import Engine, EngineSettings

    settings = EngineSettings(models=str(tiny_native), offline=True, device="cpu")
    return Engine.load(settings)


class Running:
    """A launched studio: ``url``, ``demo``, ``data_dir``; ``close()`` frees the port."""

    def __init__(self, engine, data_dir: Path, port: int | None = None, **kwargs):
        import webui

        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        kwargs.setdefault("request_defaults", SHORT)
        settings = getattr(engine, "settings", None)
        self.demo = webui.build_demo(engine, data_dir=self.data_dir, settings=settings, **kwargs)
        opts = webui.launch_options(self.data_dir)
        _, self.url, _ = webui.launch(self.demo, server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True,
                                          quiet=True, **opts)

    def close(self) -> None:
        self.demo.close()


@pytest.fixture
def launch():
    """Factory: ``launch(engine, data_dir, port=None, **build_demo_kwargs) -> Running``; closed at teardown."""
    started: list[Running] = []

    def _launch(engine, data_dir, port=None, **kwargs) -> Running:
        r = Running(engine, data_dir, port, **kwargs)
        started.append(r)
        return r

    yield _launch
    for r in started:
        try:
            r.close()
        except Exception:
            pass


@pytest.fixture(scope="module")
def studio(tiny_engine, tmp_path_factory):
    """One running studio on a tiny model, shared by the tests of a module."""
    r = Running(tiny_engine, tmp_path_factory.mktemp("studio-data"))
    yield r
    r.close()


@pytest.fixture
def handler_studio(tiny_engine, tmp_path):
    """A Studio (no server) on the tiny engine with its store in tmp_path, for tests that call handlers directly."""
    from webui.engine_holder import EngineHolder
    from webui.store import Store
    from webui.studio import Studio

    return Studio(EngineHolder(tiny_engine, settings=tiny_engine.settings), Store(tmp_path),
                  request_defaults={"max_seconds": 0.2})


@pytest.fixture
def tstore(handler_studio):
    """``handler_studio``'s one TimelineStore, the one its tab, imports and handlers share."""
    return handler_studio.library.timelines


@pytest.fixture
def timeline_page(handler_studio):
    """The Timeline tab alone on a Page of ``handler_studio``, laid out and wired, beside stand-ins for what it
    wires across tabs: ``tabs``, Results' ``results`` and History's ``selected_gen``, and one take card each
    (``result_cards``, ``history_cards``) with its "Open in timeline" button. Returns ``(demo, page)``."""
    import gradio as gr

    from webui.page import Page
    from webui.tabs import timeline

    with gr.Blocks() as demo:
        page = Page(handler_studio, demo)
        page.add("results", gr.State(None))
        page.add("selected_gen", gr.State(None))
        with gr.Tabs() as tabs:
            page.add("tabs", tabs)
            with gr.Tab("Studio", id="studio"):
                for cards in ("result_cards", "history_cards"):
                    page.add(cards, [{"timeline": gr.Button("Open in timeline")}])
            timeline.layout(page)
        timeline.wire(page)
    return demo, page


def open_page(browser, url: str, width: int = 1280, height: int = 800, timeout_ms: int = 60_000):
    """A new browser context and page on the studio at ``url``, once the page load has answered: ``(ctx, page)``."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page_ready(page)
    return ctx, page


def page_ready(page) -> None:
    """Wait for the prompt box and the engine badge (the page load's answer, not its "processing" timer)."""
    page.wait_for_selector("#prompt textarea")
    page.wait_for_selector("#engine-badge .badge")


def api_client(url: str, **kwargs):
    """A gradio_client ``Client`` for ``url`` that waits up to 60 s for an answer: the studio's config is large,
    and httpx's default 5 s was once not enough on a loaded 2-core machine."""
    import gradio_client

    kwargs.setdefault("verbose", False)
    kwargs.setdefault("httpx_kwargs", {"timeout": 60})
    return gradio_client.Client(url, **kwargs)


def open_history_row(page, text: str) -> None:
    """Click the History row whose prompt shows ``text`` until its details open (with ``text`` in them).

    A click that lands while a loaded machine redraws the table can be lost, so it is tried again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = page.locator("#history-table [role=gridcell]:visible", has_text=text).first
    for attempt in range(3):
        cell.click()
        try:
            page.wait_for_function("t => { const d = document.querySelector('#detail-md'); "
                                   "return d && d.offsetParent !== null && d.innerText.includes(t); }",
                                   arg=text, timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


@pytest.fixture(scope="session")
def browser():
    pw_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium not installed")
    with pw_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory):
    """Factory: ``espeak_wav(name, voice, text) -> Path``, a WAV named ``name`` of espeak-ng's ``voice`` speaking
    ``text``; the test is skipped where espeak-ng (Debian package) is not installed."""

    def speak(name: str, voice: str, text: str) -> Path:
        if not shutil.which("espeak-ng"):
            pytest.skip("espeak-ng (Debian package) is not installed")
        path = tmp_path_factory.mktemp("espeak") / name
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        return path

    return speak


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
