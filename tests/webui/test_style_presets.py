"""Generation presets in the studio: the owner-scoped store, the Style handlers, ``/generate(preset=)`` and the
Style list in a real browser (picking one sets the sliders)."""

from __future__ import annotations

import pytest

from bark_core import presets as P
from webui import tab_presets
from webui.preset_store import PresetStore, with_preset

ALICE, BOB = "alice-token-aaaaaaaaaaaaaaaa", "bob-token-bbbbbbbbbbbbbbbbbbbb"


def test_user_presets_are_owner_scoped_and_listed_after_the_builtins(tmp_path):
    store = PresetStore(tmp_path)
    saved = store.add(ALICE, "  My   calm  ", {"semantic_temp": 0.55, "seed": 3, "takes": 4, "max_seconds": None})
    assert saved.name == "My calm" and dict(saved.preset.settings) == {"semantic_temp": 0.55, "max_seconds": None}
    assert [u.name for u in store.list(ALICE)] == ["My calm"] and store.list(BOB) == [] and store.list(None) == []
    assert [p.name for p in store.all(ALICE)] == [*(p.name for p in P.builtin_presets()), "My calm"]
    assert store.find(ALICE, "my calm").values()["semantic_temp"] == 0.55
    with pytest.raises(ValueError, match="no preset 'My calm'"):
        store.find(BOB, "My calm")  # Bob cannot use it
    assert not store.delete(BOB, "My calm")  # nor delete it
    assert [u.name for u in PresetStore(tmp_path).list(ALICE)] == ["My calm"]  # kept in the database
    assert store.delete(ALICE, "MY CALM") and store.list(ALICE) == []
    raw = (tmp_path / "studio.sqlite3").read_bytes()
    assert ALICE.encode() not in raw


@pytest.mark.parametrize("name, message", [
    ("", "Please give the preset a name."),
    ("   ", "Please give the preset a name."),
    ("Singing", "is the name of a built-in preset"),
    ("steady NARRATION", "is the name of a built-in preset"),  # a label too
    ("x" * 41, "at most 40 printable characters"),
    ("Mine", "You already have a preset called “Mine”"),
    ("mine", "You already have a preset called “mine”"),
])
def test_a_bad_or_clashing_name_gets_a_sentence(tmp_path, name, message):
    store = PresetStore(tmp_path)
    store.add(ALICE, "Mine", {})
    with pytest.raises(ValueError, match=message):
        store.add(ALICE, name, {})
    store.add(BOB, "Mine", {})  # another owner's names never clash


def test_out_of_range_settings_are_not_saved(tmp_path):
    with pytest.raises(ValueError, match="Coarse temperature must be a number in 0.05..1.5"):
        PresetStore(tmp_path).add(ALICE, "Hot", {"coarse_temp": 2.0})


def test_style_handlers_set_the_widgets_save_and_delete(tmp_path):
    store = PresetStore(tmp_path)
    out = tab_presets.pick_style(store, ALICE, "singing")
    assert out["early_stop"] is False and out["coarse_temp"] == 0.75 and out["max_seconds"] == 0.0
    assert "seed" not in out and "takes" not in out and "Singing" in out["style_note"]
    widgets = {**out, "semantic_temp": 0.45, "top_k": 0}
    widgets.pop("style_note")
    saved = tab_presets.save_style(store, ALICE, "Soft song", **widgets)
    assert saved["style"]["value"] == "Soft song" and ("★ Soft song", "Soft song") in saved["style"]["choices"]
    assert tab_presets.pick_style(store, ALICE, "Soft song")["semantic_temp"] == 0.45
    assert tab_presets.list_styles(store, BOB)["style"]["choices"] == tab_presets.style_choices(store, None)
    with pytest.raises(ValueError, match="built in"):
        tab_presets.delete_style(store, ALICE, "singing")
    with pytest.raises(ValueError, match="no preset by that name"):
        tab_presets.delete_style(store, BOB, "Soft song")
    assert tab_presets.delete_style(store, ALICE, "Soft song")["style"]["value"] is None
    assert tab_presets.pick_style(store, ALICE, None) == {"style_note": ""}


def test_api_values_left_at_their_default_take_the_presets():
    singing = P.find_preset("singing", P.builtin_presets())
    values = {"semantic_temp": 0.7, "coarse_temp": 0.9, "top_k": None, "early_stop": True, "seed": 4, "takes": 2}
    out = with_preset(singing, values)
    assert out["coarse_temp"] == 0.9  # changed by the caller: it wins
    assert out["early_stop"] is False and out["segment_pause_s"] == 0.1  # left at the default: the preset's
    assert out["seed"] == 4 and out["takes"] == 2 and out["top_k"] == 0


