"""Security defaults of a shared studio: what is served, what the browser sees of errors, and that one
session can neither read, play, change nor reuse another's history or voices (UI events and API).

Already tested elsewhere: 127.0.0.1 by default and 0.0.0.0 on Spaces, the --share warning
(test_api.py), owner filtering in the store (test_store.py), per-session Stop (test_store.py).
"""

from __future__ import annotations

import httpx
import pytest

import rawhttp

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402
AppError = gradio_client.exceptions.AppError
ALICE = "alice-owner-token-" + "a" * 16
MALLORY = "mallory-owner-tok-" + "m" * 16
FILTERS = ["English", "Any", "v2", ""]


def _get_file(url: str, path) -> httpx.Response:
    return httpx.get(f"{url.rstrip('/')}/gradio_api/file={path}", timeout=10)


@pytest.fixture(scope="module")
def alice(studio):
    """Alice, a browser user, made a generation (through the UI event) and saved a voice."""
    from bark_core.voices import save_voice

    st = studio.demo.studio
    data = ["Alice's secret line.", None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 11, 1, 0.25, True, 0.3, True, *rawhttp.TAKE_CHECK]
    assert rawhttp.queued(studio.url, rawhttp.fn_index(studio.demo, "generate"), data, owner=ALICE)["success"]
    (rec,) = st.library.store.list_generations(ALICE)
    voice = st.library.store.add_voice(ALICE, "Alice's voice", st.holder.engine.load_voice("v2/en_speaker_2"), "upload",
                               save_voice)
    return rec, voice


def test_files_outside_the_audio_and_preview_folders_are_refused(studio, alice):
    rec, voice = alice
    root = studio.data_dir.resolve()
    refused = ["/etc/passwd", "/proc/self/environ", root / "studio.sqlite3", root / "studio.sqlite3-wal",
               root / "browser-secret", voice.path, root / "audio" / ".." / "studio.sqlite3",
               f"{root}/audio/../browser-secret", "../../../../etc/passwd", "http://169.254.169.254/latest/meta-data/"]
    for path in refused:
        r = _get_file(studio.url, path)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert b"root:" not in r.content and b"SQLite format" not in r.content
    assert _get_file(studio.url, rec.takes[0].wav).status_code == 200  # what the studio itself serves


def test_a_failure_never_shows_a_traceback_or_server_details(studio, monkeypatch):
    engine = studio.demo.studio.holder.engine

    def broken(*a, **k):
        raise RuntimeError("secret detail /root/.cache/private/path.bin")

    c = api_client(studio.url, verbose=False)
    with monkeypatch.context() as m:
        m.setattr(engine, "generate", broken)
        with pytest.raises(AppError) as e:
            c.predict(text="Break.", api_name="/generate")
    msg = str(e.value)
    assert "Generation failed (RuntimeError)" in msg and "server log" in msg
    assert "secret" not in msg and "/root" not in msg and "Traceback" not in msg

    # An unexpected error outside our handlers (the database) reaches the browser as a bare error.
    store = studio.demo.studio.library.store

    def db_down(*a, **k):
        raise __import__("sqlite3").OperationalError("disk I/O error at /root/secret.sqlite3")

    with monkeypatch.context() as m:
        m.setattr(store, "list_generations", db_down)
        reply = rawhttp.queued(studio.url, rawhttp.fn_index(studio.demo, "list_history"), [False, ""], owner=ALICE)
    assert reply.get("success") is False
    assert "secret" not in str(reply) and "Traceback" not in str(reply) and "sqlite" not in str(reply).lower()


def test_ui_events_are_not_api_endpoints(studio):
    info = api_client(studio.url, verbose=False).view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == {"/generate", "/history", "/clone", "/export"} and not info["unnamed_endpoints"]
    for name in ("delete_generation", "toggle_star", "reuse", "select_row", "add_uploaded", "rename_voice", "delete_voice",
                 "generate", "reload_model", "download_model"):
        fns = [fn for fn in studio.demo.fns.values() if fn.name == name]
        assert fns and all(fn.api_visibility == "private" for fn in fns), name


def test_guessed_ids_in_ui_events_reach_nothing(studio, alice):
    """Mallory calls the studio's own events the way her browser would, naming Alice's ids everywhere she can.

    Row ids travel in server-side session state, which a client cannot set; the only identity a
    client sends is its owner token, and every store call filters by it.
    """
    rec, voice = alice
    st = studio.demo.studio
    url, demo = studio.url, studio.demo

    def call(name, owner, data):
        return rawhttp.queued(url, rawhttp.fn_index(demo, name), data, owner=owner)

    # Alice's row id where the browser would send the selected row (session state), and as the owner.
    for owner in (MALLORY, rec.id):
        call("delete_generation", owner, [rec.id, False, ""])
        call("toggle_star", owner, [rec.id, False, ""])
        reply = call("reuse", owner, [rec.id])
        assert "Alice's secret line." not in str(reply)
        reply = call("save_take_as_voice", owner, [rec.id])
        assert "Alice" not in str(reply)
        history = call("list_history", owner, [False, ""])
        assert "Alice" not in str(history)
        call("rename_voice", owner, [f"user:{voice.id}", "stolen", *FILTERS])
        call("delete_voice", owner, [f"user:{voice.id}", *FILTERS])
    loaded = call("on_load", MALLORY, [f"user:{voice.id}"])  # Alice's voice as if this browser had saved it
    assert "Alice" not in str(loaded) and rec.id not in str(loaded) and voice.id not in str(loaded)

    again = st.library.store.get_generation(ALICE, rec.id)
    assert again is not None and not again.starred and all(t.wav.is_file() for t in again.takes)
    (v,) = st.library.store.list_voices(ALICE)
    assert v.name == "Alice's voice" and v.path.is_file()
    assert st.library.store.list_voices(MALLORY) == [] and st.library.store.list_generations(MALLORY) == []


def test_api_clients_cannot_read_or_reuse_browser_or_other_client_work(studio, alice):
    rec, voice = alice
    a, b = (api_client(studio.url, verbose=False) for _ in range(2))
    a.predict(text="A's private words.", seed=3, api_name="/generate")
    rows_b, files_b = b.predict(api_name="/history")
    assert rows_b == [] and files_b == []
    with pytest.raises(AppError, match="no longer exists"):
        b.predict(text="Using Alice's voice.", voice=f"user:{voice.id}", api_name="/generate")
    rows_a, _ = a.predict(limit=200, api_name="/history")
    assert [r["prompt"] for r in rows_a] == ["A's private words."]
    assert rec.id not in str(rows_a)


def test_history_limit_cannot_be_abused(studio):
    c = api_client(studio.url, verbose=False)
    for limit in (-1, 0, 10**12):
        rows, files = c.predict(limit=limit, api_name="/history")
        assert rows == [] and files == []
