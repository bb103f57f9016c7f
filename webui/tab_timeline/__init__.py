"""Timeline tab: long text as segments that can each be edited and regenerated alone, joined into versions.

The tab lays itself out and wires these handlers in ``webui.tabs.timeline``, as every tab does (``webui.page``).
Handlers take named inputs and return dicts of named outputs (``webui.wiring``); they read the
owner's timeline from ``TimelineStore`` at every call (the page holds only its id), so a handler
never sees another owner's timeline and each change is saved as it happens. The engine model is
``bark_core.timeline`` (its ``to_dict`` / ``from_dict`` storage).

One module per concern:

- ``views``: what the tab shows (segment list, stale notes, the segment editor, versions);
- ``page_input``: what the page sends, read into timeline terms (numbers, seeds, voices, the timeline);
- ``opening``: create, open (from the list, a take card's "Open in timeline", on page load) and delete timelines;
- ``segment_editor``: hand edits of one segment (edit, delete, insert, move, save as a voice);
- ``generating``: regenerate one segment, or generate the missing and stale ones (the engine's one loop);
- ``versions``: render, play and export joined versions.
"""

from __future__ import annotations

from ..timeline_import import import_generation, import_long_form
from ..timeline_store import TimelineStore
from .generating import generate_all, regenerate
from .opening import (NOTHING_PICKED, create_timeline, delete_timeline, history_choices, open_from_history,
                      open_generation, open_in_timeline, open_timeline, page_opened, tab_opened)
from .segment_editor import (apply_edit, delete_segment, insert_after, move_segment, save_segment_voice,
                             select_segment, show_segment)
from .versions import export_version, render_version, select_version
from .views import NEEDS_TIMELINE, SEGMENT_HEADERS, STATE_LABEL, check_text, editor_state, versions_view

__all__ = ["import_generation", "import_long_form", "open_generation", "TimelineStore",
           # the handlers, each callable without the Blocks (see webui.wiring)
           "page_opened", "tab_opened", "editor_state", "create_timeline", "open_timeline", "open_from_history",
           "open_in_timeline", "history_choices", "delete_timeline", "select_segment", "show_segment", "apply_edit",
           "delete_segment", "insert_after", "move_segment", "save_segment_voice", "regenerate", "generate_all", "render_version",
           "select_version", "export_version", "versions_view", "check_text",
           "NEEDS_TIMELINE", "NOTHING_PICKED", "SEGMENT_HEADERS", "STATE_LABEL"]
