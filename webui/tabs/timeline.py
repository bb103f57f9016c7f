"""The Timeline tab's entry: ``webui.tab_timeline`` lays out and wires its own events; this reopens the
timeline a browser had open on page load and wires the take cards' "Open in timeline" (Results' and History's)."""

from __future__ import annotations

from ..page import Page
from ..tab_timeline import build_timeline_tab
from ..take_cards import result_ref


def layout(page: Page) -> None:
    page.add("timeline_tab", build_timeline_tab(page.studio))


def wire(page: Page) -> None:
    timeline = page["timeline_tab"]
    timeline.wire_load(page.demo.load)  # the timeline this browser had open, reopened
    for i, s in enumerate(page["result_cards"]):  # the take's segments, each editable
        timeline.wire_open(s["timeline"].click, page["results"], i, page["tabs"], resolve=result_ref)
    for i, s in enumerate(page["history_cards"]):
        timeline.wire_open(s["timeline"].click, page["selected_gen"], i, page["tabs"])


__all__ = ["layout", "wire"]
