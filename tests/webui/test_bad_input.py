"""Bad input through the launched studio: each row gets a sentence, loses nothing, and the server
keeps serving (a good generation right after it succeeds, and an earlier user's history is intact).

Engine-level refusals (tests/test_engine.py), the voice file validator (tests/test_voices.py) and
checkpoint safety (tests/test_loading.py) are tested there; here the same inputs travel the real
paths: the gradio_client API, the browser's HTTP calls (NaN, fn_index of UI events) and uploads.
"""

from __future__ import annotations

import io
import pickle
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

import rawhttp
from bark_core import SETTINGS

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402
AppError = gradio_client.exceptions.AppError
FAST = {"max_seconds": 0.05}  # a few tokens: the good request after each row stays cheap
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def app(tiny_engine, tmp_path_factory):
    from conftest import Running

    r = Running(tiny_engine, tmp_path_factory.mktemp("bad-input"), request_defaults=FAST)
    r.witness = api_client(r.url, verbose=False)  # an earlier user whose work must survive
    r.witness_files, _ = r.witness.predict(text="Earlier work.", seed=5, api_name="/generate")
    yield r
    r.close()


def _client(app):
    return api_client(app.url, verbose=False)


def _still_serving(app, client=None) -> None:
    """A good request right after a bad one succeeds, and nobody's earlier work was touched."""
    c = client or _client(app)
    before = len(c.predict(api_name="/history")[0])
    files, _ = c.predict(text="Still here.", seed=1, api_name="/generate")
    audio, sr = sf.read(files[0], dtype="float32")
    assert sr == 24_000 and len(audio) > 0 and np.isfinite(audio).all()
    assert len(c.predict(api_name="/history")[0]) == before + 1
    rows, hist = app.witness.predict(api_name="/history")
    assert [r["prompt"] for r in rows] == ["Earlier work."]
    np.testing.assert_array_equal(sf.read(hist[0])[0], sf.read(app.witness_files[0])[0])


def _assert_sentence(message: str, expected: str) -> None:
    assert expected.lower() in message.lower(), message
    assert "Traceback" not in message and 'File "' not in message and len(message) < 400, message


# ----------------------------------------------------------------------------------------- text

TEXT_REFUSED = [
    ("empty", "", "Please enter some text"),
    ("whitespace", " \t\n\u3000 ", "Please enter some text"),
    ("none", None, "Please enter some text"),
    ("100k characters", "x" * 100_000, "at most 5,000"),
    ("100k characters of words", "word " * 20_000, "at most 5,000"),
    ("only control characters", "\x00\x07\x1b\x7f", "nothing the tokenizer can read"),
]


@pytest.mark.parametrize("label, text, message", TEXT_REFUSED, ids=[r[0] for r in TEXT_REFUSED])
def test_bad_text_is_refused_quickly_with_a_sentence(app, label, text, message):
    c = _client(app)
    t0 = time.monotonic()
    with pytest.raises(AppError) as e:
        c.predict(text=text, api_name="/generate")
    assert time.monotonic() - t0 < 5, "refusing must not wait for a generation"
    _assert_sentence(str(e.value), message)
    assert c.predict(api_name="/history")[0] == []  # nothing half-saved
    _still_serving(app, c)


TEXT_ACCEPTED = [
    ("control characters inside", "Hello\x00 wor\x07ld\x1b[0m!", "Hello world"),
    ("only tags", "[laughs] [music] [sighs]", None),
    ("rtl and cjk", "שלום עולם. مرحبا بالعالم. 你好，世界。こんにちは。", None),
    ("emoji", "🐶 Woof! 🎉 [laughs] ❤️‍🔥", None),
]


@pytest.mark.parametrize("label, text, spoken", TEXT_ACCEPTED, ids=[r[0] for r in TEXT_ACCEPTED])
def test_unusual_text_generates_and_is_kept_exactly(app, label, text, spoken):
    c = _client(app)
    files, _ = c.predict(text=text, seed=3, api_name="/generate")
    assert len(sf.read(files[0])[0]) > 0
    rows, _ = c.predict(api_name="/history")
    assert [r["prompt"] for r in rows] == [text]  # the history keeps what was typed, byte for byte
    if spoken is not None:  # control characters were dropped with a warning, not silently
        assert any("control" in w.lower() for w in rows[0]["warnings"]), rows[0]["warnings"]
    _still_serving(app, c)


def test_text_cap_is_said_in_the_prompt_estimate(app):
    """Pasting a book does not split 100 000 characters on every keystroke; the estimate says the limit."""
    t0 = time.monotonic()
    out = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "estimate_prompt"), ["word " * 20_000])
    assert time.monotonic() - t0 < 2
    assert "at most 5,000" in out["output"]["data"][0]


# -------------------------------------------------------------------------------------- numbers

