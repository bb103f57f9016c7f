"""Hardening checked end to end through the running studio: deleted audio stops being served, and
HTML in a file's member names stays text in the toast that names them."""

from __future__ import annotations

import io
import json
import re

import httpx
import numpy as np

import rawhttp
from conftest import open_history_row

OWNER = "e2e-owner-" + "e" * 30


def _urls(value) -> list[str]:
    text = json.dumps(value)
    return sorted({u for u in re.findall(r'"url": "([^"]+)"', text) if "gradio_api/file=" in u})


def test_deleting_a_row_makes_every_url_of_it_404(launch, tiny_engine, tmp_path):
    app = launch(tiny_engine, tmp_path)
    session = rawhttp.session()
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"),
                           ["Served, then deleted.", None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 4, 2, 0.25, True, 0.2, True,
                            *rawhttp.TAKE_CHECK],
                           owner=OWNER, session_hash=session)
    assert reply["success"], reply
    urls = _urls(reply["output"]["data"])
    assert len(urls) == 4  # per take: the audio (player and download share one copy) and its voice .npz
    with httpx.Client(cookies={"bark_owner": OWNER}, timeout=10) as c:
        assert all(c.get(u).status_code == 200 for u in urls)
        (rec,) = app.demo.studio.library.history(OWNER)
        direct = [f"{app.url.rstrip('/')}/gradio_api/file={t.wav}" for t in rec.takes]
        assert all(c.get(u).status_code == 200 for u in direct)
        # the History tab's Delete: its handler is what the button runs
        assert app.demo.studio.library.delete_generation(OWNER, rec.id)
        assert [c.get(u).status_code for u in urls + direct] == [404] * (len(urls) + len(direct))


def test_html_in_npz_member_names_stays_text_in_the_toast(launch, tiny_engine, tmp_path):
    app = launch(tiny_engine, tmp_path)
    buf = io.BytesIO()
    np.savez(buf, **{"<img src=x onerror=alert(1)>": np.zeros(3), "<a href=//127.0.0.1:9/>FIX</a>": np.zeros(2)})
    r = httpx.post(f"{app.url.rstrip('/')}/gradio_api/upload", files={"files": ("evil.npz", buf.getvalue())},
                   cookies={"bark_owner": OWNER}, timeout=30)
    (path,) = r.json()
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "add_uploaded"),
                           [{"path": path, "orig_name": "evil.npz", "meta": {"_type": "gradio.FileData"}}, "",
                            "English", "Any", "v2", ""], owner=OWNER)
    toast = " ".join(reply["warnings"])  # what the browser renders as HTML
    assert toast and "<img" not in toast and "<a " not in toast
    assert "&lt;img src=x onerror=alert(1)&gt;" in toast and "&lt;a href=" in toast  # shown, as text
    assert toast.rstrip().endswith("fine_prompt).")  # the advice after the names is not cut off
    assert app.demo.studio.library.store.list_voices(OWNER) == []


def test_markdown_in_a_prompt_or_voice_name_makes_the_browser_fetch_nothing(browser, launch, tiny_engine, tmp_path):
    """A local listener counts requests: an image link in a prompt and in a saved voice's name is shown as
    text in Results, the voice details and History, and never fetched."""
    import http.server
    import threading

    hits: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trap = f"![t](http://127.0.0.1:{server.server_port}/track.png)"
    try:
        app = launch(tiny_engine, tmp_path)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        page.goto(app.url)
        page.wait_for_selector("#engine-badge .badge")  # the page load's answer, not its "processing" timer
        page.locator("#prompt textarea").fill(f"Hello {trap} there.")
        page.locator("#generate-btn").click()
        page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
        page.locator("#take-1-save").click()  # the voice is named after the prompt
        page.wait_for_function("document.querySelector('#voice-details').innerText.includes('](http://127.0.0.1')")
        page.get_by_role("tab", name="History").click()
        open_history_row(page, "Hello")
        page.wait_for_function("document.querySelector('#detail-md') && "
                               "document.querySelector('#detail-md').innerText.includes('track.png')")
        page.wait_for_timeout(1000)
        page.get_by_role("tab", name="Studio").click()
        assert "track.png" in page.locator("#results").inner_text()  # shown as text
        assert page.locator("#detail-md img, #voice-details img, #results img").count() == 0
        ctx.close()
    finally:
        server.shutdown()
    assert hits == []
