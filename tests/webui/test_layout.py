"""Layout and keyboard in a real browser (Debian chromium via Playwright), at 1280x800 and 390x844:
the history table is readable, every tab has the same content width, Generate/Stop stay reachable,
Ctrl/Cmd+Enter generates, the palette spaces its marks, and the voice and settings survive a reload.

What is checked lives in webui/style.css and webui/palette.js (the page script)."""

from __future__ import annotations

import pytest
from conftest import open_history_row, open_page, page_ready

TIMEOUT = 60_000
SIZES = [(1280, 800), (390, 844)]
TABS = ["Studio", "History", "Timeline", "Models"]


def _shot(page, artifacts, name: str, full_page: bool = False) -> None:
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    vp = page.viewport_size
    page.screenshot(path=str(artifacts / f"layout-{name}-{vp['width']}x{vp['height']}.png"), full_page=full_page)


def _generate(page, text: str) -> None:
    page.locator("#prompt textarea").fill(text)
    page.click("#generate-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")


# ---- defect 9: one content width on every tab ------------------------------------------------

def test_every_tab_has_the_same_content_width(browser, studio, artifacts):
    ctx, page = open_page(browser, studio.url)
    try:
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            seen = {}
            for tab in TABS:
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(200)
                seen[tab] = page.evaluate("""() => ['#header', '#main-tabs'].map(s => {
                    const b = document.querySelector(s).getBoundingClientRect();
                    return [Math.round(b.x), Math.round(b.width)]; })""")
            assert len({repr(v) for v in seen.values()}) == 1, (width, seen)  # the header does not jump
            header_x, header_w = seen["Studio"][0]
            assert header_w >= width - 2 * 48 or header_w >= 1100, (width, seen)  # the page's width is used
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
    finally:
        ctx.close()


# ---- defect 8: the history table at both sizes ------------------------------------------------

_COLUMNS = """() => {
    const table = document.querySelector('#history-table');
    const heads = [...table.querySelectorAll('th[data-heading]')];
    return heads.map(th => {
        const i = +th.getAttribute('data-heading');
        const label = th.innerText.trim();
        const shown = th.getBoundingClientRect().width > 0 && getComputedStyle(th).display !== 'none';
        const span = th.querySelector('span.header') || th;
        const lh = parseFloat(getComputedStyle(span).lineHeight) || 20;
        const cells = [...table.querySelectorAll(`[role=gridcell][data-col="${i}"]`)].map(c => {
            const s = c.querySelector('span') || c;
            const r = c.getBoundingClientRect();
            const cs = getComputedStyle(c);
            const text = s.innerText.trim();
            return {text, width: r.width, shown: r.width > 0 && cs.display !== 'none',
                    lines: text ? Math.round(s.getBoundingClientRect().height / (parseFloat(getComputedStyle(s).lineHeight) || lh)) : 0,
                    clipped: s.scrollWidth > c.clientWidth + 1};
        });
        return {label, shown, width: th.getBoundingClientRect().width,
                headerLines: Math.round(span.getBoundingClientRect().height / lh), cells};
    });
}"""


def test_history_table_is_readable_on_desktop_and_phone(browser, studio, artifacts):
    ctx, page = open_page(browser, studio.url)
    try:
        _generate(page, "Hello there, this is a test of the history table. [laughs]")
        page.get_by_role("tab", name="History").click()
        page.locator("#history-table [role=gridcell]", has_text="history table").first.wait_for()

        cols = {c["label"]: c for c in page.evaluate(_COLUMNS)}
        _shot(page, artifacts, "history", full_page=True)
        for label in ("When", "Takes", "Length", "Seed"):  # numbers and dates on one line, never cut
            c = cols[label]
            assert c["shown"] and c["headerLines"] == 1, (label, c)
            for cell in c["cells"]:
                assert cell["lines"] == 1 and not cell["clipped"], (label, cell)
        assert cols["Prompt"]["width"] >= 250, cols["Prompt"]

        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(400)
        cols = {c["label"]: c for c in page.evaluate(_COLUMNS)}
        _shot(page, artifacts, "history", full_page=True)
        shown = [c for c in cols.values() if c["shown"]]
        assert {"Prompt", "When"} <= {c["label"] for c in shown}, cols.keys()
        for c in shown:  # every column a phone shows is readable: its title on one line, its numbers too
            assert c["headerLines"] == 1, c
            assert c["label"] == "★" or c["width"] >= 44, c
            if c["label"] in ("When", "Takes", "Length", "Seed"):
                for cell in c["cells"]:
                    assert not cell["clipped"] and cell["lines"] <= (2 if c["label"] == "When" else 1), (c["label"], cell)
        assert cols["Prompt"]["width"] >= 100, cols["Prompt"]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        ctx.close()


