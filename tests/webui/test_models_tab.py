"""The Models & memory tab: one size per stage, the memory estimate, and what Reload loads (no browser)."""

from __future__ import annotations

import html
import re

import pytest
import torch

import bark_core

FILTERS = ["English", "Any", "v2", ""]


def _fn(demo, name):
    """The handler (``webui.tab_*`` function) an event named ``name`` runs; several triggers may run it."""
    fns = {fn.fn.__module__ for fn in demo.fns.values() if fn.name == name}
    assert len(fns) == 1, f"{len(fns)} modules with an event function named {name!r}"
    return next(fn.fn for fn in demo.fns.values() if fn.name == name)


def _gb(text: str) -> float:
    return float(re.search(r"([\d.]+) GB", text).group(1))


@pytest.fixture
def studio_with_loader(tiny_engine, tmp_path):
    """An unlaunched studio whose reloads record the settings they were asked for (and keep the tiny engine)."""
    import webui
    from webui.engine_holder import EngineHolder

    asked = []

    def loader(settings, on_progress):
        asked.append(settings)
        return tiny_engine

    holder = EngineHolder(tiny_engine, settings=tiny_engine.settings, loader=loader)
    return webui.build_demo(holder, data_dir=tmp_path), asked


def test_reload_with_mixed_sizes_builds_small_stages(studio_with_loader):
    demo, asked = studio_with_loader
    reload_model = _fn(demo, "reload_model")
    quiet = lambda *a, **k: None  # noqa: E731  (gr.Progress outside an event)

    out = reload_model("large", "small", "small", "cpu", "float32", "cpu", *FILTERS, progress=quiet)
    assert out[-1] == "✓ Loaded."
    s = asked[-1]
    assert s.small is False and s.small_stages == ("coarse", "fine")
    assert (s.device, s.dtype, s.placement) == ("cpu", "float32", "cpu")
    assert s.models == demo.studio.holder.settings.models  # a local folder is kept

    reload_model("small", "small", "small", "cpu", "float32", "cpu", *FILTERS, progress=quiet)
    assert asked[-1].small is True and asked[-1].small_stages == ()
    reload_model("large", "large", "large", "cpu", "float32", "cpu", *FILTERS, progress=quiet)
    assert asked[-1].small is False and asked[-1].small_stages == ()
    reload_model("small", "large", "large", "cpu", "float32", "cpu", *FILTERS, progress=quiet)
    assert asked[-1].small is False and asked[-1].small_stages == ("semantic",)


def test_reload_settings_lets_each_stage_find_its_default_repo():
    from bark_core.engine import EngineSettings, stage_sizes
    from webui.model_settings import reload_settings

    mixed = dict(semantic="large", coarse="large", fine="small")
    for repo in ("suno/bark", "suno/bark-small"):
        s = reload_settings(EngineSettings(models=repo, small=(repo == "suno/bark-small")), mixed, "auto", "auto", "auto")
        assert s.models is None and stage_sizes(s) == mixed
    s = reload_settings(EngineSettings(models="/my/weights"), mixed, "cuda", "bfloat16", "offload")
    assert s.models == "/my/weights" and (s.device, s.dtype, s.placement) == ("cuda", "bfloat16", "offload")
    with pytest.raises(ValueError, match="large or small"):
        reload_settings(EngineSettings(), dict(mixed, fine="medium"), "auto", "auto", "auto")


def test_estimate_follows_each_stage_size(studio_with_loader):
    demo, _ = studio_with_loader
    estimate = _fn(demo, "estimate_memory")
    gpu = ("cuda", "float16", "resident")

    large = estimate("large", "large", "large", *gpu)
    fine_small = estimate("large", "large", "small", *gpu)
    all_small = estimate("small", "small", "small", *gpu)
    assert "Estimated peak GPU memory" in large and "less than all large" not in large
    assert fine_small != large and "less than all large" in fine_small
    assert _gb(all_small) < _gb(fine_small) < _gb(large)

    from bark_core.placement import estimate_gpu_memory

    expected = estimate_gpu_memory(dict(semantic="large", coarse="large", fine="small"), "float16", "resident")
    assert abs(_gb(fine_small) - expected / 2**30) < 0.06
    # Offloading: the biggest stage sets the peak, so a small semantic model is what lowers it.
    off = ("cuda", "float16", "offload")
    assert _gb(estimate("small", "large", "large", *off)) < _gb(estimate("large", "large", "small", *off))
    assert "none" in estimate("large", "large", "small", "cpu", "float32", "cpu")


