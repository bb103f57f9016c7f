"""Per-owner quotas and rate limits (webui.quotas, webui.limits): voices, history rows and bytes, timelines and
versions each stop at their limit with a sentence; saving actions are rate-limited per owner and per address;
the History tab shows an owner's storage use; each limit is a flag of app.py."""

from __future__ import annotations

import io
from types import SimpleNamespace

import gradio as gr
import httpx
import numpy as np
import pytest

import rawhttp
from bark_core import Generation, GenerationRequest, Take, Voice
from bark_core import timeline as T
from webui.engine_holder import EngineHolder
from webui.limits import Limits
from webui.quotas import SAVING_ACTIONS, RateLimiter
from webui.store import Store
from webui.studio import Studio
from webui.timeline_store import TimelineStore
from webui.ui import build_demo
from webui.wiring import connect

OWNER = "quota-owner-" + "q" * 30
VOICE = Voice(semantic=np.arange(100) % 100, coarse=np.zeros((2, 150), np.int64), fine=np.zeros((8, 150), np.int64))


def _generation(samples: int = 2400) -> Generation:
    return Generation(takes=[Take(audio=np.zeros(samples, np.float32), voice=VOICE, seed=5)], seed=5,
                      timings={"total": 1.0})


def _studio(tmp_path, **limits) -> Studio:
    return Studio(EngineHolder(None, error="no weights"), Store(tmp_path / "data"), limits=Limits(**limits))


def test_voices_and_history_stop_at_their_limits_with_a_sentence(tmp_path):
    studio = _studio(tmp_path, max_voices=2, max_history=2)
    req = GenerationRequest(text="Quota.")
    for _ in range(2):
        studio.library.save_generation(OWNER, req, "", _generation())
        studio.voices.add(OWNER, "Mine", VOICE, "upload")
    with pytest.raises(ValueError, match=r"history holds 2 generations.*delete some"):
        studio.library.save_generation(OWNER, req, "", _generation())
    with pytest.raises(ValueError, match=r"You have 2 voices.*delete one"):
        studio.voices.add(OWNER, "Mine", VOICE, "upload")
    assert len(studio.library.history(OWNER)) == 2 and len(studio.library.store.list_voices(OWNER)) == 2
    other = "another-owner-" + "o" * 30  # one owner's quota is not another's
    studio.library.save_generation(other, req, "", _generation())
    studio.voices.add(other, "Theirs", VOICE, "upload")
    line = studio.quotas.usage_line(OWNER)
    assert "2 of 2 generations" in line and "2 of 2 voices" in line and "0 of 20 timelines" in line
    # deleting (even with Undo pending) makes room at once
    studio.voices.trash(OWNER, studio.library.store.list_voices(OWNER)[0].id)
    studio.voices.add(OWNER, "Mine again", VOICE, "upload")
    studio.library.trash_generation(OWNER, studio.library.history(OWNER)[0].id)
    studio.library.save_generation(OWNER, req, "", _generation())


def test_history_bytes_stop_at_their_limit(tmp_path):
    studio = _studio(tmp_path, max_history_mb=0.15)  # ~150 KB: one 1 s float take and its voice are ~100 KB
    req = GenerationRequest(text="Big.")
    studio.library.save_generation(OWNER, req, "", _generation(24_000))
    studio.library.save_generation(OWNER, req, "", _generation(24_000))  # under the bound before it: accepted
    with pytest.raises(ValueError, match=r"KB of audio.*delete some"):
        studio.library.save_generation(OWNER, req, "", _generation(24_000))


def test_timelines_and_versions_stop_at_their_limits(tmp_path):
    tstore = TimelineStore(tmp_path, max_timelines=2, max_versions=2)
    tl, _ = T.create_timeline("One one.\nTwo two.", "line", seed=1)
    first = tstore.create(OWNER, tl)
    tstore.create(OWNER, tl)
    with pytest.raises(ValueError, match=r"You have 2 timelines.*delete one"):
        tstore.create(OWNER, tl)
    tstore.create("another-owner-" + "o" * 30, tl)
    for _ in range(2):
        tstore.add_version(OWNER, first, tl, np.zeros(2400, np.float32))
    with pytest.raises(ValueError, match=r"2 versions.*start a new timeline"):
        tstore.add_version(OWNER, first, tl, np.zeros(2400, np.float32))
    assert [v.number for v in tstore.versions(OWNER, first)] == [2, 1]


def test_rate_limiter_counts_a_sliding_window():
    r = RateLimiter(2, window_s=0.3)
    assert r.wait_s("a") == 0
    r.add("a"), r.add("a")
    assert 0 < r.wait_s("a") <= 0.3 and r.wait_s("b") == 0
    import time

    time.sleep(0.35)
    assert r.wait_s("a") == 0


def _upload_voice(url: str, owner: str) -> dict:
    buf = io.BytesIO()
    np.savez(buf, semantic_prompt=VOICE.semantic, coarse_prompt=VOICE.coarse, fine_prompt=VOICE.fine)
    r = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files={"files": ("mine.npz", buf.getvalue())},
                   cookies={"bark_owner": owner}, timeout=30)
    (path,) = r.json()
    return {"path": path, "orig_name": "mine.npz", "meta": {"_type": "gradio.FileData"}}