# ---- Generate / Stop always reachable -----------------------------------------------------------

_REACHABLE = """(id) => {
    const b = document.getElementById(id).getBoundingClientRect();
    if (b.top < 0 || b.bottom > window.innerHeight || b.width === 0) return false;
    const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
    return !!hit && !!hit.closest('#' + id);
}"""


@pytest.mark.parametrize("width, height", SIZES)
def test_generate_and_stop_stay_in_view_without_covering_results(browser, studio, artifacts, width, height):
    ctx, page = open_page(browser, studio.url, width, height)
    try:
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#prompt textarea").click()
        page.wait_for_timeout(200)
        _shot(page, artifacts, "top")
        for id_ in ("generate-btn", "stop-btn"):
            assert page.evaluate(_REACHABLE, id_), (id_, "not reachable with the prompt in view")
        # The buttons sit side by side, and the bar leaves most of the screen to the editor.
        gen, stop = page.locator("#generate-btn").bounding_box(), page.locator("#stop-btn").bounding_box()
        assert abs(gen["y"] - stop["y"]) < 2
        assert page.locator("#run-row").bounding_box()["height"] <= 0.15 * height
        # The prompt (while typing) is not hidden behind the bar.
        box = page.locator("#prompt textarea").bounding_box()
        run = page.locator("#run-row").bounding_box()
        assert box["y"] + box["height"] <= run["y"] or box["y"] >= run["y"] + run["height"]

        # Half way down the editor (the sliders), still there.
        page.locator("#controls").first.scroll_into_view_if_needed()
        assert page.evaluate(_REACHABLE, "generate-btn")

        # At the results, the bar is back in its place and covers none of them.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(200)
        _shot(page, artifacts, "bottom")
        overlap = page.evaluate("""() => {
            const a = document.getElementById('run-row').getBoundingClientRect();
            const b = document.getElementById('results').getBoundingClientRect();
            return !(a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left); }""")
        assert not overlap
    finally:
        ctx.close()


# ---- Ctrl/Cmd+Enter --------------------------------------------------------------------------------

def test_ctrl_or_cmd_enter_in_the_prompt_generates(browser, studio):
    ctx, page = open_page(browser, studio.url)
    try:
        page.evaluate("""() => { window.__genClicks = 0;
            document.getElementById('generate-btn').addEventListener('click', () => window.__genClicks++); }""")
        box = page.locator("#prompt textarea")
        box.fill("Keyboard people")
        box.press("Control+Enter")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
        assert page.evaluate("window.__genClicks") == 1
        assert box.input_value() == "Keyboard people"  # no stray newline
        page.wait_for_selector("#take-1", state="visible")
        box.press("Meta+Enter")
        page.wait_for_function("window.__genClicks === 2")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
        box.press("Enter")  # a plain Enter is still a new line
        assert page.evaluate("window.__genClicks") == 2 and box.input_value() == "Keyboard people\n"
    finally:
        ctx.close()


# ---- defect 12 (first part): the palette's pause marks ---------------------------------------------

@pytest.mark.parametrize("text, caret, tag, want", [
    ("Bark.", 5, "...", "Bark. ..."),          # never four dots
    ("Hello", 5, "...", "Hello..."),           # straight after a word, as written
    ("Hello.", 5, "...", "Hello... ."),        # before a full stop: still no four dots
    ("Bark!", 5, "—", "Bark! —"),
    ("Bark.", 5, "[laughs]", "Bark. [laughs]"),
    ("Hello world", 5, "[laughs]", "Hello [laughs] world"),
])
def test_palette_spaces_pause_marks_after_punctuation(browser, studio, text, caret, tag, want):
    page = _palette_page(browser, studio)
    got = page.evaluate("""([text, caret, tag]) => {
        const box = document.querySelector('#prompt textarea');
        box.value = text; box.focus(); box.setSelectionRange(caret, caret);
        document.querySelector(`[data-bark-tag="${tag}"]`).click();
        return box.value; }""", [text, caret, tag])
    assert got == want and "...." not in got


