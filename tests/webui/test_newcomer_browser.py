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
