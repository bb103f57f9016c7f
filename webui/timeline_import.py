"""Long-form takes as timelines: each take of a finished generation imported with its exact segments.

The generate handlers (Studio and API) import every long-form take when it is saved; the Timeline
tab opens it; deleting the history row removes the timelines nobody opened. The studio's one
``TimelineStore`` (``studio.library.timelines``) serves them all.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Optional, Sequence

from bark_core import timeline as T

from .studio import Studio
from .take_checks import Part

log = logging.getLogger(__name__)


def score_segments(studio: Studio, tl: T.Timeline, ks: Optional[Sequence[int]] = None,
                   voice_ref: Optional[str] = None) -> T.Timeline:
    """Segments ``ks`` (default all with audio) scored by the take check (``TakeChecks.score_segments``):
    on-script, and same speaker as segment 1.

    A check that cannot run leaves that number out (the segment keeps its audio); never raises for it.
    """
    checks = studio.checks
    parts = [Part(seg.take.audio if seg.take is not None else None, seg.text,
                  checks.language(seg.text, seg.voice or voice_ref or "")) for seg in tl.segments]
    try:
        scored = checks.score_segments(parts, tl.sample_rate, only=ks)
    except Exception as e:  # no aligner or encoder installed: nothing is scored
        log.info("take check unavailable: %s", type(e).__name__)
        return tl
    segments = list(tl.segments)
    for k, score in enumerate(scored):
        if score is None:
            continue
        scores = {"on_script": score.on_script, "similarity_to_first": score.speaker_similarity}
        seg = segments[k]
        segments[k] = replace(seg, take=replace(seg.take, scores={k2: v for k2, v in scores.items() if v is not None}))
    return replace(tl, segments=tuple(segments))


def _record_segment_scores(rec: Any, take_index: int, n: int) -> Optional[list[Optional[dict]]]:
    """Per-segment scores the studio saved with the take (``scores["segments"]``), when they fit ``n`` segments."""
    try:
        found = rec.takes[take_index].scores.get("segments")
    except (AttributeError, IndexError, TypeError):
        return None
    if isinstance(found, list) and len(found) == n and all(x is None or isinstance(x, dict) for x in found):
        return found
    return None


def import_generation(studio: Studio, owner: str, gen_id: str, request: Any, generation: Any, take_index: int, *,
                      voice_ref: Optional[str] = None, scores: Optional[Sequence[Optional[dict]]] = None,
                      score: bool = True) -> str:
    """Take ``take_index`` of a finished generation as the owner's timeline (made once, then reused); its id.

    Every segment keeps its exact audio and tokens (``Take.segments``), so nothing is generated;
    the joins come from the take, the voice, temperatures and other settings from ``request``
    (``voice_ref``: the voice list's reference of ``request.voice``; default: the history row's).
    ``scores[k]``: segment k's check (``on_script``, ``similarity_to_first``); default: what the
    history row saved, else (``score=True``) the take check scores each segment now.
    Call it when the generation is saved (``gen_id`` is its history id). ValueError with a sentence
    when the take cannot be imported (no segments, not the owner's, ...).
    """
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    tstore = studio.library.timelines
    if isinstance(take_index, bool) or not isinstance(take_index, int) or not 0 <= take_index < len(generation.takes):
        raise ValueError(f"There is no take {take_index!r} in that generation.")
    found = tstore.project_for_generation(owner, gen_id, take_index)
    if found is not None:
        return found
    rec = studio.library.generation(owner, gen_id)
    if rec is None:
        raise ValueError("That generation is not in your history (it may have been deleted).")
    if voice_ref is None:
        voice_ref = rec.settings.get("voice") or rec.voice or ""
    take = generation.takes[take_index]
    n = len(take.segments)
    if scores is None:
        scores = _record_segment_scores(rec, take_index, n)
    tl = T.from_generation(request, take, voice=voice_ref or None, scores=scores)
    if scores is None and score:
        tl = score_segments(studio, tl, voice_ref=voice_ref)
    tl_id, _ = tstore.create_for_generation(owner, gen_id, take_index, tl, opened=False)
    return tl_id


def import_long_form(studio: Studio, owner: str, gen_id: str, request: Any, generation: Any, *,
                     score: bool = True) -> list[Optional[str]]:
    """Import every take of ``generation`` that has more than one segment (see ``import_generation``).

    For the generate handler, right after the generation is saved: the timeline id of each take
    (None for a take of one segment, or one that could not be imported; the reason is logged).
    Never raises: a generation is never lost because its timeline could not be made.
    """
    ids: list[Optional[str]] = []
    for i, take in enumerate(generation.takes):
        if len(take.segments) < 2:
            ids.append(None)
            continue
        try:
            ids.append(import_generation(studio, owner, gen_id, request, generation, i, score=score))
        except Exception as e:
            log.warning("take %d could not be imported as a timeline: %s", i + 1, e)
            ids.append(None)
    return ids
