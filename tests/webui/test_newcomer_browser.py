"""What a new user hit in the page (issue 22): History rows select rather than edit; cloning says why a file is refused."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


def _page(browser, url, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#engine-badge .badge")
    return ctx, page


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_history_rows_select_rather_than_edit(browser, launch, tiny_engine, tmp_path, artifacts, width, height):
    app = launch(tiny_engine, tmp_path)
    ctx, page = _page(browser, app.url, width, height)
    try:
        page.locator("#prompt textarea").fill("Hello world")
        page.click("#generate-btn")
        page.locator(".take-card").first.wait_for(state="visible")
        page.get_by_role("tab", name="History").click()
        page.wait_for_function("document.querySelector('#history-table').innerText.includes('Hello world')")
        cell = page.locator("#history-table [role=gridcell]:visible", has_text="Hello world").first
        cell.click()
        page.wait_for_function("document.querySelector('#detail-md') && "
                               "document.querySelector('#detail-md').innerText.includes('Hello world')")
        page.mouse.move(0, 0)
        frames = cell.evaluate("e => [e, ...e.querySelectorAll('*')].map(el => getComputedStyle(el))"
                               ".filter(s => s.boxShadow.includes('inset') || (s.outlineStyle !== 'none' && "
                               "s.outlineWidth !== '0px')).map(s => s.boxShadow + ' ' + s.outlineStyle)")
        assert frames == [], frames  # no edit frame around (or lifted out of) the Prompt cell
        assert cell.locator(".text").evaluate("e => getComputedStyle(e).position") != "absolute"
        buttons = page.locator("#history-table .selection-button")
        assert all(not buttons.nth(i).is_visible() for i in range(buttons.count()))
        row_colours = cell.evaluate("e => [...e.closest('[role=row]').querySelectorAll('[role=gridcell]')]"
                                    ".map(c => getComputedStyle(c).backgroundColor)")
        assert len(set(row_colours)) == 1 and row_colours[0] not in ("rgba(0, 0, 0, 0)", "transparent"), row_colours
        cell.dblclick()
        editors = page.locator("#history-table [role=gridcell] input, #history-table [role=gridcell] textarea")
        assert all(not editors.nth(i).is_visible() for i in range(editors.count()))  # never an editor in a cell
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts / f"history-row-selected-{width}x{height}.png"))
    finally:
        ctx.close()


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_clone_says_why_a_bad_file_is_refused_and_forgets_the_previous_one(browser, launch, tiny_engine, tmp_path,
                                                                          espeak_wav, artifacts, width, height):
    good = espeak_wav("speech.wav", "en-us", "Once upon a time there was a little dog. It barked at the moon.")
    text = tmp_path / "notes.wav"
    text.write_text("these are my notes, not a recording\n" * 20)
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(7 * 24_000, np.float32), 24_000)
    app = launch(tiny_engine, tmp_path / "data")
    ctx, page = _page(browser, app.url, width, height)
    msg = page.locator("#clone-msg")

    def msg_has(t: str) -> None:
        try:
            page.wait_for_function("t => document.querySelector('#clone-msg').innerText.includes(t)", arg=t,
                                   timeout=90_000)
        except Exception:
            page.screenshot(path=str(artifacts / f"clone-failed-{width}x{height}.png"), full_page=True)
            raise AssertionError(f"{t!r} not in the clone message: {msg.inner_text()!r}") from None

    def forgotten() -> None:
        assert page.locator("#clone-start input").input_value() == ""
        assert page.locator("#clone-seconds input").input_value() == ""
        assert page.locator("#clone-name textarea, #clone-name input").first.input_value() == ""
        assert page.locator("#clone-preview audio").count() == 0  # the previous file's test sentence is gone
        assert page.locator("#clone-wave .clone-wave").count() == 0  # and its waveform
        assert page.locator("#clone-save-btn").is_disabled() and page.locator("#clone-preview-btn").is_disabled()

    try:
        page.locator("#clone-panel").get_by_text("Clone a voice from a recording").first.click()
        page.locator("#clone-audio input[type=file]").set_input_files(str(good))
        msg_has("s of speech")
        page.locator("#clone-name textarea, #clone-name input").first.fill("Grandpa")
        page.locator("#clone-preview-btn").click()
        msg_has("test sentence")
        page.locator("#clone-preview audio").first.wait_for(state="attached")
        assert not page.locator("#clone-save-btn").is_disabled()

        page.locator("#clone-audio button[aria-label='Clear']").first.click()
        page.locator("#clone-audio input[type=file]").set_input_files(str(text))
        msg_has("is not audio that can be read")  # the sentence /clone gives
        forgotten()
        page.screenshot(path=str(artifacts / f"clone-bad-file-{width}x{height}.png"), full_page=False)

        page.locator("#clone-audio button[aria-label='Clear']").first.click() if \
            page.locator("#clone-audio button[aria-label='Clear']").count() else None
        page.locator("#clone-audio input[type=file]").set_input_files(str(silence))
        msg_has("The recording is silent")  # the sentence /clone gives
        forgotten()
        page.locator("#clone-msg").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"clone-silence-{width}x{height}.png"), full_page=False)
    finally:
        ctx.close()


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_clone_window_is_dragged_on_the_waveform(browser, launch, tiny_engine, tmp_path, espeak_wav, artifacts,
                                                 width, height):
    good = espeak_wav("story.wav", "en-us", "Once upon a time there was a little dog. It barked at the moon every "
                                            "single night, and the neighbours were not amused.")
    app = launch(tiny_engine, tmp_path / "data")
    ctx, page = _page(browser, app.url, width, height)
    try:
        page.locator("#clone-panel").get_by_text("Clone a voice from a recording").first.click()
        page.locator("#clone-audio input[type=file]").set_input_files(str(good))
        page.wait_for_function("document.querySelector('#clone-msg').innerText.includes('s of speech')")
        wave = page.locator("#clone-wave .clone-wave")
        window = page.locator("#clone-wave .clone-window")
        window.wait_for(state="visible")
        start = lambda: float(page.locator("#clone-start input").input_value())  # noqa: E731
        length = lambda: float(page.locator("#clone-seconds input").input_value())  # noqa: E731
        s0, l0 = start(), length()
        wave.scroll_into_view_if_needed()  # the mouse works on what is on screen
        box, edge = wave.bounding_box(), page.locator("#clone-wave .clone-window-edge").bounding_box()
        # shorten the window by dragging its right edge left by a quarter of the waveform
        page.mouse.move(edge["x"] + edge["width"] / 2, edge["y"] + edge["height"] / 2)
        page.mouse.down()
        page.mouse.move(edge["x"] + edge["width"] / 2 - box["width"] / 4, edge["y"] + 10, steps=5)
        page.mouse.up()
        l1 = length()
        assert l1 < l0 - 0.5 and start() == s0
        # then drag the window itself to the right
        win = window.bounding_box()
        page.mouse.move(win["x"] + 5, win["y"] + win["height"] / 2)
        page.mouse.down()
        page.mouse.move(win["x"] + 5 + box["width"] / 8, win["y"] + win["height"] / 2, steps=5)
        page.mouse.up()
        s1 = start()
        assert s1 > s0 + 0.2 and length() == l1
        moved = window.bounding_box()
        assert abs(moved["x"] - (box["x"] + box["width"] * s1 / float(wave.get_attribute("data-duration")))) < 4
        # the server clones exactly the dragged window
        page.locator("#clone-preview-btn").click()
        page.wait_for_function("document.querySelector('#clone-msg').innerText.includes('test sentence')",
                               timeout=90_000)
        assert f"Window {s1:.1f}–{s1 + l1:.1f} s" in page.locator("#clone-msg").inner_text()
        wave.scroll_into_view_if_needed()
        page.mouse.move(0, 0)
        page.screenshot(path=str(artifacts / f"clone-waveform-{width}x{height}.png"))
    finally:
        ctx.close()
