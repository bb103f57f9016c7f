"""Prepared downloads (webui.exports): one folder, swept by age and size with Gradio's served copies, so
exporting again and again cannot grow the disk past a bound."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from webui.exports import Exports

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402


def tree_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file()) if Path(root).exists() else 0


def test_old_and_excess_exports_are_swept(tmp_path):
    forgotten: list[Path] = []
    ex = Exports(tmp_path / "ex", keep_s=60, max_bytes=250_000, sweep_every_s=None, forget_served=forgotten.extend)
    for i in range(30):
        (ex.folder() / "a.bin").write_bytes(b"x" * 100_000)
        assert ex.usage() <= 250_000 + 100_000  # the bound, plus the one just written
    assert len(forgotten) >= 27  # Gradio's copies go with them
    old = ex.folder()
    (old / "b.bin").write_bytes(b"y")
    past = time.time() - 120
    os.utime(old, (past, past))
    ex.sweep()
    assert not old.exists()
    Exports(tmp_path / "ex", sweep_every_s=None)  # a new start sweeps everything
    assert ex.usage() == 0


def test_an_idle_studio_sweeps_its_exports_on_a_timer_that_does_not_keep_it_alive(tmp_path):
    import gc
    import weakref

    ex = Exports(tmp_path / "ex", keep_s=0.2, sweep_every_s=0.1)
    (ex.folder() / "a.bin").write_bytes(b"x")
    deadline = time.monotonic() + 5
    while ex.usage() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ex.usage() == 0
    ref = weakref.ref(ex)
    del ex
    gc.collect()
    assert ref() is None


def test_thirty_exports_stay_under_a_bound(launch, tiny_engine, tmp_path, monkeypatch):
    from webui.limits import Limits

    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))  # this server's own Gradio cache, to measure
    bound = 400_000
    app = launch(tiny_engine, tmp_path / "data", limits=Limits(export_max_mb=bound / 2**20),
                 request_defaults={"max_seconds": 1.0})
    c = api_client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
    c.predict(text="Export me again and again.", seed=3, api_name="/generate")
    rows, _ = c.predict(api_name="/history")
    exports_root = app.demo.studio.library.exports.root
    before = tree_bytes(exports_root) + tree_bytes(cache)
    sizes = []
    for i in range(30):  # every export differs (fade), so Gradio's cache cannot share copies
        path = c.predict(gen_id=rows[0]["id"], format="float", fade_ms=i + 1, api_name="/export")
        sizes.append(Path(path).stat().st_size)
    grown = tree_bytes(exports_root) + tree_bytes(cache) - before
    print(f"30 exports: {sum(sizes)} bytes made, disk grew {grown} bytes")
    assert sum(sizes) > 2 * bound  # unswept, 30 exports would hold all of this
    assert grown <= 2 * (bound + max(sizes)), (grown, sum(sizes))  # ours + Gradio's copies, both bounded


def test_cookieless_generations_are_answered_but_never_stored(launch, tiny_engine, tmp_path):
    """A caller without the owner cookie gets its takes, but no row and no file in the data folder: nobody
    could ever read or delete them there. Its files are prepared downloads, swept like exports."""
    import sqlite3

    import soundfile as sf

    import rawhttp

    app = launch(tiny_engine, tmp_path / "data", request_defaults={"max_seconds": 0.5})
    index = rawhttp.fn_index(app.demo, "api_generate")
    n_inputs = len(app.demo.fns[index].inputs)
    reply = rawhttp.queued(app.url, index, ["Nobody keeps this.", ""] + [None] * (n_inputs - 2))  # no cookie
    assert reply.get("success"), reply
    files, scores = reply["output"]["data"]
    assert len(files) == 1 and scores[0]["file"] == "take1.wav"
    db = sqlite3.connect(tmp_path / "data" / "studio.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 0
    assert not any((tmp_path / "data" / "audio").iterdir())
    held = list(app.demo.studio.library.exports.root.rglob("take1.wav"))
    assert len(held) == 1 and sf.info(str(held[0])).samplerate == 24_000
    app.demo.studio.library.exports.sweep(everything=True)
    assert not held[0].exists()


def test_a_deleted_rows_export_urls_answer_404_during_undo_and_after(launch, tiny_engine, tmp_path):
    import httpx

    import rawhttp

    app = launch(tiny_engine, tmp_path / "data", request_defaults={"max_seconds": 0.5})
    owner = "export-owner-" + "e" * 30
    data = ["Export, then delete.", None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 1, 1, 0.25, True, 0.2, True, *rawhttp.TAKE_CHECK]
    assert rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"), data, owner=owner)["success"]
    studio = app.demo.studio
    (rec,) = studio.library.history(owner)
    urls = []
    for fmt in ("wav", "flac"):
        reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "api_export"), [rec.id, 0, fmt, None, False, 0],
                               owner=owner)
        assert reply["success"], reply
        urls.append(reply["output"]["data"][0]["url"])
    urls.append(studio.library.export_zip(rec))  # the History tab's zip: a prepared download too
    zip_path = urls.pop()

    def status(url: str) -> int:
        return httpx.get(url, cookies={"bark_owner": owner}, timeout=10).status_code

    assert [status(u) for u in urls] == [200, 200]
    assert studio.library.trash_generation(owner, rec.id)
    assert [status(u) for u in urls] == [404, 404]  # during the Undo window
    assert not __import__("os").path.exists(zip_path)
    assert studio.library.restore_generation(owner, rec.id)  # Undo brings the row back, not old downloads
    assert [status(u) for u in urls] == [404, 404]
    assert studio.library.trash_generation(owner, rec.id)
    studio.library.store.purge_deleted(older_than_s=0)
    assert [status(u) for u in urls] == [404, 404]  # and after it
