"""Cloning in the studio, as a person does it: upload a recording, check the window, save the voice."""

from __future__ import annotations

import pytest

TIMEOUT = 90_000


@pytest.fixture(scope="module")
def recording(espeak_wav):
    return espeak_wav("grandpa.wav", "en-us+m3",
                      "Once upon a time there was a little dog. It barked at the moon every night.")


def test_upload_real_speech_and_save_the_clone(browser, launch, tiny_engine, tmp_path, recording, artifacts):
    app = launch(tiny_engine, tmp_path)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(app.url)
    page.wait_for_selector("#engine-badge .badge")  # the page load's answer, not its "processing" timer
    page.locator("#clone-panel").get_by_text("Clone a voice from a recording").first.click()
    page.locator("#clone-audio input[type=file]").set_input_files(str(recording))
    page.wait_for_function("document.querySelector('#clone-msg').innerText.includes('s of speech')")
    msg = page.locator("#clone-msg").inner_text()
    assert "window" in msg
    start = float(page.locator("#clone-start input").input_value())
    length = float(page.locator("#clone-seconds input").input_value())
    assert start >= 0 and 1.0 <= length <= 10.5
    page.locator("#clone-name textarea, #clone-name input").first.fill("Grandpa")
    page.locator("#clone-save-btn").click()
    page.wait_for_function("document.querySelector('#clone-msg').innerText.includes('Saved as')")
    page.locator("#voice-gallery label", has_text="★ Grandpa").wait_for()
    assert "Grandpa" in page.locator("#voice-details").inner_text()
    page.screenshot(path=str(artifacts / "clone-1280x900.png"), full_page=True)
    ctx.close()
