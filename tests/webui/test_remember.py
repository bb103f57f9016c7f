"""What a browser keeps across a reload (webui/remember.py, webui/page_load.py) and the seed box:
the prompt, the last results, a voice of another language and version, a random seed by default, the dice."""

from __future__ import annotations

import re

from conftest import open_page, page_ready

SEED_BOX = "#seed textarea, #seed input"


def _generate(page, text: str) -> str:
    page.locator("#prompt textarea").fill(text)
    page.click("#generate-btn")
    page.wait_for_function("([t]) => document.querySelector('#results-title').innerText.includes(t) && "
                           "document.querySelector('#status').innerText.includes('Done')", arg=[text])
    return page.locator("#status").inner_text()


def _open_advanced(page) -> None:
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.wait_for_selector(SEED_BOX)


def _seed_of(status: str) -> int:
    return int(re.search(r"seed (\d+)", status).group(1))


def test_opening_advanced_leaves_the_seed_random(browser, studio):
    ctx, page = open_page(browser, studio.url)
    try:
        _open_advanced(page)
        assert page.locator(SEED_BOX).first.input_value() == ""
        assert page.locator(SEED_BOX).first.get_attribute("placeholder") == "random"
        first = _seed_of(_generate(page, "Seed one."))
        second = _seed_of(_generate(page, "Seed two."))
        assert page.locator(SEED_BOX).first.input_value() == ""  # still random, not pinned by the last run
        assert first != second  # two random seeds in 0..2**32-1: equal once in four billion
    finally:
        ctx.close()


def test_the_dice_picks_a_seed_that_the_next_run_uses(browser, studio):
    ctx, page = open_page(browser, studio.url)
    try:
        _open_advanced(page)
        page.click("#seed-dice")
        page.wait_for_function(f"/^\\d+$/.test(document.querySelector('{SEED_BOX}').value)")
        seed = int(page.locator(SEED_BOX).first.input_value())
        assert _seed_of(_generate(page, "Dice.")) == seed
        page.click("#seed-dice")
        page.wait_for_function(f"document.querySelector('{SEED_BOX}').value !== '{seed}'")
    finally:
        ctx.close()


def test_prompt_last_results_and_a_german_v1_voice_come_back_after_a_reload(browser, studio):
    ctx, page = open_page(browser, studio.url)
    try:
        page.locator("#f-version").get_by_text("v1").click()
        page.locator("#f-language input").fill("German")
        page.locator("#f-language input").press("Enter")
        page.locator("#voice-gallery label", has_text="German 3").click()
        page.wait_for_function("document.querySelector('#voice-details').innerText.includes('German 3')")
        _generate(page, "Guten Tag.")
        page.locator("#prompt textarea").fill("Draft I have not generated yet.")
        page.wait_for_timeout(500)

        page.reload()
        page_ready(page)
        page.wait_for_function("document.querySelector('#voice-details').innerText.includes('German 3')")
        assert page.locator("#prompt textarea").input_value() == "Draft I have not generated yet."
        page.wait_for_selector("#take-1", state="visible")
        assert "Guten Tag." in page.locator("#results-title").inner_text()
        assert page.locator("#f-language input").input_value() == "German"
        assert page.locator("#f-version input:checked").get_attribute("value") == "v1"
        checked = page.locator("#voice-gallery input:checked")
        assert checked.count() == 1 and "German 3" in checked.locator("xpath=..").inner_text()
    finally:
        ctx.close()


# ---- the page-load handler (no browser) ------------------------------------------------------------

def test_a_saved_voice_comes_back_only_where_its_owner_may_use_it(handler_studio):
    from webui.page_load import on_load

    st = handler_studio
    assert on_load(st, "alice", "preset:v2/en_speaker_9")["voice"] == "preset:v2/en_speaker_9"
    de = on_load(st, "alice", "preset:de_speaker_3")
    assert (de["voice"], de["f_language"], de["f_version"]) == ("preset:de_speaker_3", "German", "v1")
    rec = st.voices.add("alice", "Mine", st.runner.engine().load_voice("v2/en_speaker_2"), "upload")
    assert on_load(st, "alice", f"user:{rec.id}")["voice"] == f"user:{rec.id}"
    assert on_load(st, "mallory", f"user:{rec.id}")["voice"] == ""  # another owner's voice
    for bad in ("preset:../../etc/passwd", "user:nope", "nonsense", 42, None, "x" * 500):
        out = on_load(st, "alice", bad)
        assert out["voice"] == "" and out["f_language"] == "English" and out["f_version"] == "v2", bad


def test_the_page_load_shows_the_latest_results_of_this_owner_only(handler_studio):
    from webui.page_load import on_load

    st = handler_studio
    assert "results" not in on_load(st, "alice", "")
    req = st.requests.make("Latest words.", None, {"takes": 2})
    gen = st.runner.run_blocking(req, lambda: False)
    st.library.save_generation("alice", req, "", gen, None)
    out = on_load(st, "alice", "")
    assert [r[2] for r in out["results"]["shown"]] == ["Take 1", "Take 2"]
    assert "Latest words" in out["results_title"]
    assert out["take0_group"]["visible"] and out["take1_group"]["visible"] and not out["take2_group"]["visible"]
    assert "results" not in on_load(st, "mallory", "")
