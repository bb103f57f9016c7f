"""Voices: validation, safe .npz/.npy loading, saving, preset resolution, catalog."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bark_core.constants import LANGUAGES
from bark_core.types import Voice
from bark_core.voices import (
    MAX_FRAMES,
    PRESET_NAMES,
    PresetInfo,
    load_voice,
    load_voice_npz,
    preset_catalog,
    resolve_preset,
    save_voice,
    validate_voice,
)


def _bark_prompts_dir() -> Path | None:
    spec = importlib.util.find_spec("bark")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "assets" / "prompts"
    return d if d.is_dir() else None


PROMPTS = _bark_prompts_dir()
needs_bark = pytest.mark.skipif(PROMPTS is None, reason="Suno's bark wheel (with its presets) is not installed")


def _arrays(t: int = 20, n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 10_000, size=t),
        rng.integers(0, 1024, size=(2, n)),
        rng.integers(0, 1024, size=(8, n)),
    )


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _good_dict(**over) -> dict:
    s, c, f = _arrays()
    d = {"semantic_prompt": s, "coarse_prompt": c, "fine_prompt": f}
    d.update(over)
    return d


# --------------------------------------------------------------------------- names


def test_preset_names_allowlist():
    assert len(PRESET_NAMES) == 261 == len(set(PRESET_NAMES))
    assert "announcer" in PRESET_NAMES and "v2/en_speaker_6" in PRESET_NAMES and "zh_speaker_9" in PRESET_NAMES
    for lang in LANGUAGES:
        assert f"v2/{lang}_speaker_0" in PRESET_NAMES and f"{lang}_speaker_9" in PRESET_NAMES


# --------------------------------------------------------------------------- real presets


@needs_bark
def test_every_real_suno_preset_loads_and_validates():
    for name in PRESET_NAMES:
        v = resolve_preset(name, prompts_dir=PROMPTS)
        assert v.name == name
        for a in (v.semantic, v.coarse, v.fine):
            assert a.dtype == np.int64 and a.flags.c_contiguous
        assert v.coarse.shape[1] == v.fine.shape[1]


@needs_bark
def test_load_voice_real_npz_path_and_preset_name():
    path = PROMPTS / "v2" / "en_speaker_6.npz"
    raw = np.load(path)
    v = load_voice(path)
    assert v.name == "en_speaker_6"
    np.testing.assert_array_equal(v.semantic, raw["semantic_prompt"])
    np.testing.assert_array_equal(v.fine, raw["fine_prompt"])  # stored int32, returned int64
    v2 = load_voice("v2/en_speaker_6", prompts_dir=PROMPTS)
    np.testing.assert_array_equal(v2.coarse, v.coarse)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(load_voice_npz(f).coarse, v.coarse)


# --------------------------------------------------------------------------- validate / save / load


def test_validate_returns_int64_copies():
    s, c, f = _arrays()
    f32 = f.astype(np.int32)
    v = validate_voice(s, np.asfortranarray(c), f32, name="x")
    assert v.fine.dtype == np.int64 and v.coarse.flags.c_contiguous
    s[0] = 1
    assert v.semantic is not s and not np.shares_memory(v.semantic, s)


def test_save_and_load_round_trip(tmp_path):
    s, c, f = _arrays(t=100, n=150)
    v = validate_voice(s, c, f, name="mine")
    out = save_voice(v, tmp_path / "mine.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]  # no temp file left behind
    back = load_voice(out)
    assert back.name == "mine"
    for a, b in zip((back.semantic, back.coarse, back.fine), (s, c, f)):
        np.testing.assert_array_equal(a, b)
    save_voice(back, out)  # overwrite in place
    with pytest.raises(ValueError, match=r"\.npz"):
        save_voice(v, tmp_path / "mine.wav")
    with pytest.raises(ValueError, match="Voice"):
        save_voice({"semantic_prompt": s}, tmp_path / "x.npz")


class _CreatesFile:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _huge_npy_header(shape: tuple, dtype: str = "<i8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\x00" * 64  # header claims ~500 MB; the data is not there


def _zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _corrupt_compressed() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **_good_dict())
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("fine_prompt.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + info.compress_size - 5):
        data[i] ^= 0x5A
    return bytes(data)


def _bad_files(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    s, c, f = _arrays()
    sentinel = tmp_path / "PWNED"
    obj = np.empty(1, dtype=object)
    obj[0] = _CreatesFile(str(sentinel))
    assert pickle.dumps(obj)  # the payload really is picklable
    good = {"semantic_prompt.npy": _npy(s), "coarse_prompt.npy": _npy(c), "fine_prompt.npy": _npy(f)}
    return [
        ("not a zip", b"hello, I am text and not a voice", "not a valid .npz"),
        ("empty file", b"", "not a valid .npz"),
        ("bare npy", _npy(s), "single .npy"),
        ("pickle inside", _zip_of({**good, "semantic_prompt.npy": _npy(obj)}), "pickle"),
        ("missing key", _npz_bytes(semantic_prompt=s, coarse_prompt=c), "lacks fine_prompt"),
        ("extra key", _npz_bytes(**_good_dict(), extra=s), "unexpected"),
        ("renamed keys", _npz_bytes(a=s, b=c, c=f), "lacks"),
        ("float arrays", _npz_bytes(**_good_dict(coarse_prompt=c.astype(np.float32))), "integer"),
        ("bool arrays", _npz_bytes(**_good_dict(semantic_prompt=s > 5)), "integer"),
        ("semantic id 10000", _npz_bytes(**_good_dict(semantic_prompt=np.full(20, 10_000))), "outside 0..9999"),
        ("negative id", _npz_bytes(**_good_dict(fine_prompt=f - 2000)), "outside 0..1023"),
        ("coarse id 1024", _npz_bytes(**_good_dict(coarse_prompt=c + 1024)), "outside 0..1023"),
        ("zero length", _npz_bytes(semantic_prompt=s[:0], coarse_prompt=c[:, :0], fine_prompt=f[:, :0]), "empty"),
        ("wrong rank", _npz_bytes(**_good_dict(semantic_prompt=s.reshape(4, 5))), "1-dimensional"),
        ("3 coarse rows", _npz_bytes(**_good_dict(coarse_prompt=np.zeros((3, 30), np.int64))), "2 rows"),
        ("frames differ", _npz_bytes(**_good_dict(fine_prompt=f[:, :29])), "same frames"),
        ("ratio off", _npz_bytes(semantic_prompt=s, coarse_prompt=c[:, :20], fine_prompt=f[:, :20]), "belong together"),
        (
            "huge declared array",
            _zip_of({**good, "fine_prompt.npy": _huge_npy_header((8, 62_500_000))}),
            "more than a voice may hold",
        ),
        (
            "zip bomb member",
            _zip_of({**good, "fine_prompt.npy": _npy(np.zeros((8, 80_000), np.int64))}),
            "unpacks to",
        ),
        ("corrupt deflate", _corrupt_compressed(), "damaged|not a valid"),
        ("truncated data", _zip_of({**good, "coarse_prompt.npy": _npy(c)[:-16]}), "truncated"),
    ]


def test_bad_voice_files_each_give_clear_value_error(tmp_path):
    cases = _bad_files(tmp_path)
    tracemalloc.start()
    try:
        for label, data, message in cases:
            path = _write(tmp_path / f"{label.replace(' ', '_')}.npz", data)
            t0 = time.perf_counter()
            with pytest.raises(ValueError, match=message) as info:
                load_voice_npz(path)
            assert time.perf_counter() - t0 < 2.0, label
            assert "Traceback" not in str(info.value) and len(str(info.value)) < 400, label
            with pytest.raises(ValueError, match=message):  # same answer for an open file object
                load_voice_npz(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # the 500 MB array was never allocated
    assert not (tmp_path / "PWNED").exists()  # the pickle never ran


def test_file_over_size_cap_is_refused_before_reading(tmp_path):
    path = _write(tmp_path / "big.npz", b"x" * 5000)  # not even a zip: the size check comes first
    with pytest.raises(ValueError, match="larger than the 1000-byte limit"):
        load_voice_npz(path, max_bytes=1000)
    with pytest.raises(ValueError, match="larger than"):
        load_voice_npz(io.BytesIO(b"x" * 5000), max_bytes=1000)
    with pytest.raises(ValueError, match="max_bytes"):
        load_voice_npz(path, max_bytes=0)
    with pytest.raises(ValueError, match="does not exist"):
        load_voice_npz(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="not a regular file"):
        load_voice_npz(tmp_path)


@pytest.mark.parametrize(
    "spec",
    ["../etc/passwd", "v2/../announcer", "en_speaker_10", "EN_SPEAKER_0", "v3/en_speaker_0", "v2\\en_speaker_0",
     "/etc/passwd", "", "announcer ", "xx_speaker_0", "voice.wav"],
)
def test_bad_names_are_refused(spec, tmp_path):
    with pytest.raises(ValueError, match="Preset names look like|preset name like"):
        load_voice(spec, models_folder=tmp_path, prompts_dir=tmp_path)
    with pytest.raises(ValueError, match="Preset names look like"):
        resolve_preset(spec, models_folder=tmp_path)


def test_load_voice_other_inputs(tmp_path):
    with pytest.raises(ValueError):
        load_voice(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="No folder"):
        load_voice("announcer")
    with pytest.raises(ValueError, match="not installed"):
        load_voice("announcer", models_folder=tmp_path / "nope", prompts_dir=tmp_path)
    v = validate_voice(*_arrays())
    assert isinstance(load_voice(v), Voice)


# --------------------------------------------------------------------------- transformers layout


def _write_npy_preset(folder: Path, rel: dict[str, str], seed: int = 0) -> dict[str, np.ndarray]:
    s, c, f = _arrays(seed=seed)
    arrays = {"semantic_prompt": s, "coarse_prompt": c, "fine_prompt": f}
    for key, r in rel.items():
        (folder / r).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / r, arrays[key])
    return arrays


def _rels(name: str) -> dict[str, str]:
    return {k: f"speaker_embeddings/{name}_{k}.npy" for k in ("semantic_prompt", "coarse_prompt", "fine_prompt")}


def test_transformers_layout_index_and_convention(tmp_path):
    a = _write_npy_preset(tmp_path, _rels("v2/en_speaker_3"), seed=1)
    b = _write_npy_preset(tmp_path, _rels("de_speaker_1"), seed=2)
    index = {"repo_or_path": "suno/bark", "v2/en_speaker_3": _rels("v2/en_speaker_3")}
    (tmp_path / "speaker_embeddings_path.json").write_text(json.dumps(index))
    v = resolve_preset("v2/en_speaker_3", models_folder=tmp_path)
    np.testing.assert_array_equal(v.semantic, a["semantic_prompt"])
    w = resolve_preset("de_speaker_1", models_folder=tmp_path)  # not in the index: found by convention
    np.testing.assert_array_equal(w.fine, b["fine_prompt"])
    with pytest.raises(ValueError, match="not installed"):
        resolve_preset("fr_speaker_1", models_folder=tmp_path)


def test_hf_cache_snapshot_symlinks_to_blobs_are_allowed(tmp_path):
    repo = tmp_path / "models--suno--bark"
    snap = repo / "snapshots" / "abc123"
    blobs = repo / "blobs"
    blobs.mkdir(parents=True)
    arrays = _write_npy_preset(blobs, {k: f"{i}blob.npy" for i, k in enumerate(("semantic_prompt", "coarse_prompt", "fine_prompt"))})
    for i, (k, r) in enumerate(_rels("announcer").items()):
        (snap / r).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blobs / f"{i}blob.npy", (snap / r).parent), snap / r)
    (snap / "speaker_embeddings_path.json").write_text(json.dumps({"announcer": _rels("announcer")}))
    v = resolve_preset("announcer", models_folder=snap)
    np.testing.assert_array_equal(v.coarse, arrays["coarse_prompt"])


@pytest.mark.parametrize("attack", ["absolute", "dotdot", "symlink", "backslash-dotdot", "not-a-string", "nul"])
def test_index_pointing_outside_the_folder_is_refused(tmp_path, attack):
    models = tmp_path / "models"
    models.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    _write_npy_preset(outside, {k: f"{k}.npy" for k in ("semantic_prompt", "coarse_prompt", "fine_prompt")})
    rels = _rels("en_speaker_0")
    _write_npy_preset(models, rels)
    target = {
        "absolute": str(outside / "semantic_prompt.npy"),
        "dotdot": "../secret/semantic_prompt.npy",
        "backslash-dotdot": "speaker_embeddings\\..\\..\\secret\\semantic_prompt.npy",
        "not-a-string": ["speaker_embeddings/x.npy"],
        "nul": "speaker_embeddings/en_speaker_0_semantic_prompt.npy\x00",
        "symlink": "speaker_embeddings/link.npy",
    }[attack]
    if attack == "symlink":
        os.symlink(outside / "semantic_prompt.npy", models / "speaker_embeddings" / "link.npy")
    (models / "speaker_embeddings_path.json").write_text(json.dumps({"en_speaker_0": {**rels, "semantic_prompt": target}}))
    with pytest.raises(ValueError, match="model folder|invalid path"):
        resolve_preset("en_speaker_0", models_folder=models)


def test_broken_index_files(tmp_path):
    (tmp_path / "speaker_embeddings_path.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_preset("announcer", models_folder=tmp_path)
    (tmp_path / "speaker_embeddings_path.json").write_text(json.dumps({"announcer": "speaker_embeddings/a.npy"}))
    with pytest.raises(ValueError, match="broken entry"):
        resolve_preset("announcer", models_folder=tmp_path)
    (tmp_path / "speaker_embeddings_path.json").write_text(json.dumps(["announcer"]))
    with pytest.raises(ValueError, match="JSON object"):
        resolve_preset("announcer", models_folder=tmp_path)


def test_pickled_npy_in_models_folder_is_refused(tmp_path):
    rels = _rels("en_speaker_0")
    _write_npy_preset(tmp_path, rels)
    obj = np.empty(1, dtype=object)
    obj[0] = _CreatesFile(str(tmp_path / "PWNED"))
    np.save(tmp_path / rels["coarse_prompt"], obj, allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        resolve_preset("en_speaker_0", models_folder=tmp_path)
    assert not (tmp_path / "PWNED").exists()


# --------------------------------------------------------------------------- catalog


def test_catalog_covers_every_preset():
    cat = preset_catalog()
    assert [p.name for p in cat] == list(PRESET_NAMES)
    assert all(isinstance(p, PresetInfo) and p.gender in ("male", "female", "unknown") for p in cat)
    by = {p.name: p for p in cat}
    assert by["v2/en_speaker_9"].gender == "female" and by["v2/en_speaker_6"].gender == "male"
    assert by["v2/de_speaker_3"].language_name == "German" and by["v2/de_speaker_3"].version == "v2"
    assert by["announcer"].language == "en" and "announcer" in by["announcer"].description
    assert by["fr_speaker_0"].version == "v1"
    assert sum(p.language == "ja" for p in cat) == 20


def test_catalog_file_is_only_descriptive(tmp_path):
    bad = {"presets": [{"name": "../../etc/passwd", "gender": "male"}, {"name": "announcer", "gender": "robot"},
                       {"name": "en_speaker_1", "gender": "female", "description": "custom"}]}
    (tmp_path / "c.json").write_text(json.dumps(bad))
    cat = preset_catalog(tmp_path / "c.json")
    assert [p.name for p in cat] == list(PRESET_NAMES)
    by = {p.name: p for p in cat}
    assert by["announcer"].gender == "unknown" and by["en_speaker_1"].description == "custom"
    assert len(preset_catalog(tmp_path / "missing.json")) == 261


# --------------------------------------------------------------------------- fuzz

_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
           np.float16, np.float32, np.float64, np.bool_, np.complex64, object, "U3", "S2", "M8[s]"]


@st.composite
def _any_array(draw):
    dtype = draw(st.sampled_from(_DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 12), min_size=0, max_size=3)))
    size = int(np.prod(shape)) if shape else 1
    values = draw(st.lists(st.integers(-3, 1030), min_size=size, max_size=size))
    try:
        return np.array(values, dtype=np.int64).astype(dtype).reshape(shape)
    except (TypeError, ValueError):
        return np.zeros(shape, dtype=dtype)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_any_array(), _any_array(), _any_array(), st.sampled_from([None, "list", "scalar"]))
def test_fuzz_validate_voice_only_raises_value_error(s, c, f, other):
    if other == "list":
        s = s.tolist()
    elif other == "scalar":
        c = 3
    try:
        v = validate_voice(s, c, f)
    except ValueError as e:
        assert str(e)
    else:
        assert v.semantic.dtype == np.int64 and v.coarse.shape[1] == v.fine.shape[1] <= MAX_FRAMES


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 2))
def test_fuzz_load_voice_npz_bytes_only_raises_value_error(data, where):
    if where == 1:  # damage a real file
        good = _npz_bytes(**_good_dict())
        data = good[: len(data) % len(good)] + data
    elif where == 2:
        data = b"PK\x03\x04" + data
    with pytest.raises(ValueError):
        load_voice_npz(io.BytesIO(data))


def test_ratio_check_matches_the_reference_coarse_assertion():
    # bark.generation.generate_coarse asserts exactly this about a history prompt.
    semantic_to_coarse_ratio = 75 / 49.9 * 2
    for t in range(1, 80):
        for n in range(1, 140, 3):
            s, c, f = _arrays(t=t, n=n)
            ok = round(c.shape[-1] / len(s), 1) == round(semantic_to_coarse_ratio / 2, 1)
            try:
                validate_voice(s, c, f)
                accepted = True
            except ValueError:
                accepted = False
            assert accepted == ok, (t, n)
