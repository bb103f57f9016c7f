"""The studio in a real browser (Debian chromium via Playwright) on a tiny random model."""

from __future__ import annotations

import re

import pytest
from conftest import open_history_row


TIMEOUT = 60_000


def _open(browser, url, width=1280, height=800, context=None):
    ctx = context or browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.wait_for_selector("#prompt textarea")
    page.wait_for_selector("#engine-badge .badge")  # the page load's answer, not its "processing" timer
    return ctx, page


def _history_text(page) -> str:
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector("#history-table")
    return page.locator("#history-table").inner_text()


def _history_shows(page, text: str) -> bool:
    """True once the History table lists ``text`` (the page load fills it; a loaded machine draws it late)."""
    _history_text(page)
    page.wait_for_function("t => document.querySelector('#history-table').innerText.includes(t)", arg=text)
    return True


def test_studio_flow_history_persists_and_voice_saving(browser, launch, tiny_engine, tmp_path, artifacts):
    app = launch(tiny_engine, tmp_path, request_defaults={"max_seconds": 1.2})
    ctx, page = _open(browser, app.url)
    page.screenshot(path=str(artifacts / "studio-1280x800.png"))

    # A tag goes in at the caret, not at the end.
    box = page.locator("#prompt textarea")
    box.fill("Hello world")
    box.press("Home")
    for _ in range(5):
        box.press("ArrowRight")
    page.click("button[data-bark-tag='[laughs]']")
    assert box.input_value() == "Hello [laughs] world"
    assert page.locator("button[data-bark-tag='[laughs]']").get_attribute("title")
    page.wait_for_function("document.querySelector('#estimate').innerText.includes('segment')")

    # Pick a voice from the gallery (filter to female voices first).
    page.locator("#f-gender input").click()
    page.get_by_role("option", name="Female").click()
    page.locator("#voice-gallery label", has_text="English 9").click()
    page.wait_for_function("document.querySelector('#voice-details').innerText.includes('English 9')")

    page.click("#generate-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
    card = page.locator(".take-card").first
    card.wait_for(state="visible")
    assert page.locator("#take-1-audio audio").count() >= 1
    page.wait_for_function("document.querySelector('#take-1-audio time#duration') && "
                           "document.querySelector('#take-1-audio time#duration').innerText !== '0:00'")
    info = card.locator(".take-info").first.inner_text()
    assert re.search(r"Take 1 · 1\.\d s · seed \d+ · made in", info), info
    page.screenshot(path=str(artifacts / "result-1280x800.png"), full_page=True)

    # Save the take as a voice; it shows up in the gallery with a star.
    page.click("#take-1-save")
    page.locator("#voice-gallery label", has_text="★ Hello [laughs] world (take 1)").wait_for()

    assert _history_shows(page, "Hello [laughs] world")
    open_history_row(page, "Hello [laughs] world")
    page.wait_for_function("document.querySelector('#detail-md') && document.querySelector('#detail-md').innerText.includes('English 9')")
    page.screenshot(path=str(artifacts / "history-1280x800.png"), full_page=True)

    # Still there after a reload (owner id lives in localStorage)...
    page.reload()
    page.wait_for_selector("#prompt textarea")
    page.wait_for_selector("#engine-badge .badge")
    assert _history_shows(page, "Hello [laughs] world")

    # ...and after an app restart on the same data dir (same origin, so the same localStorage).
    port = app.port
    app.close()
    app2 = launch(tiny_engine, tmp_path, port=port)
    page.goto(app2.url)
    page.wait_for_selector("#prompt textarea")
    page.wait_for_selector("#engine-badge .badge")
    assert _history_shows(page, "Hello [laughs] world")
    page.get_by_role("tab", name="Studio").click()
    page.locator("#voice-gallery label", has_text="★ Hello [laughs] world (take 1)").wait_for()

    # Another browser (fresh localStorage) sees none of it.
    ctx2, other = _open(browser, app2.url)
    assert "Hello [laughs] world" not in _history_text(other)
    ctx2.close()
    ctx.close()


def _settled(page, scope: str) -> None:
    """Wait until no event is pending in ``scope`` (Gradio's loading veils are hidden)."""
    page.wait_for_function(f"[...document.querySelectorAll('{scope} .wrap.default')].every("
                           "w => getComputedStyle(w).opacity === '0' || getComputedStyle(w).display === 'none')")


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_models_tab_has_a_size_per_stage(browser, launch, tiny_engine, tmp_path, artifacts, width, height):
    app = launch(tiny_engine, tmp_path)
    ctx, page = _open(browser, app.url, width, height)
    page.get_by_role("tab", name="Models").click()
    page.wait_for_function("document.querySelector('#memory-estimate') && "
                           "document.querySelector('#memory-estimate').innerText.length > 0")
    for stage in ("Semantic", "Coarse", "Fine"):
        group = page.locator(f"#size-{stage.lower()}")
        assert group.is_visible(), stage
        assert f"{stage} model" in group.inner_text()
        assert group.get_by_label("Large").is_visible() and group.get_by_label("Small").is_visible()
    hint = page.locator("#size-hint")
    assert hint.is_visible() and "semantic model matters most" in hint.inner_text()
    assert page.locator("#reload-btn").is_visible()
    assert _no_horizontal_overflow(page)
    if width >= 1000:  # one row of three, each on one line, the hint on one line
        boxes = [page.locator(f"#size-{s}").bounding_box() for s in ("semantic", "coarse", "fine")]
        assert len({round(b["y"]) for b in boxes}) == 1, boxes
        line = float(page.evaluate("parseFloat(getComputedStyle(document.querySelector('#size-hint span.muted')).lineHeight)"))
        assert hint.locator("span.muted").bounding_box()["height"] < 2 * line

    # Only devices this machine has are offered; on a CPU the estimate says no GPU memory is needed
    # (per-stage GPU estimates are checked in test_models_tab.py).
    import bark_core

    page.locator("#m-device input").click()
    offered = page.get_by_role("option").all_inner_texts()
    assert [o.replace("✓", "").strip() for o in offered] == ["auto", *bark_core.available_devices()]
    page.get_by_role("option", name="cpu", exact=True).click()
    page.wait_for_function("document.querySelector('#memory-estimate').innerText.includes('runs on the CPU')")
    _settled(page, "#tab-models")
    page.mouse.move(0, 0)  # no hover highlight on the screenshot, and no fading "pending" veil over the sizes
    _settled(page, "#tab-models")
    page.wait_for_timeout(600)  # the veil fades out (a CSS transition) after it is hidden
    page.screenshot(path=str(artifacts / f"models-{width}x{height}.png"), full_page=True)
    ctx.close()


def test_stop_cancels_own_job_and_saves_nothing(browser, launch, tiny_engine, tmp_path, artifacts):
    app = launch(tiny_engine, tmp_path)
    ctx, page = _open(browser, app.url, 390, 844)
    page.screenshot(path=str(artifacts / "studio-390x844.png"), full_page=True)
    page.locator("#prompt textarea").fill("A long one that would take a while on the CPU.")
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.locator("#max-seconds input").fill("14")
    page.get_by_label("Stop at end of speech").uncheck()
    page.click("#generate-btn")
    # Stop as soon as the first stage reports progress: the tiny job takes ~2.5 s in all, so a fixed
    # wait would race its end on a slow machine.
    page.wait_for_function("document.querySelector('#results').innerText.includes('Semantic tokens')")
    page.screenshot(path=str(artifacts / "generating-390x844.png"), full_page=True)
    page.click("#stop-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Stopped')", timeout=5000)
    assert app.demo.studio.library.store.list_generations.__self__ is app.demo.studio.library.store
    assert not any((tmp_path / "audio").iterdir())
    assert "A long one" not in _history_text(page)
    ctx.close()


def test_first_run_panel_when_weights_are_missing(browser, launch, tmp_path, artifacts):
    app = launch(None, tmp_path, load_error="No Bark weights found in the Hugging Face cache (suno/bark).")
    ctx, page = _open(browser, app.url)
    panel = page.locator("#setup-panel").first
    panel.wait_for(state="visible")
    page.wait_for_function("document.querySelector('#setup-panel').innerText.includes('No Bark weights found')")
    text = panel.inner_text()
    assert "No Bark weights found" in text and "4.5 GB" in text and "--models" in text
    assert page.locator("#download-btn").first.is_visible()
    assert "Model not loaded" in page.locator("#engine-badge").inner_text()
    page.screenshot(path=str(artifacts / "first-run-1280x800.png"))
    ctx.close()


def test_closing_the_tab_mid_run_stops_the_job_and_saves_nothing(browser, launch, tiny_engine, tmp_path):
    """Leaving stops the engine (as Stop does) and nothing is saved for a page nobody is looking at."""
    import time

    app = launch(tiny_engine, tmp_path, request_defaults={})
    ctx, page = _open(browser, app.url)
    page.locator("#prompt textarea").fill("A long line that keeps the engine busy for quite a while. " * 3)
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.locator("#max-seconds input").fill("12")
    page.locator("#generate-btn").click()
    deadline = time.monotonic() + 60
    while not tiny_engine._busy.locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tiny_engine._busy.locked(), "the job never started"
    ctx.close()
    deadline = time.monotonic() + 20
    while tiny_engine._busy.locked() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tiny_engine._busy.locked(), "the job ran on after its page was closed"
    time.sleep(1)
    assert not any(app.demo.studio.library.store.audio_dir.iterdir())


def test_star_from_results_and_export_a_row_as_zip(browser, launch, tiny_engine, tmp_path, artifacts):
    import zipfile

    app = launch(tiny_engine, tmp_path)
    ctx, page = _open(browser, app.url)
    page.locator("#prompt textarea").fill("Keep this one.")
    page.locator("#generate-btn").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
    assert page.locator("#take-1-voice-download").is_visible()
    page.locator("#take-1-star").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('Starred')")
    assert "★" in _history_text(page)
    open_history_row(page, "Keep this one.")
    page.locator("#history-export").click()
    link = page.locator("#history-export-file a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    with zipfile.ZipFile(info.value.path()) as z:
        assert "settings.json" in z.namelist() and any(n.endswith(".wav") for n in z.namelist())
    page.screenshot(path=str(artifacts / "history-export-1280x800.png"), full_page=True)
    ctx.close()


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_retake_until_it_passes_best_first_and_undo_a_delete(browser, launch, tiny_engine, tmp_path, artifacts,
                                                             width, height):
    """Take check controls in the browser: a minimum no noise can reach spends one retake; both tries show with
    their seeds and badges; Best first reorders; a History delete can be undone."""
    app = launch(tiny_engine, tmp_path)
    ctx, page = _open(browser, app.url, width, height)
    page.locator("#take-check").get_by_text("Take check").first.click()
    for sel, value in (("#min-on-script", "1"), ("#retake-tries", "1")):
        box = page.locator(f"{sel} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.wait_for_timeout(300)
    page.locator("#take-check").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"take-check-controls-{width}x{height}.png"))
    page.locator("#prompt textarea").fill("Hi.")
    page.locator("#generate-btn").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
    status = page.locator("#status").inner_text()
    assert "2 tries (1 take + 1 retake)" in status and "none passed" in status, status
    assert page.locator("#take-2").is_visible() and "Retake 1" in page.locator("#take-2").inner_text()
    assert re.search(r"seed \d+", page.locator("#take-1").inner_text())
    assert page.locator("#take-1 .take-score").count() == 1
    page.locator("#take-1-audio").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"take-check-results-{width}x{height}.png"))
    page.locator("#best-first input").check()
    page.wait_for_timeout(500)
    assert page.locator("#take-1").is_visible() and page.locator("#take-2").is_visible()

    page.get_by_role("tab", name="History").click()
    open_history_row(page, "Hi.")
    page.locator("#history-delete").click()
    page.wait_for_selector("#history-undo", state="visible")
    assert page.locator("#history-table [role=gridcell]:visible", has_text="Hi.").count() == 1  # one try left
    page.screenshot(path=str(artifacts / f"history-undo-{width}x{height}.png"))
    page.locator("#history-undo").click()
    page.wait_for_selector("#history-undo", state="hidden")
    page.wait_for_function("document.querySelector('#history-table').innerText.split('Hi.').length - 1 === 2")
    ctx.close()