def test_cpu_precision_without_instructions_is_flagged_before_reload(studio_with_loader, monkeypatch):
    from bark_core import placement

    monkeypatch.setattr(placement, "cpu_computes_natively", lambda dtype, cpuinfo=None: dtype == torch.float32)
    estimate = _fn(studio_with_loader[0], "estimate_memory")
    assert "no bfloat16 instructions" in estimate("small", "small", "small", "cpu", "bfloat16", "cpu")
    assert "instructions" not in estimate("small", "small", "small", "cpu", "float32", "cpu")


def test_defaults_come_from_the_loaded_engine_then_the_settings():
    from bark_core.engine import EngineSettings
    from webui.model_settings import model_defaults

    class Loaded:
        def info(self):
            return dict(sizes=dict(semantic="large", coarse="small", fine="small"), size="mixed")

    d = model_defaults(EngineSettings(), Loaded())
    assert d["sizes"] == dict(semantic="large", coarse="small", fine="small")
    d = model_defaults(EngineSettings(small_stages=("fine",), device="cpu"), None)
    assert d["sizes"]["fine"] == "small" and d["sizes"]["semantic"] in ("large", "small")
    assert model_defaults(EngineSettings(small=True), None)["sizes"] == dict.fromkeys(("semantic", "coarse", "fine"), "small")


def test_first_run_download_fetches_both_sizes_for_mixed_settings(monkeypatch):
    from bark_core.engine import EngineSettings
    from webui.engine_holder import EngineHolder

    calls = []
    monkeypatch.setattr(bark_core, "download_weights", lambda small, **kw: calls.append(small))
    EngineHolder(settings=EngineSettings(small_stages=("fine",))).download(lambda m, f: None)
    assert calls == [False, True]
    calls.clear()
    EngineHolder(settings=EngineSettings(small=True)).download(lambda m, f: None)
    assert calls == [True]


def test_app_small_stages_flag():
    import app

    args = app.parse_args(["--small-stages", "fine,coarse"])
    s = app.engine_settings(args)
    assert s.small_stages == ("coarse", "fine") and s.small is False
    assert app.engine_settings(app.parse_args([])).small_stages == ()
    with pytest.raises(SystemExit):
        app.parse_args(["--small-stages", "fine,codec"])


def test_labels_say_each_thing_once_and_tiny_models_are_not_called_large(studio_with_loader):
    # issue 22 #8: "tiny · cpu · float32 · cpu" (cpu twice) and every stage shown as Large while tiny models are loaded
    from webui import tab_models
    from webui.model_settings import model_defaults

    demo, _ = studio_with_loader
    studio = demo.studio
    badge = tab_models.header_html(studio)
    assert "cpu" in badge and badge.count("cpu") == 1 and "tiny test models" in badge
    md = tab_models.models_md(studio)
    assert md.count("cpu") == 1 and "neither Large nor Small" in md
    controls = tab_models.loaded_controls(studio)
    assert [controls[f"size_{s}"] for s in ("semantic", "coarse", "fine")] == [None, None, None]
    assert model_defaults(studio.holder.settings, studio.holder.engine)["sizes"] == dict.fromkeys(
        ("semantic", "coarse", "fine"))
    assert "pick Large or Small" in tab_models.estimate_memory(None, None, None, "cuda", "float16", "resident")["m_estimate"]
    assert "runs on the CPU" in tab_models.estimate_memory(None, None, None, "cpu", "float32", "cpu")["m_estimate"]
    # a GPU placement that adds something is still shown
    assert tab_models.engine_label(dict(size="large", device="cuda:0", dtype="float16", placement="offload")) == \
        "Large · cuda:0 · float16 · stage-by-stage offload"


def test_the_precision_line_says_what_was_chosen_and_why_in_plain_words():
    from bark_core.precision import choose
    from webui.tab_models import precision_words

    slower = choose({"float32": {"one_row": 1.0, "prompt": 10.0}, "bfloat16": {"one_row": 1.2, "prompt": 12.0}})
    words = precision_words(slower.as_dict())
    assert words.startswith("float32 (exact): bfloat16 was not faster on this CPU")
    assert "shapes" not in words and "1.2x as fast on both" not in words
    close = choose({"float32": {"one_row": 1.0, "prompt": 10.0}, "bfloat16": {"one_row": 0.9, "prompt": 9.5}})
    assert "bfloat16 was at best 1.1x as fast" in precision_words(close.as_dict())
    fast = choose({"float32": {"one_row": 2.0, "prompt": 20.0}, "bfloat16": {"one_row": 1.0, "prompt": 10.0}})
    assert precision_words(fast.as_dict()).startswith("bfloat16 (faster, not token-exact)")


