"""The Studio tab's editor column: the prompt with its tag palette and examples, the settings (one widget per
settings-table row), the take check, Generate and Stop. Handlers: ``webui.tab_generate``, ``webui.job_control``."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from bark_core import settings as table
from bark_core.takecheck import Thresholds

from ... import job_control, tab_generate
from ...page import ENGINE, QUICK, Page
from ...take_checks import MAX_RETAKE_SECONDS, MAX_RETAKES
from ...tags import TAGS

EXAMPLES = [
    "Hello, my name is Suno. And, uh — and I like pizza. [laughs] But I also have other interests such as playing tic tac toe.",
    "♪ In the jungle, the mighty jungle, the lion barks tonight ♪",
    "[clears throat] Ladies and gentlemen... WELCOME to the show! [laughter]",
    "I have a silky smooth voice, and today I will tell you about the exercise regimen of the common sloth. [sighs]",
    "Buenos días. Hoy hace un día MUY bonito, ¿no crees? [laughs]",
]
CHECK_DEFAULTS = Thresholds()
PLACEHOLDER = "Type what Bark should say, sing or do…  e.g. Well... [sighs] I guess you're RIGHT. [laughs]"


def setting_widget(s: table.Setting, **kwargs: Any) -> Any:
    """The widget of one settings-table row.

    A number that may be left empty (no default and no "off" value: the seed) is a text box, since a
    number box that mounts empty reports 0, which would silently become the value.
    """
    if s.widget == "checkbox":
        return gr.Checkbox(s.ui_default, label=s.label, info=s.help, **kwargs)
    if s.widget == "number" and s.default is None and s.off is None:
        return gr.Textbox(None, label=s.label, info=s.help, placeholder="random", max_length=20, **kwargs)
    if s.widget == "number":
        return gr.Number(s.ui_default if s.default is not None or s.off is not None else None, label=s.label,
                         info=s.help, minimum=s.off if s.off is not None else s.minimum, maximum=s.maximum,
                         step=s.step, precision=0 if s.kind is int else None, **kwargs)
    low = s.off if s.off is not None and s.off < s.minimum else s.minimum
    high = s.off if s.off is not None and s.off > s.maximum else s.maximum
    return gr.Slider(low, high, s.ui_default, step=s.step, label=s.label, info=s.help, **kwargs)


def tag_palette_html() -> str:
    return "<div class='tag-palette' role='toolbar' aria-label='Insert a tag'>" + "".join(
        f"<button type='button' class='tag-btn' data-bark-tag='{html.escape(t, quote=True)}' "
        f"title='{html.escape(tip, quote=True)}'>{html.escape(t)}</button>" for t, tip in TAGS) + "</div>"


def layout(page: Page) -> None:
    """The editor column; the settings widgets form the group ``settings`` (``tab_generate.UI_SETTINGS``)."""
    with gr.Column(scale=3, min_width=320, elem_id="editor-col"):
        text = page.add("text", gr.Textbox(label="Prompt", lines=6, max_lines=20, elem_id="prompt",
                                           placeholder=PLACEHOLDER))
        gr.HTML(tag_palette_html(), elem_id="tag-palette")
        page.add("estimate", gr.Markdown(f"<span class='muted'>{tab_generate.PROMPT_HINT}</span>",
                                         elem_id="estimate"))
        gr.Examples(EXAMPLES, inputs=[text], label="Examples")
        layout_settings(page)
        layout_take_check(page)
        with gr.Row(elem_id="run-row"):
            page.add("gen_btn", gr.Button("Generate", variant="primary", size="lg", elem_id="generate-btn"))
            page.add("stop_btn", gr.Button("Stop", variant="stop", size="lg", elem_id="stop-btn"))
        page.add("status", gr.Markdown(elem_id="status"))
    page.define("settings", tab_generate.UI_SETTINGS)


def layout_settings(page: Page) -> None:
    """The main settings in a row, the advanced ones three to a row (the seed with its die) in "Advanced"."""
    with gr.Column(elem_id="controls"), gr.Group():
        with gr.Row():
            for s in table.SETTINGS:
                if s.section == "main" and s.widget != "none":
                    page.add(s.name, setting_widget(s, elem_id=s.name.replace("_", "-")))
    with gr.Accordion("Advanced", open=False, elem_id="advanced") as advanced:
        page.add("advanced", advanced)
        rows = [s for s in table.SETTINGS if s.section == "advanced" and s.widget != "none"]
        for row in range(0, len(rows), 3):
            with gr.Row():
                for s in rows[row:row + 3]:
                    if s.name != "seed":
                        page.add(s.name, setting_widget(s, elem_id=s.name.replace("_", "-")))
                        continue
                    with gr.Row(elem_id="seed-row"):
                        page.add("seed", setting_widget(s, elem_id="seed", scale=4, min_width=80))
                        # a die face from the common text fonts (not every machine draws emoji)
                        page.add("dice_btn", gr.Button("⚄", size="sm", elem_id="seed-dice", scale=0, min_width=44))


def layout_take_check(page: Page) -> None:
    """Take check: the minimum scores a take must reach, and how many retakes (and how long) to try."""
    with gr.Accordion("Take check: retake until it passes", open=False, elem_id="take-check"):
        with gr.Row():
            page.add("min_on_script", gr.Slider(
                0, 1, CHECK_DEFAULTS.min_on_script, step=0.05, label="On-script minimum",
                info="Share of the prompt's words found in the take (English only).", elem_id="min-on-script"))
            page.add("min_same_voice", gr.Slider(
                0, 1, CHECK_DEFAULTS.min_speaker_similarity, step=0.05, label="Same-speaker minimum",
                info="Similarity to the chosen voice's own audio.", elem_id="min-same-voice"))
        with gr.Row():
            page.add("retake_tries", gr.Slider(
                0, MAX_RETAKES, 0, step=1, label="Retakes", info="Extra tries (new seeds) while no take passes; 0 = off.",
                elem_id="retake-tries"))
            page.add("retake_seconds", gr.Number(
                0, label="Time budget (s)", info="No retake starts once the job has run this long; 0 = no limit.",
                minimum=0, maximum=MAX_RETAKE_SECONDS, elem_id="retake-seconds"))
    # Generate's take-check inputs (Results' "Best first" orders the takes it shows)
    page.define("take_check", ("best_first", "min_on_script", "min_same_voice", "retake_tries", "retake_seconds"))


def wire(page: Page) -> None:
    """The die, the prompt's estimate, Generate (armed: Stop cleared and the wait shown; then run in the engine slot)
    and Stop."""
    page["dice_btn"].click(None, None, [page["seed"]], js=f"() => String(Math.floor(Math.random() * {table.MAX_SEED + 1}))")
    page.on(page["text"].change, tab_generate.estimate_prompt, page.pick("text"), page.pick("estimate"),
            trigger_mode="always_last", **QUICK)
    armed = page.on(page["gen_btn"].click, tab_generate.arm_generate, page.pick("text", "takes", "max_seconds"),
                    page.pick("status"), **QUICK)
    # the inputs, in this order: the prompt, the voice, the settings table, then the take check
    page.on(armed.then, tab_generate.generate, page.group("text", "voice", "settings", "take_check"),
            page.group("generated"), show_progress_on=[page["results_title"]], api_visibility="private", **ENGINE)
    page.on(page["stop_btn"].click, job_control.stop, {}, {}, queue=False)  # never waits behind the job it stops


__all__ = ["EXAMPLES", "layout", "setting_widget", "wire"]
