"""CPU precision chosen by measurement: the rule (injected timings), the cache, placement and engine.info()."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bark_core import placement, precision, quantize
from bark_core.precision import choose

ROOT = Path(__file__).resolve().parents[1]


def t(f32: tuple, **others: tuple) -> dict:
    """Timings in ms: (one row, prompt) per precision."""
    return {p: {"one_row": a, "prompt": b} for p, (a, b) in dict(float32=f32, **others).items()}


# ---------------------------------------------------------------- the rule


def test_float32_unless_another_precision_is_clearly_faster_on_both_shapes():
    # issue 14's Xeon: bfloat16 listed in the flags but slower at one row and at 887 rows
    v = choose(t((0.244, 17.7), bfloat16=(0.298, 29.5)))
    assert v.dtype == "float32" and "bfloat16 0.82x at one row" in v.reason
    # much faster on prompts only (AMX) but slower one row at a time: decoding dominates, keep float32
    assert choose(t((0.26, 17.2), bfloat16=(0.41, 8.7))).dtype == "float32"
    assert choose(t((1.0, 10.0), bfloat16=(0.5, 9.0))).dtype == "float32"  # fast at one row only
    assert choose(t((1.0, 10.0), bfloat16=(0.5, 5.0))).dtype == "bfloat16"
    v = choose(t((1.2, 12.0), bfloat16=(1.0, 10.0)))  # exactly the threshold passes
    assert v.dtype == "bfloat16" and "1.20x at one row" in v.reason and "exact path" in v.reason
    assert choose(t((1.19, 12.0), bfloat16=(1.0, 10.0))).dtype == "float32"  # just below fails
    assert choose(t((1.19, 12.0), bfloat16=(1.0, 10.0)), threshold=1.1).dtype == "bfloat16"
    assert choose(t((1.0, 10.0), bfloat16=(0.5, 5.0)), threshold=2.5).dtype == "float32"


def test_the_best_worst_shape_speedup_wins_among_passing_precisions():
    timings = t((1.0, 10.0), bfloat16=(0.2, 7.0), float16=(0.5, 5.0))  # bf16: 5x, 1.43x; fp16: 2x, 2x
    assert choose(timings).dtype == "float16"
    timings["float16"]["prompt"] = 20.0
    assert choose(timings).dtype == "bfloat16"


@pytest.mark.parametrize("timings", [
    {},
    {"bfloat16": {"one_row": 0.1, "prompt": 1.0}},  # float32 never timed
    t((math.nan, math.inf), bfloat16=(0.1, 1.0)),
    t((0.0, -1.0), bfloat16=(0.1, 1.0)),
    t(("1", None), bfloat16=(0.1, 1.0)),
    t((1.0, 10.0), bfloat16=(0.1, math.nan)),  # a candidate missing a shape is not chosen
    {"float32": {"one_row": 1.0, "prompt": 10.0}, "bfloat16": {"one_row": 0.1}},
    {"float32": {"one_row": 1.0, "prompt": 10.0}, "int3": {"one_row": 0.1, "prompt": 1.0}},  # unknown precision
    {"float32": "fast", "bfloat16": {"one_row": 0.1, "prompt": 1.0}},
])
def test_missing_or_invalid_timings_keep_float32(timings):
    v = choose(timings)
    assert v.dtype == "float32" and v.reason.startswith("float32")


def test_verdict_is_plain_data_for_the_ui():
    v = choose(t((1.0, 10.0), bfloat16=(0.5, 5.0)))
    d = v.as_dict()
    assert d["dtype"] == "bfloat16" and d["cached"] is False and d["timings_ms"]["float32"]["prompt"] == 10.0
    assert json.loads(json.dumps(d)) == d
    assert v.torch_dtype == torch.bfloat16


@pytest.mark.parametrize("int8", [(0.5, 5.0), (0.01, 0.1), (1e-6, 1e-6)])
def test_auto_never_picks_int8_however_fast(int8):
    assert choose(t((1.0, 10.0), int8=int8)).dtype == "float32"
    v = choose(t((1.0, 10.0), bfloat16=(0.9, 9.5), int8=int8))  # bfloat16 too close; int8 does not count
    assert v.dtype == "float32" and "int8" not in v.reason
    v = choose(t((1.0, 10.0), bfloat16=(0.5, 5.0), int8=int8))
    assert v.dtype == "bfloat16" and "int8" not in v.reason
    assert v.timings_ms["int8"] == {"one_row": int8[0], "prompt": int8[1]}  # kept, for the UI


def test_int8_speedup_and_its_prompt_dtype_come_from_the_timings():
    assert precision.int8_speedup(t((1.0, 10.0), int8=(0.5, 20.0))) == {"one_row": 2.0, "prompt": 0.5}
    assert precision.int8_speedup(t((1.0, 10.0))) == {}  # not timed: nothing to show
    assert precision.int8_speedup({"int8": {"one_row": 1.0}}) == {}
    assert precision.int8_speedup(t((1.0, math.nan), int8=(0.5, 5.0))) == {"one_row": 2.0}
    assert precision.int8_prompt_dtype(t((1.0, 10.0), bfloat16=(2.0, 5.0))) == "bfloat16"  # prompts only count
    assert precision.int8_prompt_dtype(t((1.0, 10.0), bfloat16=(0.5, 9.0))) == "float32"
    assert precision.int8_prompt_dtype({}) == "float32"
    assert placement.prompt_dtype_for(choose(t((1.0, 10.0), bfloat16=(2.0, 5.0)))) == torch.bfloat16


# ---------------------------------------------------------------- the cache


class FakeMeasure:
    """Injected timings (one dict, or one per measurement in turn); counts how often the CPU was measured."""

    def __init__(self, *timings: dict):
        self.timings, self.calls = timings, []

    def __call__(self, size, candidates, budget_s):
        self.calls.append(size)
        return self.timings[min(len(self.calls), len(self.timings)) - 1]


@pytest.fixture
def machine(monkeypatch):
    """A pretend CPU model and torch version, changeable by the test."""
    state = {"cpu": "Test CPU 9000", "torch": "2.13.0+cpu"}
    monkeypatch.setattr(precision, "cpu_model", lambda cpuinfo=None: state["cpu"])
    monkeypatch.setattr(precision, "torch_version", lambda: state["torch"])
    return state


def test_measured_once_per_machine_then_read_from_the_cache(tmp_path, machine):
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0)))
    first = precision.cpu_choice(tmp_path, "small", measure_fn=fake)
    assert first.dtype == "bfloat16" and first.cached is False
    assert fake.calls == ["small", "small"]  # a winner other than float32 is measured twice
    data = json.loads((tmp_path / precision.CACHE_FILE).read_text())
    (key, entry), = data["entries"].items()
    assert "Test CPU 9000" in key and "torch 2.13.0+cpu" in key and "small" in key
    assert entry["cpu"] == "Test CPU 9000" and entry["torch"] == "2.13.0+cpu"
    assert entry["timings_ms"]["bfloat16"] == {"one_row": 0.5, "prompt": 5.0}

    again = precision.cpu_choice(tmp_path, "small", measure_fn=fake)
    assert again.cached is True and again.dtype == "bfloat16" and again.timings_ms == first.timings_ms
    assert fake.calls == ["small", "small"]  # reused, not measured again
    assert precision.cached_choice(tmp_path, "small").dtype == "bfloat16"

    for change in (("cpu", "Other CPU"), ("torch", "2.14.0+cpu")):  # another CPU or torch: measured again
        machine[change[0]] = change[1]
        assert precision.cpu_choice(tmp_path, "small", measure_fn=fake).cached is False
        assert precision.cpu_choice(tmp_path, "small", measure_fn=fake).cached is True
    precision.cpu_choice(tmp_path, "large", measure_fn=fake)  # another size: its own entry
    assert fake.calls == ["small"] * 6 + ["large"] * 2
    assert len(json.loads((tmp_path / precision.CACHE_FILE).read_text())["entries"]) == 4


def test_a_winner_other_than_float32_must_win_a_second_measurement_too(tmp_path, machine):
    lucky = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0)), t((1.0, 10.0), bfloat16=(1.1, 5.0)))
    v = precision.cpu_choice(tmp_path, measure_fn=lucky)
    assert v.dtype == "float32" and len(lucky.calls) == 2
    # cached: float32's better time and bfloat16's worse one, so the cache gives the same answer
    assert v.timings_ms == t((1.0, 10.0), bfloat16=(1.1, 5.0))
    assert precision.cpu_choice(tmp_path, measure_fn=lucky).dtype == "float32" and len(lucky.calls) == 2
    slower = FakeMeasure(t((1.0, 10.0), bfloat16=(2.0, 20.0)))
    assert precision.cpu_choice(tmp_path / "b", measure_fn=slower).dtype == "float32"
    assert len(slower.calls) == 1  # float32 at the first measurement: no second one


def test_int8_timings_are_cached_and_read_back_without_changing_the_choice(tmp_path, machine):
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(1.1, 12.0), int8=(0.2, 30.0)))
    v = precision.cpu_choice(tmp_path, "small", measure_fn=fake)
    assert v.dtype == "float32" and fake.calls == ["small"]  # int8 wins nothing: no second measurement
    entry, = json.loads((tmp_path / precision.CACHE_FILE).read_text())["entries"].values()
    assert entry["timings_ms"]["int8"] == {"one_row": 0.2, "prompt": 30.0}
    hit = precision.cached_choice(tmp_path, "small")
    assert hit.cached and hit.dtype == "float32" and hit.timings_ms["int8"] == {"one_row": 0.2, "prompt": 30.0}
    assert precision.int8_speedup(hit.timings_ms) == pytest.approx({"one_row": 5.0, "prompt": 1 / 3})
    # a winner measured twice: int8's worse figure of the two is what is cached and shown
    twice = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0), int8=(0.25, 8.0)),
                        t((1.0, 10.0), bfloat16=(0.5, 5.0), int8=(0.5, 6.0)))
    assert precision.cpu_choice(tmp_path / "b", measure_fn=twice).timings_ms["int8"] == {"one_row": 0.5, "prompt": 8.0}


def test_a_cache_from_before_int8_was_timed_is_measured_again(tmp_path, machine):
    key = precision.cache_key("large")
    (tmp_path / precision.CACHE_FILE).write_text(json.dumps(
        {"version": 1, "entries": {key: {"timings_ms": t((1.0, 10.0), bfloat16=(2.0, 20.0))}}}))
    assert precision.cached_choice(tmp_path) is None
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(2.0, 20.0), int8=(0.5, 12.0)))
    assert precision.cpu_choice(tmp_path, measure_fn=fake).cached is False and len(fake.calls) == 1
    assert precision.int8_speedup(precision.cached_choice(tmp_path).timings_ms)["one_row"] == 2.0


def test_the_rule_is_reapplied_to_cached_timings(tmp_path, machine):
    precision.cpu_choice(tmp_path, measure_fn=FakeMeasure(t((1.0, 10.0), bfloat16=(0.7, 7.0))))  # 1.43x
    assert precision.cpu_choice(tmp_path, measure_fn=FakeMeasure({})).dtype == "bfloat16"
    assert precision.cpu_choice(tmp_path, threshold=1.5, measure_fn=FakeMeasure({})).dtype == "float32"


@pytest.mark.parametrize("content", [
    "{not json",
    "",
    "[1, 2, 3]",
    json.dumps({"version": 99, "entries": {}}),
    "BAD-ENTRY",  # the right key, with timings that are not timings
])
def test_a_corrupt_cache_is_ignored_and_measured_again(tmp_path, machine, content):
    path = tmp_path / precision.CACHE_FILE
    if content == "BAD-ENTRY":
        key = precision.cache_key("large")
        content = json.dumps({"version": precision.CACHE_VERSION,
                              "entries": {key: {"timings_ms": {"float32": {"one_row": "x"}, "bfloat16": 3}}}})
    path.write_text(content)
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(2.0, 20.0)))
    v = precision.cpu_choice(tmp_path, measure_fn=fake)
    assert v.dtype == "float32" and v.cached is False and len(fake.calls) == 1
    assert precision.cpu_choice(tmp_path, measure_fn=fake).cached is True  # rewritten, now valid


def test_an_unwritable_cache_folder_does_not_fail(tmp_path, machine):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0)))
    v = precision.cpu_choice(blocker / "cache", measure_fn=fake)
    assert v.dtype == "bfloat16" and v.cached is False
    assert precision.cpu_choice(blocker / "cache", measure_fn=fake).cached is False  # nothing saved: measured again
    assert not list(tmp_path.glob("**/.precision-*"))  # no temporary files left behind


def test_the_real_measurement_returns_timings_the_rule_accepts():
    timings = precision.measure("small", budget_s=0.0)  # one round; behaviour only, no timing assertions
    assert set(timings) >= {"float32"} and set(timings) <= {"float32", "bfloat16", "float16", "int8"}
    assert ("int8" in timings) == quantize.int8_available()  # the fast mode's own Linear, timed beside the others
    assert "int8" not in precision.measure("small", budget_s=0.0, int8=False)
    for shapes in timings.values():
        assert set(shapes) == set(precision.SHAPES) and all(ms > 0 and math.isfinite(ms) for ms in shapes.values())
    assert choose(timings).dtype in timings
    with pytest.raises(ValueError, match="large or small"):
        precision.measure("medium")


def test_no_measurement_on_import(tmp_path):
    code = ("import bark_core.engine, bark_core.placement, bark_core.precision as p, pathlib; "
            "assert not pathlib.Path.home().joinpath('.cache', 'bark-studio', p.CACHE_FILE).exists()")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / ".cache").exists()


# ---------------------------------------------------------------- placement and engine.info()


def test_placement_auto_uses_the_measured_choice_and_explicit_dtypes_skip_it(tmp_path, machine, monkeypatch):
    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0)))
    monkeypatch.setattr(precision, "measure", fake)
    place = placement.resolve("cpu", "auto", "auto", cache_dir=tmp_path, size="small")
    assert place.dtype == torch.bfloat16 and place.placement == "cpu" and not place.exact
    assert place.choice.dtype == "bfloat16" and fake.calls == ["small", "small"]
    assert placement.resolve_dtype("auto", torch.device("cpu"), tmp_path, "small") == torch.bfloat16  # cached
    assert fake.calls == ["small", "small"]
    for name in ("float32", "bfloat16", "float16"):
        p = placement.resolve("cpu", name, "cpu", cache_dir=tmp_path / "never")
        assert p.dtype == placement.DTYPES[name] and p.choice is None
    assert placement.resolve("cpu", "float32", "cpu").exact  # the exact path stays on request
    assert not (tmp_path / "never").exists() and fake.calls == ["small", "small"]


def test_engine_info_carries_the_choice_and_its_timings(tiny_native, tmp_path, machine, monkeypatch):
    from bark_core.engine import Engine, EngineSettings

    fake = FakeMeasure(t((1.0, 10.0), bfloat16=(0.5, 5.0), float16=(2.0, 8.0)))
    monkeypatch.setattr(precision, "measure", fake)
    settings = EngineSettings(models=str(tiny_native), device="cpu", offline=True, cache_dir=str(tmp_path))
    info = Engine.load(settings).info()
    choice = info["precision_choice"]
    assert info["dtype"] == "bfloat16" == choice["dtype"] and choice["cached"] is False
    assert choice["timings_ms"]["float16"] == {"one_row": 2.0, "prompt": 8.0} and "2.00x" in choice["reason"]
    assert info["precision_warning"] is None and (tmp_path / precision.CACHE_FILE).exists()
    assert fake.calls == ["large", "large"]
    assert info["fast_cpu_mode"]["speedup"] == {}  # int8 not in these timings: not measured
    exact = Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32", offline=True,
                                       cache_dir=str(tmp_path))).info()
    assert exact["precision_choice"] is None and exact["dtype"] == "float32" and exact["exact"]
    assert fake.calls == ["large", "large"]


def test_engine_info_carries_the_fast_modes_cached_gain_even_when_float32_was_asked_for(tiny_native, tmp_path,
                                                                                        machine, monkeypatch):
    from bark_core.engine import Engine, EngineSettings

    def load(folder):
        return Engine.load(EngineSettings(models=str(tiny_native), device="cpu", dtype="float32", offline=True,
                                          cache_dir=str(folder))).info()["fast_cpu_mode"]

    monkeypatch.setattr(precision, "measure", FakeMeasure(t((1.0, 10.0), int8=(0.5, 20.0))))
    never = load(tmp_path / "fresh")
    assert never["speedup"] == {} and never["available"] == quantize.int8_available()  # float32 asked: not measured
    assert never["agreement_on_random_weights"] == list(quantize.AGREEMENT_ON_RANDOM_WEIGHTS)
    precision.cpu_choice(tmp_path)  # an earlier "auto" load measured this CPU
    assert load(tmp_path)["speedup"] == {"one_row": 2.0, "prompt": 0.5}