def _fast(speedup=None, available=True) -> dict:
    from bark_core import quantize

    return dict(available=available, speedup=speedup or {},
                agreement_on_random_weights=list(quantize.AGREEMENT_ON_RANDOM_WEIGHTS))


def test_the_fast_mode_line_says_the_cached_gain_and_the_agreement_it_costs():
    from bark_core import quantize
    from bark_core.precision import choose
    from webui.tab_models import fast_mode_words, precision_words

    low, high = (round(100 * a) for a in quantize.AGREEMENT_ON_RANDOM_WEIGHTS)  # the one place the figure lives
    words = fast_mode_words(dict(dtype="float32", fast_cpu_mode=_fast({"one_row": 1.94, "prompt": 0.6})))
    assert words.startswith("Fast CPU mode (int8): about 1.9x faster per decode step than float32 on this CPU")
    assert f"about {low}-{high} % of tokens agree" in words and "not measured on Suno's weights" in words
    assert "not been measured" in fast_mode_words(dict(dtype="float32", fast_cpu_mode=_fast()))
    assert "not faster per decode step" in fast_mode_words(dict(dtype="float32", fast_cpu_mode=_fast({"one_row": 0.8})))
    assert fast_mode_words(dict(dtype="int8", fast_cpu_mode=_fast({"one_row": 2.0}))).startswith(
        "Fast CPU mode (int8) is on: about 2.0x faster")
    assert "not available" in fast_mode_words(dict(dtype="float32", fast_cpu_mode=_fast(available=False)))
    # the precision line leaves int8 to its own line, however fast it was timed
    timed = choose({"float32": {"one_row": 1.0, "prompt": 10.0}, "bfloat16": {"one_row": 1.2, "prompt": 12.0},
                    "int8": {"one_row": 0.1, "prompt": 1.0}})
    assert timed.dtype == "float32" and "int8" not in precision_words(timed.as_dict())


def test_one_click_switches_to_the_fast_mode_and_back(studio_with_loader, monkeypatch):
    from webui import tab_models

    demo, asked = studio_with_loader
    engine = demo.studio.holder.engine
    real_info = engine.info
    switch = _fn(demo, "switch_fast_mode")
    quiet = lambda *a, **k: None  # noqa: E731  (gr.Progress outside an event)

    monkeypatch.setattr(engine, "info", lambda: {**real_info(), "fast_cpu_mode": _fast({"one_row": 1.9})})
    controls = tab_models.loaded_controls(demo.studio)
    assert controls["fast_btn"]["value"] == "Use the fast CPU mode" and controls["fast_btn"]["visible"] is True
    assert "about 1.9x faster per decode step" in html.unescape(tab_models.models_md(demo.studio))
    out = switch(*FILTERS, progress=quiet)
    assert out[-1] == "✓ Fast CPU mode (int8) on."
    s = asked[-1]
    assert (s.device, s.dtype, s.placement) == ("cpu", "int8", "cpu")
    assert s.models == demo.studio.holder.settings.models

    monkeypatch.setattr(engine, "info", lambda: {**real_info(), "dtype": "int8", "fast_cpu_mode": _fast({"one_row": 1.9})})
    assert tab_models.loaded_controls(demo.studio)["fast_btn"]["value"] == "Back to exact float32"
    assert switch(*FILTERS, progress=quiet)[-1] == "✓ Back to exact float32."
    assert (asked[-1].device, asked[-1].dtype, asked[-1].placement) == ("cpu", "float32", "cpu")

    monkeypatch.setattr(engine, "info", lambda: {**real_info(), "device": "cuda:0", "fast_cpu_mode": None})
    assert tab_models.loaded_controls(demo.studio)["fast_btn"]["visible"] is False  # a GPU engine: no CPU mode offered
    monkeypatch.setattr(demo.studio, "allow_model_changes", False)
    with pytest.raises(ValueError, match="turned off"):
        tab_models.switch_fast_mode(demo.studio, None, *FILTERS, progress=quiet)
    assert len(asked) == 2
    fn = next(fn for fn in demo.fns.values() if fn.name == "switch_fast_mode")
    assert fn.concurrency_id == "engine"  # shares the engine's one slot with Reload and generation
