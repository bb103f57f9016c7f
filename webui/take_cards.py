"""Take cards, shared by every tab that shows takes: Results (``take{i}_*``) and a History row (``hist{i}_*``).

``layout_cards`` lays a tab's cards out on the page (``webui.page``). Handlers return their outputs by
name (see ``webui.wiring``); a card shows a take's audio, caption, WAV and voice downloads.
``results`` (a State) records which takes Results shows, in which order.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from bark_core import MAX_TAKES
from bark_core.takecheck import rank_dicts

from .formatting import take_info
from .page import Page
from .studio import Studio

CARD_OUTPUTS = ("group", "info", "audio", "download", "voice_download")  # what handlers set: ``{prefix}{i}_{part}``


def slot_updates(prefix: str, takes: list[Any], seed: int, total: Any,
                 labels: Optional[list[str]] = None) -> dict[str, Any]:
    """Outputs that show takes in the slots named ``{prefix}{i}_*`` and hide the rest.

    Each take shows its own seed (``TakeRecord.seed``; ``seed`` for rows stored without one);
    ``total`` is the time the generation took, or a list of one per take.
    """
    out: dict[str, Any] = {}
    for i in range(MAX_TAKES):
        if i < len(takes):
            t = takes[i]
            own_seed = t.seed if t.seed is not None else seed
            label = labels[i] if labels else None
            out.update({f"{prefix}{i}_group": gr.update(visible=True), f"{prefix}{i}_audio": str(t.wav),
                        f"{prefix}{i}_info": take_info(i, t.seconds, own_seed,
                                                       total[i] if isinstance(total, list) else total, t.scores,
                                                       label),
                        f"{prefix}{i}_download": gr.update(value=str(t.wav)),
                        f"{prefix}{i}_voice_download": gr.update(value=str(t.wav.with_suffix(".npz")),
                                                                 visible=t.wav.with_suffix(".npz").is_file())})
        else:
            out.update({f"{prefix}{i}_group": gr.update(visible=False), f"{prefix}{i}_audio": None})
    return out


def layout_card(page: Page, prefix: str, i: int) -> dict[str, Any]:
    """Take card ``i``: its outputs are added to the page as ``{prefix}{i}_group`` etc.; returns all its parts."""
    # The id sits on a Column: Gradio draws a Group as two nested elements that would both carry it.
    card = f"{prefix}-{i + 1}"
    with gr.Column(visible=False, elem_id=card, elem_classes=["take-slot"]) as group, \
            gr.Group(elem_classes=["take-card"]):
        info = gr.Markdown(elem_classes=["take-info"])
        audio = gr.Audio(type="filepath", interactive=False, show_label=False, elem_id=f"{card}-audio",
                         buttons=["download"])
        with gr.Row(elem_classes=["take-actions"]):
            download = gr.DownloadButton("⬇ WAV", size="sm", elem_id=f"{card}-download")
            voice_download = gr.DownloadButton("⬇ Voice .npz", size="sm", elem_id=f"{card}-voice-download")
            save = gr.Button("Save as voice", size="sm", elem_id=f"{card}-save")
            reuse = gr.Button("Reuse settings", size="sm", elem_id=f"{card}-reuse")
            regen = gr.Button("↻ Regenerate this take", size="sm", elem_id=f"{card}-regen")
            timeline = gr.Button("Open in timeline", size="sm", elem_id=f"{card}-timeline")
            star = gr.Button("☆ Star", size="sm", elem_id=f"{card}-star") if prefix == "take" else None
    parts = dict(group=group, info=info, audio=audio, download=download, voice_download=voice_download)
    for k in CARD_OUTPUTS:
        page.add(f"{prefix}{i}_{k}", parts[k])
    return dict(parts, save=save, reuse=reuse, star=star, regen=regen, timeline=timeline)


def layout_cards(page: Page, prefix: str, name: str) -> None:
    """All MAX_TAKES cards of one tab: ``page[name]`` lists each card's parts (its buttons included),
    ``page.group(name + "_outputs")`` holds what handlers set."""
    page.add(name, [layout_card(page, prefix, i) for i in range(MAX_TAKES)])
    page.define(f"{name}_outputs", [f"{prefix}{i}_{k}" for i in range(MAX_TAKES) for k in CARD_OUTPUTS])


def hidden_slots(prefix: str) -> dict[str, Any]:
    return slot_updates(prefix, [], 0, None)



def shown_order(studio: Studio, owner: str, refs: list, best_first: bool) -> list:
    """The refs ``[gen_id, take_index, label]`` in the order Results shows them (best first: takecheck.rank)."""
    if not best_first:
        return list(refs)
    scores = []
    for gen_id, i, _ in refs:
        rec = studio.library.generation(owner, gen_id)
        scores.append(rec.takes[i].scores if rec is not None and i < len(rec.takes) else None)
    return [refs[k] for k in rank_dicts(scores)]



def show_results(studio: Studio, owner: str, refs: list, best_first: bool) -> dict[str, Any]:
    """Results' take cards for ``refs`` (the first MAX_TAKES in the shown order) and the ``results`` state."""
    shown = [r for r in shown_order(studio, owner, refs, bool(best_first))
             if studio.library.generation(owner, r[0]) is not None][:MAX_TAKES]
    takes, labels, totals = [], [], []
    for gen_id, i, label in shown:
        rec = studio.library.generation(owner, gen_id)
        takes.append(rec.takes[i])
        labels.append(label)
        totals.append(rec.timings.get("total"))
    first = studio.library.generation(owner, refs[0][0]) if refs else None
    return {**slot_updates("take", takes, first.seed if first else 0, totals, labels),
            "results": {"refs": refs, "shown": shown}}



def result_ref(results: Optional[dict], index: int) -> tuple[Optional[str], int]:
    """The (generation id, take index) shown in Results' card ``index``."""
    shown = (results or {}).get("shown") or []
    if not 0 <= index < len(shown):
        return None, index
    return shown[index][0], int(shown[index][1])


__all__ = ["CARD_OUTPUTS", "hidden_slots", "layout_card", "layout_cards", "result_ref", "show_results", "shown_order", "slot_updates"]