# api_generate's inputs: text, voice, the settings table's API settings in order, then the preset.
API_NAMES = ["text", "voice", *(s.name for s in SETTINGS if s.api), "preset"]
GOOD = ["Numbers.", "", *(1 if s.name == "seed" else s.default for s in SETTINGS if s.api), ""]
SEED, TAKES = API_NAMES.index("seed"), API_NAMES.index("takes")
NUMBERS = [
    ("semantic NaN", 2, NAN, "Semantic temperature"),
    ("coarse inf", 3, INF, "Coarse temperature"),
    ("negative temperature", 2, -0.5, "Semantic temperature"),
    ("huge temperature", 3, 1e300, "Coarse temperature"),
    ("temperature as text", 2, "hot", "must be a number"),
    ("seed -1", SEED, -1, "Seed must be a whole number in 0..4294967295"),
    ("seed 2^32", SEED, 2**32, "Seed must be a whole number in 0..4294967295"),
    ("seed NaN", SEED, NAN, "Seed must be a whole number"),
    ("seed 1.5", SEED, 1.5, "Seed must be a whole number"),
    ("takes 0", TAKES, 0, "Takes must be a whole number in 1..8"),
    ("takes 1000", TAKES, 1000, "Takes must be a whole number in 1..8"),
    ("takes NaN", TAKES, NAN, "Takes must be a whole number"),
]


@pytest.mark.parametrize("label, index, value, message", NUMBERS, ids=[r[0] for r in NUMBERS])
def test_bad_numbers_through_the_api_get_a_sentence(app, label, index, value, message):
    """Sent as raw JSON (NaN and Infinity included, which gradio_client cannot encode)."""
    data = list(GOOD)
    data[index] = value
    sh = rawhttp.session()
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "api_generate"), data, session_hash=sh)
    assert reply.get("success") is False, reply
    _assert_sentence(rawhttp.error_text(reply), message)
    _still_serving(app)


# The studio's own Generate event (what the browser sends): top-k and top-p live only there.
def _ui_generate_data(**changes):
    v = dict(text="UI numbers.", ref=None, st=0.7, ct=0.7, ft=0.5, tk=0, tp=1.0, eos=0.2, seed=1, takes=1,
             pause=0.25, early=True, max_s=0.05, live=True)
    v.update(changes)
    return [v["text"], v["ref"], v["st"], v["ct"], v["ft"], v["tk"], v["tp"], v["eos"], v["seed"],
            v["takes"], v["pause"], v["early"], v["max_s"], v["live"], *rawhttp.TAKE_CHECK]


UI_NUMBERS = [
    # Sliders refuse out-of-range values themselves (webui.input_guard words it, without the value); the rest is ours.
    ("top-p 0", dict(tp=0.0), "“Top-p” must be a number from 0.01 to 1."),
    ("top-p 1.5", dict(tp=1.5), "“Top-p” must be a number from 0.01 to 1."),
    ("top-k -3", dict(tk=-3), "“Top-k” must be a whole number from 0 to 10000."),
    ("max seconds -1", dict(max_s=-1), "from 0"),
]


@pytest.mark.parametrize("label, changes, message", UI_NUMBERS, ids=[r[0] for r in UI_NUMBERS])
def test_bad_numbers_through_the_ui_event_get_a_sentence(app, label, changes, message):
    owner = "owner-" + rawhttp.session() * 3
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"), _ui_generate_data(**changes), owner=owner)
    assert reply.get("success") is False, reply
    _assert_sentence(rawhttp.error_text(reply), message)
    assert app.demo.studio.library.store.list_generations(owner) == []
    _still_serving(app)


def test_top_k_zero_means_off_in_the_ui(app):
    owner = "owner-" + rawhttp.session() * 3
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"), _ui_generate_data(tk=0, tp=1.0),
                           owner=owner)
    assert reply.get("success") is True, reply
    (rec,) = app.demo.studio.library.store.list_generations(owner)
    assert rec.settings["top_k"] is None and rec.settings["top_p"] is None


# --------------------------------------------------------------------------------------- voices

@pytest.fixture(scope="module")
def browser_voice(app):
    """A voice saved by a browser user: its id must be useless to anyone else."""
    from bark_core.voices import save_voice

    owner = "browser-owner-" + "a" * 20
    voice = app.demo.studio.holder.engine.load_voice("v2/en_speaker_1")
    v = app.demo.studio.library.store.add_voice(owner, "Alice's voice", voice, "upload", save_voice)
    return v


API_VOICES = [
    ("dotdot", "../../etc/passwd", "Unknown voice preset"),
    ("absolute path", "/etc/passwd", "Unknown voice preset"),
    ("unknown preset", "v2/en_speaker_99", "Unknown voice preset"),
    ("user dotdot", "user:../studio.sqlite3", "no longer exists"),
    ("nul", "v2/en_speaker_1\x00", "Unknown voice preset"),
    ("very long", "v" * 10_000, "Unknown voice preset"),
]


