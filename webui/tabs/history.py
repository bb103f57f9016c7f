"""The History tab: every generation of this owner, searchable, with the selected one's take cards, star,
export, delete and undo. Handlers: ``webui.tab_history``. What a card brings into the Studio (reuse,
regenerate, save as voice) is wired by the Studio tab, "Open in timeline" by the Timeline tab."""

from __future__ import annotations

import gradio as gr

from .. import tab_history
from ..page import QUICK, Page
from ..take_cards import layout_cards

HEADERS = ["★", "When", "Prompt", "Voice", "Takes", "Length", "Seed"]
WIDTHS = ["5%", "17%", "38%", "18%", "7%", "8%", "7%"]


def layout(page: Page) -> None:
    """The list (group ``history_list``) and the selected row (``selected_gen``; group ``history_detail``)."""
    with gr.Tab("History", id="history", elem_id="tab-history"):  # only tabs sit in gr.Tabs: the states too go in here
        page.add("history_ids", gr.State([]))
        page.add("selected_gen", gr.State(None))
        page.add("undo_gen", gr.State(None))  # the history row deleted last (Undo)
        with gr.Row():
            page.add("history_search", gr.Textbox(label="Search prompts", elem_id="history-search", scale=3))
            page.add("starred_only", gr.Checkbox(False, label="Starred only", scale=0, min_width=140))
            page.add("refresh_btn", gr.Button("↻ Refresh", size="sm", scale=0, min_width=100))
            page.add("undo_delete_btn", gr.Button("↶ Undo delete", size="sm", scale=0, min_width=160, visible=False,
                                                  elem_id="history-undo"))
        page.add("history_table", gr.Dataframe(headers=HEADERS, value=[], interactive=False, wrap=True,
                                               elem_id="history-table", column_widths=WIDTHS))
        page.add("storage_md", gr.Markdown(elem_id="storage-use", elem_classes=["muted"]))  # use vs limits
        layout_detail(page)
    page.define("history_list", ("history_table", "history_ids", "storage_md"))
    page.define("history_detail", ("selected_gen", "detail_group", "detail_md", "star_btn", "export_file",
                                   "history_cards_outputs"))


def layout_detail(page: Page) -> None:
    """The selected row: its details, buttons, export file and take cards."""
    with gr.Column(visible=False, elem_id="history-detail") as detail, gr.Group():
        page.add("detail_group", detail)
        page.add("detail_md", gr.Markdown(elem_id="detail-md"))
        with gr.Row():
            page.add("reuse_hist_btn", gr.Button("Reuse settings", size="sm", elem_id="history-reuse"))
            page.add("star_btn", gr.Button("☆ Star", size="sm", elem_id="history-star"))
            page.add("export_zip_btn", gr.Button("⬇ Export (zip)", size="sm", elem_id="history-export"))
            page.add("delete_gen_btn", gr.Button("Delete", size="sm", variant="stop", elem_id="history-delete"))
        page.add("export_file", gr.File(label="Export: audio, voices and settings", visible=False, interactive=False,
                                        elem_id="history-export-file"))
        layout_cards(page, "hist", "history_cards")


def wire(page: Page) -> None:
    listed, detail = page.group("history_list"), page.group("history_detail")
    shown = {"starred_only": page["starred_only"], "search": page["history_search"]}
    for trigger in (page["refresh_btn"].click, page["starred_only"].change, page["history_search"].submit):
        page.on(trigger, tab_history.list_history, shown, listed, **QUICK)
    page.on(page["history_table"].select, tab_history.select_row, page.pick("history_ids"), detail, **QUICK)
    page.on(page["export_zip_btn"].click, tab_history.export_zip, page.pick("selected_gen"), page.pick("export_file"),
            **QUICK)
    selected = {**page.pick("selected_gen"), **shown}
    page.on(page["star_btn"].click, tab_history.toggle_star, selected, {**listed, **detail}, **QUICK)
    undo = page.pick("undo_gen", "undo_delete_btn")
    page.on(page["delete_gen_btn"].click, tab_history.delete_generation, selected, {**listed, **detail, **undo})
    page.on(page["undo_delete_btn"].click, tab_history.undo_delete, {**page.pick("undo_gen"), **shown},
            {**listed, **detail, **undo})


__all__ = ["layout", "wire"]
