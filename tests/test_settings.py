"""The settings table is the one source of every generation setting: each surface must agree with it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bark_core import SETTINGS, GenerationRequest, settings as table
from bark_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_request_defaults_and_validation_come_from_the_table():
    req = GenerationRequest(text="hi")
    for s in SETTINGS:
        assert getattr(req, s.name) == s.default, s.name
        if s.kind is bool:
            continue
        room = {"max_coarse_history": 60} if s.name == "sliding_window_len" else {}  # the two share 768 steps
        for inside in (s.minimum, s.maximum):
            GenerationRequest(text="hi", **room, **{s.name: s.kind(inside)}).validate()
        below = s.minimum - (1 if s.kind is int else s.minimum * 0.01 + 1e-6)
        above = s.maximum + (1 if s.kind is int else s.maximum * 0.01 + 1e-6)
        for outside in (below, above, float("nan")):
            with pytest.raises(ValueError, match=re.escape(s.label)):
                GenerationRequest(text="hi", **{s.name: outside}).validate()


def test_cli_flags_have_the_table_defaults_ranges_and_help():
    gen = build_parser()._subparsers._group_actions[0].choices["generate"]  # noqa: SLF001
    actions = {a.dest: a for a in gen._actions}  # noqa: SLF001
    for s in SETTINGS:
        if not s.cli:  # a studio/API-only row (live_preview) has no flag
            assert s.name not in actions
            continue
        a = actions[s.name]
        assert s.flag in a.option_strings
        assert a.default == s.default, s.name
        if s.kind is not bool:
            assert s.range_text() in a.help, (s.name, a.help)
    args = build_parser().parse_args(["generate", "x", "--top-k", "0", "--top-p", "1", "--no-early-stop"])
    from bark_core.flags import setting_values

    values = setting_values(args)
    assert values["top_k"] is None and values["top_p"] is None and values["early_stop"] is False


def test_widget_values_round_trip_through_history_settings():
    req = GenerationRequest(text="hi", top_k=50, top_p=0.9, seed=7, takes=3, max_seconds=2.5, early_stop=False)
    widgets = table.to_widgets(req.settings())
    assert widgets["top_k"] == 50 and widgets["seed"] == 7 and widgets["early_stop"] is False
    assert table.from_widgets(widgets) == {k: v for k, v in req.settings().items() if k in widgets}
    off = table.to_widgets(GenerationRequest(text="hi").settings())
    assert off["top_k"] == 0 and off["top_p"] == 1.0 and off["max_seconds"] == 0.0 and off["seed"] is None
    assert table.from_widgets(off)["top_k"] is None


def test_every_ui_widget_matches_its_row(tmp_path):
    """The studio's sliders and numbers: same default and range as the table (built, not launched)."""
    import gradio as gr

    import webui

    demo = webui.build_demo(None, data_dir=tmp_path, load_error="no weights")
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    for s in SETTINGS:
        if s.widget == "none":
            continue
        w = by_id[s.name.replace("_", "-")]
        assert w.label == s.label
        if isinstance(w, gr.Checkbox):
            assert w.value is s.default
            continue
        if isinstance(w, gr.Textbox):  # a number that may be left empty (the seed): empty = unset
            assert s.default is None and s.off is None and not w.value and w.placeholder == "random", s.name
            continue
        assert w.value == s.ui_default, s.name
        assert w.maximum == max(s.maximum, s.off if s.off is not None else s.maximum), s.name
        assert w.minimum == min(s.minimum, s.off if s.off is not None else s.minimum), s.name


def test_details_text_names_each_setting():
    text = table.describe(GenerationRequest(text="hi", top_k=50).settings())
    for s in SETTINGS:
        if s.widget != "none" and s.name not in ("seed", "live_preview"):  # how a take is played is not the take
            assert s.label.lower() in text
    assert "top-k 50" in text and "top-p off" in text


def test_pip_install_makes_the_packages_importable_from_anywhere(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, cwd=tmp_path)
    out = subprocess.run([sys.executable, "-c", "import bark_core, webui, app; print(len(bark_core.preset_catalog()))"],
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "261"
    assert (target / "bin" / "bark-studio").is_file()


def test_a_lone_surrogate_is_refused_before_generating():
    with pytest.raises(ValueError, match="invalid character"):
        GenerationRequest(text="Hello \ud800 world").validate()


def test_the_seed_rule_is_written_once():
    """Take k, retake k and timeline segment k all get their seed from settings.take_seed."""
    assert [table.take_seed(7, k) for k in range(3)] == [7, 8, 9]
    assert table.take_seed(table.MAX_SEED, 1) == 0
    rule = re.compile(r"%\s*\(\s*(\w+\.)?MAX_SEED\s*\+\s*1\s*\)")
    files = [p for folder in ("bark_core", "webui") for p in (ROOT / folder).rglob("*.py")]
    written = sorted(p.relative_to(ROOT).as_posix() for p in files if rule.search(p.read_text(encoding="utf-8")))
    assert written == ["bark_core/settings.py"]