_PAGES: dict = {}


def _palette_page(browser, studio):
    """One page for all the palette cases (a page load each would be slow)."""
    page = _PAGES.get(studio.url)
    if page is None or page.is_closed():
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(studio.url)
        page.wait_for_selector("[data-bark-tag]")
        _PAGES[studio.url] = page
    return page


# ---- the voice and the settings survive a reload ---------------------------------------------------

def _set_slider(page, label: str, value: str) -> None:
    box = page.locator(f"input[aria-label='number input for {label}']")
    box.fill(value)
    box.press("Tab")


def _settings_saved(page, wanted: dict) -> None:
    """Wait until the browser has saved ``wanted`` (label -> typed text; the settings' names in localStorage),
    typing a value again where its box lost it. A box typed into while Advanced was still opening can be
    drawn again with its old value (seen once in CI at load ~4: the saved Takes stayed 1)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    names = {"Semantic temperature": "semantic_temp", "Fine temperature": "fine_temp", "Takes": "takes",
             "Top-p": "top_p"}
    saved = {names[label]: float(value) for label, value in wanted.items()}
    for attempt in range(3):
        for label, value in wanted.items():
            shown = page.locator(f"input[aria-label='number input for {label}']").input_value()
            if float(shown or "nan") != float(value):
                _set_slider(page, label, value)
        try:
            page.wait_for_function("""want => {
                const s = (JSON.parse(localStorage.getItem('bark-studio-settings') || '{}').settings) || {};
                return Object.entries(want).every(([k, v]) => s[k] === v); }""", arg=saved, timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def _advanced_open(page) -> None:
    if page.locator("input[aria-label='number input for Takes']").count() == 0:
        page.locator("#advanced").get_by_text("Advanced").first.click()
        page.wait_for_selector("input[aria-label='number input for Takes']")


def _wait_for_restored_takes(page, value: str) -> None:
    """Wait until the Takes box shows ``value``; on a timeout, fail with what the page had (the saved settings,
    the box, Advanced's state), so a failure on a loaded machine says which step did not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    takes = "document.querySelector(\"input[aria-label='number input for Takes']\")"
    try:
        page.wait_for_function(f"{takes} && {takes}.value === {value!r}")
    except PlaywrightTimeout:
        state = page.evaluate(f"""() => ({{saved: localStorage.getItem('bark-studio-settings'),
            takes: {takes} ? {takes}.value : null, restored: !!window.barkStudioRestored,
            touched: Object.keys(window.barkStudioTouched || {{}}),
            advanced_open: !!document.querySelector('#advanced .open, #advanced[open]')}})""")
        raise AssertionError(f"Takes did not come back as {value}: {state}") from None


def test_voice_and_settings_survive_a_reload(browser, studio, artifacts):
    ctx, page = open_page(browser, studio.url)
    try:
        _set_slider(page, "Semantic temperature", "0.9")
        _set_slider(page, "Fine temperature", "0.35")
        _advanced_open(page)
        _set_slider(page, "Takes", "2")
        _set_slider(page, "Top-p", "0.8")
        page.get_by_label("Stop at end of speech").uncheck()
        page.locator("#voice-gallery label", has_text="English 9").click()
        page.wait_for_function("document.querySelector('#voice-details').innerText.includes('English 9')")
        _settings_saved(page, {"Semantic temperature": "0.9", "Fine temperature": "0.35", "Takes": "2",
                               "Top-p": "0.8"})

        page.reload()
        page_ready(page)
        page.wait_for_function("document.querySelector('#voice-details').innerText.includes('English 9')")
        checked = page.locator("#voice-gallery input:checked")
        assert checked.count() == 1 and "English 9" in checked.locator("xpath=..").inner_text()
        _wait_for_restored_takes(page, "2")
        values = page.evaluate("""() => Object.fromEntries(['Semantic temperature', 'Coarse temperature',
            'Fine temperature', 'Top-p', 'Takes'].map(l => [l,
            document.querySelector(`input[aria-label='number input for ${l}']`).value]))""")
        assert values == {"Semantic temperature": "0.9", "Coarse temperature": "0.7", "Fine temperature": "0.35",
                          "Top-p": "0.8", "Takes": "2"}, values
        assert not page.get_by_label("Stop at end of speech").is_checked()
        assert page.locator("#f-language input").input_value() == "English"  # the filters were left alone
        _shot(page, artifacts, "restored")

        # The server got them too (not just the boxes): two takes, English 9 in the history.
        page.locator("#prompt textarea").fill("Remembered settings")
        page.click("#generate-btn")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
        page.wait_for_selector("#take-2", state="visible")
        page.get_by_role("tab", name="History").click()
        open_history_row(page, "Remembered settings")
        page.wait_for_function("document.querySelector('#detail-md') && "
                               "document.querySelector('#detail-md').innerText.includes('English 9')")
        detail = page.locator("#detail-md").inner_text()
        assert "0.9" in detail and "0.35" in detail, detail
    finally:
        ctx.close()


def test_a_setting_changed_before_the_restore_stands_and_the_rest_is_restored(browser, studio):
    ctx, first = open_page(browser, studio.url)
    try:
        first.evaluate("""localStorage.setItem('bark-studio-settings', JSON.stringify(
            {values: {'Semantic temperature': '0.9', 'Fine temperature': '0.35', 'Takes': '2'}}))""")  # by label: 0.2
        page = ctx.new_page()  # a second tab: the first keeps what was stored (a reload would save its own boxes)
        page.set_default_timeout(TIMEOUT)
        page.goto(studio.url)
        page.wait_for_selector("input[aria-label='number input for Semantic temperature']")
        _set_slider(page, "Semantic temperature", "0.55")  # at once: before (or while) the saved values apply
        _wait_for_restored_takes(page, "2")
        page.wait_for_function("JSON.parse(localStorage.getItem('bark-studio-settings')).settings"
                               ".semantic_temp === 0.55")
        page.wait_for_timeout(1500)  # a late re-apply would show now
        box = lambda label: page.locator(f"input[aria-label='number input for {label}']").input_value()  # noqa: E731
        assert (box("Semantic temperature"), box("Fine temperature"), box("Takes")) == ("0.55", "0.35", "2")
    finally:
        ctx.close()


@pytest.fixture(autouse=True, scope="module")
def _close_palette_page():
    yield
    for page in _PAGES.values():
        if not page.is_closed():
            page.close()
    _PAGES.clear()


# ---- the page as built (no browser) -------------------------------------------------------------

def test_engine_events_share_one_concurrency_limit_that_build_demo_sets(tmp_path):
    import webui

    for n in (1, 3):
        demo = webui.build_demo(None, data_dir=tmp_path / f"d{n}", load_error="no weights", engine_concurrency=n)
        engine_fns = [fn for fn in demo.fns.values() if fn.concurrency_id == "engine"]
        assert len(engine_fns) >= 5  # generate (UI and API), clone, preview, reload, download, timeline
        assert {fn.concurrency_limit for fn in engine_fns} == {n}
    with pytest.raises(ValueError, match="engine_concurrency"):
        webui.build_demo(None, data_dir=tmp_path / "bad", engine_concurrency=0)


def test_no_element_id_appears_twice_in_the_config(tmp_path):
    import collections

    import webui

    demo = webui.build_demo(None, data_dir=tmp_path, load_error="no weights")
    ids = [c.get("props", {}).get("elem_id") for c in demo.get_config_file()["components"]]
    twice = [i for i, n in collections.Counter(i for i in ids if i).items() if n > 1]
    assert not twice and len([i for i in ids if i]) > 100


def test_no_element_id_appears_twice_in_the_page(browser, studio):
    """The studio's own ids (Gradio's audio player repeats its internal ids "waveform", "time" in every player)."""
    ours = {c.get("props", {}).get("elem_id") for c in studio.demo.get_config_file()["components"]} - {None}
    ctx, page = open_page(browser, studio.url)
    try:
        _generate(page, "Ids once.")
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(200)
            if tab == "History":  # with a row's details and take cards open
                open_history_row(page, "Ids once.")
                page.wait_for_selector("#hist-1", state="visible")
            twice = page.evaluate("""() => { const seen = {};
                document.querySelectorAll('[id]').forEach(e => { if (e.id) seen[e.id] = (seen[e.id] || 0) + 1; });
                return Object.entries(seen).filter(([k, n]) => n > 1).map(([k]) => k); }""")
            assert not set(twice) & ours, (tab, twice)
    finally:
        ctx.close()