def test_saving_is_rate_limited_per_owner_and_per_address(launch, tiny_engine, tmp_path):
    app = launch(tiny_engine, tmp_path, limits=Limits(saves_per_minute=2, saves_per_minute_per_address=3))
    index = rawhttp.fn_index(app.demo, "add_uploaded")
    store = app.demo.studio.library.store

    def upload(owner: str) -> dict:
        return rawhttp.queued(app.url, index, [_upload_voice(app.url, owner), "Mine", "English", "Any", "v2", ""],
                              owner=owner)

    a, b = "rate-owner-a-" + "a" * 30, "rate-owner-b-" + "b" * 30
    bad = rawhttp.queued(app.url, index, [None, "x", "English", "Any", "v2", ""], owner=a)
    assert rawhttp.refused(bad)  # a refused save is not counted
    for _ in range(2):
        assert not rawhttp.refused(upload(a))
    third = upload(a)
    assert rawhttp.refused(third) and "Too many saves: you saved 2 times" in " ".join(third["warnings"])
    assert len(store.list_voices(a)) == 2
    assert not rawhttp.refused(upload(b))  # a fresh owner from the same address: the address's third save
    fourth = upload(b)
    assert rawhttp.refused(fourth) and "your network address saved 3 times" in " ".join(fourth["warnings"])
    assert len(store.list_voices(b)) == 1


def test_every_saving_action_is_an_event_of_the_studio(tmp_path):
    """A name in SAVING_ACTIONS that no event runs would leave that save without its rate limit, unnoticed
    (a take card's "Open in timeline" once lost its limit when its handler was renamed)."""
    demo = build_demo(None, data_dir=tmp_path)
    wired = {getattr(fn.fn, "__name__", None) for fn in demo.fns.values()}
    assert SAVING_ACTIONS <= wired, sorted(SAVING_ACTIONS - wired)


def test_a_saving_action_cannot_be_wired_without_the_quotas():
    """Wiring a save without the studio's quotas fails when the page is built, not silently unlimited."""
    def save_style(owner=None):
        return {}

    with gr.Blocks():
        button = gr.Button()
        with pytest.raises(ValueError, match="quotas"):
            connect(button.click, save_style, {}, {})


def test_history_tab_shows_the_owners_storage(tmp_path):
    from webui import tab_history

    studio = _studio(tmp_path)  # its TimelineStore counts the timelines
    studio.library.save_generation(OWNER, GenerationRequest(text="Shown."), "", _generation(24_000))
    line = tab_history.list_history(studio, OWNER, False)["storage_md"]
    assert line.startswith("Your storage: 1 of 500 generations, ") and " KB of 500 MB" in line and "0 of 20 timelines" in line
    assert tab_history.list_history(studio, None, False)["storage_md"] == ""


def test_each_limit_is_a_flag(tmp_path):
    import app as app_module

    args = app_module.parse_args(["--max-voices", "3", "--max-timelines", "4", "--max-versions", "5",
                                  "--max-history", "6", "--max-history-mb", "7", "--saves-per-minute", "8",
                                  "--saves-per-minute-per-address", "9", "--export-keep-s", "10",
                                  "--export-max-mb", "11"])
    assert app_module.limits_from_args(args) == Limits(
        max_voices=3, max_timelines=4, max_versions=5, max_history=6, max_history_mb=7, saves_per_minute=8,
        saves_per_minute_per_address=9, export_keep_s=10, export_max_mb=11)
    assert app_module.limits_from_args(app_module.parse_args([])) == Limits()
    with pytest.raises(SystemExit):
        app_module.parse_args(["--max-voices", "0"])


def test_the_data_folder_of_all_users_together_is_capped(tmp_path):
    used = _studio(tmp_path).quotas.data_bytes(fresh=True)  # the empty database
    studio = _studio(tmp_path, max_data_gb=(used + 50_000) / 2**30)
    studio.quotas.data_ttl_s = 0  # measured at every save (the default, 30 s, may overshoot by that many saves)
    req = GenerationRequest(text="Fill.")
    studio.library.save_generation(OWNER, req, "", _generation(24_000))  # under the cap before it: accepted
    for save in (lambda: studio.library.save_generation("someone-else-" + "s" * 30, req, "", _generation()),
                 lambda: studio.voices.add(OWNER, "Mine", VOICE, "upload"),
                 lambda: TimelineStore(tmp_path / "data", check_room=studio.quotas.check_data).create(
                     OWNER, T.create_timeline("One.", "line", seed=1)[0])):
        with pytest.raises(ValueError, match=r"storage is full \(.* GB for all users together\)"):
            save()


def test_a_full_voice_list_refuses_a_clone_before_the_cloning_work(tmp_path):
    from webui import api, tab_clone

    studio = _studio(tmp_path, max_voices=1)  # no engine: cloning would fail if it were tried
    studio.voices.add(OWNER, "Mine", VOICE, "upload")
    with pytest.raises(ValueError, match="You have 1 voices"):
        tab_clone.save_clone(studio, OWNER, str(tmp_path / "none.wav"), None, None, "x", "All", "Any", "v2", "")
    request = SimpleNamespace(cookies={"bark_owner": OWNER})
    with pytest.raises(ValueError, match="You have 1 voices"):
        api.api_clone(studio, str(tmp_path / "none.wav"), "x", request)