def test_models_tab_shows_the_fast_modes_measured_gain_and_switches_in_one_click(browser, launch, tiny_native,
                                                                                   tmp_path, artifacts):
    from bark_core import precision, quantize
    from bark_core.engine import Engine, EngineSettings

    if not quantize.int8_available():
        pytest.skip("this torch build has no CPU int8 kernel")
    cache = tmp_path / "cache"  # this CPU's cached measurement, as an earlier "auto" load would have left it
    timings = {"float32": {"one_row": 1.9, "prompt": 10.0}, "bfloat16": {"one_row": 2.0, "prompt": 20.0},
               "int8": {"one_row": 1.0, "prompt": 12.0}}
    precision.cpu_choice(cache, "large", measure_fn=lambda **kw: timings)
    engine = Engine.load(EngineSettings(models=str(tiny_native), offline=True, device="cpu", dtype="float32",
                                        cache_dir=str(cache)))
    app = launch(engine, tmp_path / "data")
    ctx, page = _open(browser, app.url)
    page.get_by_role("tab", name="Models").click()
    button, info = page.locator("#fast-mode-btn"), page.locator("#models-info")
    page.wait_for_function("document.querySelector('#models-info').innerText.includes('Fast CPU mode')")
    assert "about 1.9x faster per decode step than float32 on this CPU" in info.inner_text()
    assert "of tokens agree" in info.inner_text()
    assert button.is_visible() and button.inner_text().strip() == "Use the fast CPU mode"
    button.click()
    page.wait_for_function("document.querySelector('#fast-mode-btn').innerText.includes('Back to exact float32')")
    assert "Fast CPU mode (int8) is on: about 1.9x faster" in info.inner_text()
    assert "Precision: float32 (exact)" not in info.inner_text()  # not said of an int8 engine
    assert "int8" in page.locator("#engine-badge").inner_text()
    page.screenshot(path=str(artifacts / "models-fast-mode.png"), full_page=True)
    ctx.close()