@pytest.mark.parametrize("label, voice, message", API_VOICES, ids=[r[0] for r in API_VOICES])
def test_bad_voice_names_through_the_api(app, label, voice, message):
    c = _client(app)
    with pytest.raises(AppError) as e:
        c.predict(text="Voice.", voice=voice, api_name="/generate")
    _assert_sentence(str(e.value), message)
    assert c.predict(api_name="/history")[0] == []
    _still_serving(app, c)


def test_another_users_voice_id_is_refused_through_the_api(app, browser_voice):
    c = _client(app)
    with pytest.raises(AppError) as e:
        c.predict(text="Borrowed voice.", voice=f"user:{browser_voice.id}", api_name="/generate")
    _assert_sentence(str(e.value), "no longer exists")
    _still_serving(app, c)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


class _CreatesFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _good_arrays(t=20, n=30):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 10_000, t), rng.integers(0, 1024, (2, n)), rng.integers(0, 1024, (8, n)))


def _huge_header(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<i8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


def _upload_rows(sentinel: Path):
    s, c, f = _good_arrays()
    good = {"semantic_prompt.npy": _npy(s), "coarse_prompt.npy": _npy(c), "fine_prompt.npy": _npy(f)}
    evil = np.empty(1, dtype=object)
    evil[0] = _CreatesFile(str(sentinel))
    assert pickle.dumps(evil)
    return [
        ("not a zip", b"I am a text file, not a voice.", "not a valid .npz"),
        ("pickle inside", _zip({**good, "semantic_prompt.npy": _npy(evil)}), "pickle"),
        ("wrong keys", _npz(a=s, b=c, c=f), "lacks"),
        ("float arrays", _npz(semantic_prompt=s, coarse_prompt=c.astype(np.float32), fine_prompt=f), "integer"),
        ("ids out of range", _npz(semantic_prompt=s + 10_000, coarse_prompt=c, fine_prompt=f), "outside 0..9999"),
        ("500 MB array", _zip({**good, "fine_prompt.npy": _huge_header((8, 8_000_000))}), "more than a voice may hold"),
        ("zero length", _npz(semantic_prompt=s[:0], coarse_prompt=c[:, :0], fine_prompt=f[:, :0]), "empty"),
        ("over the voice cap", b"PK" + b"\0" * (5 * 2**20), "too big"),
    ]


def _upload(app, name: str, data: bytes) -> dict:
    r = httpx.post(f"{app.url.rstrip('/')}/gradio_api/upload", files={"files": (name, data)}, timeout=30)
    assert r.status_code == 200, r.text
    (path,) = r.json()
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _add_uploaded(app, owner, file_data, name=""):
    return rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "add_uploaded"),
                          [file_data, name, "English", "Any", "v2", ""], owner=owner)


def test_bad_voice_uploads_through_the_ui_are_refused_and_nothing_runs(app, tmp_path):
    sentinel = tmp_path / "PWNED"
    store = app.demo.studio.library.store
    owner = "uploader-" + "u" * 30
    for label, data, message in _upload_rows(sentinel):
        files_before = sorted(p.name for p in store.voices_dir.iterdir())
        reply = _add_uploaded(app, owner, _upload(app, f"{label.replace(' ', '_')}.npz", data))
        assert rawhttp.refused(reply), label  # a toast; every component stays usable
        _assert_sentence(rawhttp.error_text(reply), message)
        assert store.list_voices(owner) == [], label
        assert sorted(p.name for p in store.voices_dir.iterdir()) == files_before, label
        assert not sentinel.exists(), "the pickle ran"
        _still_serving(app)


def test_upload_named_with_dotdot_stays_a_name(app):
    s, c, f = _good_arrays(t=20, n=30)
    owner = "uploader-" + "d" * 30
    reply = _add_uploaded(app, owner, _upload(app, "../../../evil.npz", _npz(semantic_prompt=s, coarse_prompt=c,
                                                                            fine_prompt=f)), name="../../etc/passwd")
    assert reply.get("success") is True, reply
    (v,) = app.demo.studio.library.store.list_voices(owner)
    assert v.name == "../../etc/passwd"  # only a label
    assert v.path.parent == app.demo.studio.library.store.voices_dir and v.path.name == f"{v.id}.npz" and v.path.is_file()
    assert not (app.data_dir.parent / "evil.npz").exists() and not Path("/etc/passwd.npz").exists()


def test_upload_over_the_cap_is_refused_by_the_server(app):
    """Gradio's max_file_size (8 MB here, --max-upload-mb in app.py) refuses it while it streams in."""
    r = httpx.post(f"{app.url.rstrip('/')}/gradio_api/upload",
                   files={"files": ("big.npz", b"\0" * (9 * 2**20))}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:200])
    _still_serving(app)


def test_app_passes_the_upload_cap_to_gradio(tmp_path):
    import app as app_module

    args = app_module.parse_args(["--models", str(tmp_path / "none"), "--offline", "--data-dir", str(tmp_path / "d"),
                                  "--max-upload-mb", "2"])
    _, kwargs = app_module.build(args, environ={})
    assert kwargs["max_file_size"] == 2 * 2**20
