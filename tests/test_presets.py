"""presets/: the voice catalog and the named generation presets, their checks, ``--preset``, and the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bark_core import presets as P
from bark_core import settings as table
from bark_core.cli import build_parser, main
from bark_core.flags import given_settings, setting_values

ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, name: str, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_catalog_and_the_presets_are_read_from_the_top_level_presets_folder():
    assert P.presets_dir() == ROOT / "presets"
    assert P.catalog_path() == ROOT / "presets" / "voices.json" and P.catalog_path().is_file()
    names = [p.name for p in P.builtin_presets()]
    assert names == sorted(names) and {"narration", "expressive", "singing", "sound_effects"} <= set(names)


def test_every_shipped_preset_is_valid_and_sounds_like_its_name():
    by = {p.name: p for p in P.builtin_presets()}
    for p in by.values():
        assert p.label and p.description
        values = p.values()
        table.validate(values)  # every value inside the table's range
        assert set(values) == {s.name for s in P.PRESET_SETTINGS}
        assert "seed" not in values and "takes" not in values
    narration, expressive = by["narration"].values(), by["expressive"].values()
    assert narration["semantic_temp"] < 0.7 and narration["min_eos_p"] < 0.2 and narration["early_stop"]
    assert expressive["semantic_temp"] > 0.7 and expressive["coarse_temp"] > 0.7
    assert by["singing"].values()["early_stop"] is False
    assert by["sound_effects"].values()["max_seconds"] is not None
    # widgets: off values as the sliders show them
    assert by["singing"].widgets()["max_seconds"] == 0.0 and by["singing"].widgets()["top_k"] == 0


def test_a_bad_preset_file_is_refused_with_a_sentence_naming_it(tmp_path):
    good = {"label": "Mine", "description": "", "settings": {"semantic_temp": 0.5}}
    assert P.load_preset_file(_write(tmp_path, "mine", good)).settings == {"semantic_temp": 0.5}
    cases = [
        ("broken", '{"label": "Broken", "settings": {', "broken.json is not valid JSON"),
        ("hot", {"label": "Hot", "settings": {"coarse_temp": 3.0}}, "Coarse temperature must be a number in 0.05..1.5"),
        ("nan", '{"label": "N", "settings": {"fine_temp": NaN}}', "Fine temperature must be"),
        ("typo", {"label": "Typo", "settings": {"semantic_tmp": 0.5}}, "'semantic_tmp' is not a setting a preset"),
        ("seed", {"label": "Seeded", "settings": {"seed": 1}}, "'seed' is not a setting a preset"),
        ("extra", {"label": "Extra", "settings": {}, "colour": "red"}, "unknown key 'colour'"),
        ("nolabel", {"settings": {}}, "\"label\" must be"),
        ("flag", {"label": "F", "settings": {"early_stop": "no"}}, "Stop at end of speech must be true or false"),
        ("list", [1, 2], "a preset is a JSON object"),
    ]
    for name, data, message in cases:
        path = _write(tmp_path / name, name, data)
        with pytest.raises(ValueError) as e:
            P.load_preset_file(path)
        assert f"{name}.json" in str(e.value) and message in str(e.value), str(e.value)
        with pytest.raises(ValueError, match=f"{name}.json"):
            P.builtin_presets(path.parent)
    _write(tmp_path / "badname", "Bad Name", good)
    with pytest.raises(ValueError, match="file name"):
        P.builtin_presets(tmp_path / "badname")


def test_find_and_apply():
    presets = P.builtin_presets()
    assert P.find_preset("Singing", presets).name == "singing"  # a label works too, any case
    assert P.find_preset(" NARRATION ", presets).name == "narration"
    with pytest.raises(ValueError, match="no preset 'opera'; the presets are: expressive, narration"):
        P.find_preset("opera", presets)
    singing = P.find_preset("singing", presets)
    values = P.apply_preset(singing, {"coarse_temp": 0.9})
    assert values["coarse_temp"] == 0.9 and values["early_stop"] is False and values["takes"] == 1
    assert P.apply_preset(None, {}) == {s.name: s.default for s in table.SETTINGS}


def test_cli_flags_given_are_known_even_when_they_equal_the_default():
    args = build_parser().parse_args(["generate", "x", "--preset", "narration", "--semantic-temp", "0.7",
                                      "--no-early-stop", "--top-k", "0"])
    assert given_settings(args) == {"semantic_temp", "early_stop", "top_k"}
    assert setting_values(args)["early_stop"] is False and setting_values(args)["top_k"] is None
    plain = build_parser().parse_args(["generate", "x"])
    assert given_settings(plain) == frozenset() and plain.early_stop is True and plain.semantic_temp == 0.7


def test_cli_preset_with_flags_that_override_it(tiny_native, tmp_path, monkeypatch, capsys):
    from bark_core.engine import Engine

    seen = []
    real = Engine.generate

    def spy(self, request, *a, **kw):
        seen.append(request)
        return real(self, request, *a, **kw)

    monkeypatch.setattr(Engine, "generate", spy)
    out = tmp_path / "take.wav"
    common = ["--models", str(tiny_native), "--offline", "--device", "cpu", "--tokens-only", "-o", str(out)]
    assert main(["generate", "La la la.", "--preset", "singing", "--coarse-temp", "0.7", "--semantic-temp", "0.9",
                 "--max-seconds", "0.2", "--seed", "5", *common]) == 0
    r = seen[-1]
    assert (r.semantic_temp, r.coarse_temp, r.early_stop, r.max_seconds, r.segment_pause_s, r.seed) == \
        (0.9, 0.7, False, 0.2, 0.1, 5)
    assert "preset singing:" in capsys.readouterr().err
    # a preset file of one's own
    mine = _write(tmp_path, "mine", {"label": "Mine", "settings": {"fine_temp": 0.4, "max_seconds": 0.2}})
    assert main(["generate", "Hi.", "--preset", str(mine), *common]) == 0
    assert seen[-1].fine_temp == 0.4 and seen[-1].semantic_temp == 0.7 and seen[-1].max_seconds == 0.2
    # an unknown name: one line listing the names, before anything is loaded
    n = len(seen)
    assert main(["generate", "Hi.", "--preset", "opera", *common]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: There is no preset 'opera'") and "narration" in err and "singing" in err
    assert len(seen) == n


def test_the_wheel_ships_presets_and_the_installed_code_reads_them(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("bark_studio-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"presets/{p.relative_to(ROOT / 'presets').as_posix()}" for p in (ROOT / "presets").rglob("*.json")}
    assert "presets/voices.json" in shipped and shipped <= names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True, cwd=tmp_path)
    code = ("from bark_core import presets as P, preset_catalog; "
            "by = {p.name: p for p in preset_catalog()}; "
            "print(P.catalog_path(), by['v2/en_speaker_9'].gender, ','.join(p.name for p in P.builtin_presets()))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == str(target / "presets" / "voices.json")
    assert out[1] == "female"  # read from the installed voices.json, not the fallback ("unknown")
    assert set(out[2].split(",")) >= {"narration", "expressive", "singing", "sound_effects"}
