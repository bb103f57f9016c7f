"""The Studio tab's Results: the take cards of the latest generation, and what every take card's actions bring
into the Studio (Results' cards and History's: reuse the settings, save as a voice, star, regenerate).
Handlers: ``webui.tab_generate``, ``webui.job_control``; the cards themselves: ``webui.take_cards``."""

from __future__ import annotations

import gradio as gr

from ... import job_control, tab_generate
from ...page import ENGINE, QUICK, Page
from ...take_cards import layout_cards
from ...wiring import bind

EMPTY = "### Results\n<span class='muted'>Your takes will appear here.</span>"


def layout(page: Page) -> None:
    """Results (``results``: which takes its cards show) and the groups its handlers write."""
    page.add("results", gr.State(None))  # Results' takes: {"refs": [[gen_id, take, label]...], "shown": [...]}
    with gr.Column(elem_id="results"):
        with gr.Row(elem_id="results-head"):
            page.add("results_title", gr.Markdown(EMPTY, elem_id="results-title"))
            page.add("best_first", gr.Checkbox(False, label="Best first", scale=0, min_width=120, elem_id="best-first",
                                               info="Order takes by their check (passing, on script, voice)."))
        layout_cards(page, "take", "result_cards")
    # a generation's outputs: what it says, the cards, and History's list (the new row)
    page.define("generated", ("status", "results_title", "results", "history_list", "result_cards_outputs"))
    page.define("reused", ("text", "voice", "tabs", "status", "settings"))  # "Reuse settings": into the prompt
    page.define("voice_saved", ("voice", "voice_md", "status", "voice_list"))  # "Save as voice": the new voice


def wire(page: Page) -> None:
    page.on(page["best_first"].change, tab_generate.reorder_results, page.pick("results", "best_first"),
            {**page.group("result_cards_outputs"), **page.pick("results")}, **QUICK)
    wire_result_cards(page)
    wire_history_cards(page)


def wire_result_cards(page: Page) -> None:
    """Results' card i shows ``results["shown"][i]``: reuse, save as voice, star, regenerate it alone."""
    results, reused, saved = page.pick("results"), page.group("reused"), page.group("voice_saved")
    for i, s in enumerate(page["result_cards"]):
        page.on(s["reuse"].click, bind(tab_generate.reuse_result, index=i), results, reused, **QUICK)
        page.on(s["save"].click, bind(tab_generate.save_take_as_voice, index=i),
                {**results, **page.group("filters")}, saved, **QUICK)
        page.on(s["star"].click, bind(tab_generate.star_result, index=i), results,
                {**page.pick("status"), **page.group("history_list")}, **QUICK)
    for i, s in enumerate(page["result_cards"]):  # the take again, alone (its own seed), as a new generation
        armed = page.on(s["regen"].click, job_control.arm, {}, {}, **QUICK)
        page.on(armed.then, bind(tab_generate.regenerate_result, index=i), page.pick("results", "best_first"),
                page.group("generated", "tabs"), show_progress_on=[page["results_title"]], api_visibility="private",
                **ENGINE)


def wire_history_cards(page: Page) -> None:
    """History's selected row (``selected_gen``) and its cards: regenerate a take, reuse, save as voice."""
    selected = {"gen_id": page["selected_gen"]}
    for i, s in enumerate(page["history_cards"]):
        armed = page.on(s["regen"].click, job_control.arm, {}, {}, **QUICK)
        page.on(armed.then, bind(tab_generate.regenerate, index=i), {**selected, **page.pick("best_first")},
                page.group("generated", "tabs"), show_progress_on=[page["results_title"]], api_visibility="private",
                **ENGINE)
    for i, s in enumerate(page["history_cards"]):
        page.on(s["reuse"].click, tab_generate.reuse, selected, page.group("reused"), **QUICK)
        page.on(s["save"].click, bind(tab_generate.save_history_take_as_voice, index=i),
                {**selected, **page.group("filters")}, page.group("voice_saved"), **QUICK)
    page.on(page["reuse_hist_btn"].click, tab_generate.reuse, selected, page.group("reused"), **QUICK)


__all__ = ["layout", "wire"]