# ------------------------------------------------------------------------------------------- API

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402


def test_generate_with_a_preset_through_the_api(studio):
    alice = api_client(studio.url, verbose=False)
    alice.predict(text="Plain.", seed=1, api_name="/generate")
    alice.predict(text="Sung.", preset="singing", seed=1, api_name="/generate")
    alice.predict(text="Sung hotter.", preset="Singing", semantic_temp=0.9, seed=1, api_name="/generate")
    rows, _ = alice.predict(api_name="/history")
    by = {r["prompt"]: r["settings"] for r in rows}
    assert by["Plain."]["early_stop"] is True and by["Plain."]["coarse_temp"] == 0.7
    assert by["Sung."]["early_stop"] is False and by["Sung."]["coarse_temp"] == 0.75
    assert by["Sung."]["segment_pause_s"] == 0.1 and by["Sung."]["semantic_temp"] == 0.7
    assert by["Sung hotter."]["semantic_temp"] == 0.9 and by["Sung hotter."]["early_stop"] is False

    with pytest.raises(gradio_client.exceptions.AppError) as e:
        alice.predict(text="hi", preset="opera", api_name="/generate")
    assert "no preset 'opera'; the presets are: expressive, narration, singing, sound_effects" in str(e.value)

    # a preset of the caller's own (saved in the studio), and nobody else's
    token = alice.cookies.get("bark_owner")
    assert token
    PresetStore(studio.data_dir).add(token, "Whisper", {"fine_temp": 0.3, "max_seconds": 0.2})
    alice.predict(text="Mine.", preset="Whisper", seed=1, api_name="/generate")
    rows, _ = alice.predict(api_name="/history")
    assert {r["prompt"]: r["settings"] for r in rows}["Mine."]["fine_temp"] == 0.3
    with pytest.raises(gradio_client.exceptions.AppError, match="no preset 'Whisper'"):
        api_client(studio.url, verbose=False).predict(text="hi", preset="Whisper", api_name="/generate")


# --------------------------------------------------------------------------------------- browser

def _number(page, label: str) -> str:
    return page.locator(f"input[aria-label='number input for {label}']").input_value()


def _pick(page, label: str) -> None:
    page.locator("#style-preset input").click()
    page.get_by_role("option", name=label, exact=True).click()


def test_picking_a_style_sets_the_sliders_and_a_saved_style_is_listed(browser, studio, artifacts):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(studio.url)
        page.wait_for_selector("#engine-badge .badge")
        page.locator("#advanced").get_by_text("Advanced").first.click()
        page.wait_for_selector("input[aria-label='number input for Takes']")
        _pick(page, "Singing")
        page.wait_for_function("document.querySelector(\"input[aria-label='number input for Coarse temperature']\")"
                               ".value === '0.75'")
        assert not page.get_by_label("Stop at end of speech").is_checked()
        assert _number(page, "Pause between segments (s)") == "0.1"
        assert "Singing" in page.locator("#style-note").inner_text()
        _pick(page, "Steady narration")
        page.wait_for_function("document.querySelector(\"input[aria-label='number input for Semantic temperature']\")"
                               ".value === '0.6'")
        assert page.get_by_label("Stop at end of speech").is_checked()
        assert _number(page, "Min EOS probability") == "0.05" and _number(page, "Coarse temperature") == "0.6"

        # save the current settings (narration, semantic 0.6) under a name of one's own
        page.locator("#my-presets").get_by_text("My presets").first.click()
        page.locator("#style-name textarea, #style-name input").first.fill("Bedtime")
        page.click("#style-save-btn")
        page.wait_for_function("document.querySelector('#style-msg').innerText.includes('Bedtime')")
        page.screenshot(path=str(artifacts / "presets-style.png"))
        _pick(page, "Expressive")
        page.wait_for_function("document.querySelector(\"input[aria-label='number input for Semantic temperature']\")"
                               ".value === '0.85'")
        _pick(page, "★ Bedtime")
        page.wait_for_function("document.querySelector(\"input[aria-label='number input for Semantic temperature']\")"
                               ".value === '0.6'")
        assert _number(page, "Min EOS probability") == "0.05"
    finally:
        ctx.close()
