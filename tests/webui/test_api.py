"""The scripting API (gradio_client) against the studio on a tiny model, and app.py's wiring."""

from __future__ import annotations

import numpy as np
import httpx
import pytest
import soundfile as sf

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402


def _client(url):
    return api_client(url, verbose=False)


def test_api_lists_only_the_documented_endpoints(studio):
    info = _client(studio.url).view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == {"/generate", "/history", "/clone", "/export"}
    from bark_core import SETTINGS

    params = info["named_endpoints"]["/generate"]["parameters"]
    api_settings = [s for s in SETTINGS if s.api]
    assert [p["parameter_name"] for p in params] == ["text", "voice", *(s.name for s in api_settings), "preset"]
    assert [p["parameter_has_default"] for p in params] == [False] + [True] * (2 + len(api_settings))
    assert [p["parameter_default"] for p in params[2:]] == [s.default for s in api_settings] + [""]


def test_generate_returns_one_wav_per_take_and_history_is_private(studio):
    alice, bob = _client(studio.url), _client(studio.url)
    files, scores = alice.predict(text="Hello [laughs] world", voice="v2/en_speaker_6", seed=42, takes=2,
                                  api_name="/generate")
    assert len(files) == 2 and [s["file_index"] for s in scores] == [0, 1]
    assert [s["file"] for s in scores] == ["take1.wav", "take2.wav"]
    for s in scores:  # random weights make noise: the numbers are judged in tests/test_takecheck.py on speech
        assert set(s) >= {"file", "seed", "on_script", "speaker_similarity", "issues", "passed"}
        assert isinstance(s["seed"], int) and isinstance(s["issues"], list)
        assert s["on_script"] is None or 0.0 <= s["on_script"] <= 1.0
    for f in files:
        audio, sr = sf.read(f, dtype="float32")
        assert sr == 24_000 and audio.ndim == 1 and len(audio) > 0 and np.isfinite(audio).all()
    bob.predict(text="Bob's line", api_name="/generate")

    rows, hist_files = alice.predict(api_name="/history")
    assert [r["prompt"] for r in rows] == ["Hello [laughs] world"]
    r = rows[0]
    assert r["seed"] == 42 and r["voice"] == "preset:v2/en_speaker_6" and r["settings"]["takes"] == 2
    assert [t["seed"] for t in r["takes"]] == [s["seed"] for s in scores]
    assert r["settings"]["semantic_temp"] == 0.7 and "total" in r["timings"]
    assert len(hist_files) == 2 and [t["file_index"] for t in r["takes"]] == [0, 1]
    rows_b, _ = bob.predict(api_name="/history")
    assert [r["prompt"] for r in rows_b] == ["Bob's line"]
    # A third client sees nothing.
    assert _client(studio.url).predict(api_name="/history")[0] == []


def test_same_seed_same_audio(studio):
    c = _client(studio.url)
    a, _ = c.predict(text="Same seed", seed=7, api_name="/generate")
    b, _ = c.predict(text="Same seed", seed=7, api_name="/generate")
    np.testing.assert_array_equal(sf.read(a[0])[0], sf.read(b[0])[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(text="   "), "Please enter some text"),
    (dict(text="hi", voice="v2/xx_speaker_99"), "Unknown voice preset"),
    (dict(text="hi", takes=9), "takes"),
    (dict(text="hi", semantic_temp=0), "semantic temp"),
])
def test_bad_input_is_a_sentence_not_a_traceback(studio, kwargs, message):
    with pytest.raises(gradio_client.exceptions.AppError) as e:
        _client(studio.url).predict(api_name="/generate", **kwargs)
    assert message.lower() in str(e.value).lower()
    assert "Traceback" not in str(e.value)


def test_missing_weights_still_serves_a_first_run_page(launch, tmp_path):
    r = launch(None, tmp_path, load_error="Bark weights not found. Download suno/bark or pass --models.")
    assert httpx.get(r.url, timeout=10).status_code == 200
    with pytest.raises(gradio_client.exceptions.AppError) as e:
        _client(r.url).predict(text="hi", api_name="/generate")
    assert "not loaded" in str(e.value)


def test_app_args_and_spaces(tmp_path, monkeypatch):
    import app

    args = app.parse_args([])
    dep = app.resolve_deployment(args, environ={})
    assert dep["host"] == "127.0.0.1" and dep["data_dir"].name == "data" and not dep["on_space"]
    args = app.parse_args(["--data-dir", str(tmp_path), "--offload", "--small", "--dtype", "bfloat16"])
    dep = app.resolve_deployment(args, environ={"SPACE_ID": "me/bark"})
    assert dep["host"] == "0.0.0.0" and dep["data_dir"] == tmp_path.resolve() and dep["on_space"]
    s = app.engine_settings(args)
    assert s.placement == "offload" and s.small and s.dtype == "bfloat16"


def test_app_main_warns_on_share_without_auth(monkeypatch, capsys):
    import app

    monkeypatch.setattr(app, "build", lambda args: (type("D", (), {"launch": lambda self, **k: None})(), {}))
    app.main(["--share"])
    assert "--share without --auth" in capsys.readouterr().err


def test_app_build_with_missing_weights(tmp_path):
    import app

    args = app.parse_args(["--models", str(tmp_path / "nope"), "--offline", "--data-dir", str(tmp_path / "d")])
    demo, kwargs = app.build(args, environ={})
    assert demo.studio.holder.engine is None and demo.studio.holder.error
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["show_error"] is False
    assert str(tmp_path / "d") not in kwargs["allowed_paths"]  # never the folder holding the database


def test_history_carries_each_takes_check(studio):
    """Every saved take is scored (on script, same speaker, signal); random weights make noise, so the
    scores themselves are judged in tests/test_takecheck.py on real speech."""
    c = _client(studio.url)
    c.predict(text="Checking this take.", voice="v2/en_speaker_1", seed=5, takes=2, api_name="/generate")
    rows, _ = c.predict(api_name="/history")
    for take in rows[0]["takes"]:
        s = take["scores"]
        assert set(s) >= {"on_script", "speaker_similarity", "issues", "passed"}
        assert s["on_script"] is None or 0.0 <= s["on_script"] <= 1.0
        assert isinstance(s["issues"], list)


def test_cancelling_an_api_job_stops_the_engine_and_saves_nothing(launch, tiny_engine, tmp_path):
    """gradio_client's job.cancel(): the engine stops within seconds, the job is not saved, the next one runs."""
    import time

    r = launch(tiny_engine, tmp_path, request_defaults={})
    c = _client(r.url)
    job = c.submit(text="A long line that keeps the engine busy for a while. " * 3, max_seconds=12, seed=3,
                   api_name="/generate")
    deadline = time.monotonic() + 30
    while not tiny_engine._busy.locked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tiny_engine._busy.locked(), "the job never started"
    time.sleep(1.5)
    job.cancel()
    deadline = time.monotonic() + 10
    while tiny_engine._busy.locked() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tiny_engine._busy.locked(), "the engine kept running after the job was cancelled"
    time.sleep(0.5)
    rows, _ = c.predict(api_name="/history")
    assert rows == []
    assert len(c.predict(text="Next.", max_seconds=0.2, api_name="/generate")[0]) == 1


def test_an_unreachable_hub_means_offline_at_once(tmp_path, monkeypatch):
    """No network: the first-run page comes at once, and Download says why it cannot, instead of retrying."""
    import time

    import app

    monkeypatch.setattr(app, "hub_reachable", lambda timeout=1.5: False)
    args = app.parse_args(["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")])
    demo, _ = app.build(args, environ={})
    holder = demo.studio.holder
    assert holder.settings.offline and holder.engine is None and holder.error
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="offline"):
        holder.download(lambda message, fraction: None)
    assert time.monotonic() - t0 < 1
