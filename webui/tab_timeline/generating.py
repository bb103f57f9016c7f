"""Engine work of the Timeline tab: regenerate one segment, or "Generate missing and stale".

Both go through ``bark_core.timeline`` (``regenerate_segment``, ``generate_segments``: the one loop)
with ``StudioEngine``, which runs each segment through ``studio.runner.stream`` (the one worker path,
``gpu_wrap`` included) in the shared engine slot. Every segment made is scored (on script, same
speaker as segment 1) and saved before the next one starts.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import gradio as gr

from bark_core import GenerationCancelled, Progress, SegmentDone, contract
from bark_core import timeline as T

from ..formatting import STAGE_LABEL
from ..job_runner import session_key, user_error
from ..studio import Studio
from ..timeline_import import score_segments
from ..timeline_store import TimelineStore
from .page_input import load_timeline, segment_index
from .segment_editor import with_edits
from .views import segments_phrase, view


class StudioEngine:
    """What ``bark_core.timeline`` calls as ``engine.generate``, run through ``studio.runner.stream`` (one worker, gpu_wrap)."""

    def __init__(self, studio: Studio, owner: str = ""):
        self.studio, self.owner = studio, owner or ""  # whose segments (the engine's queue serves owners in turn)

    def generate(self, request: Any, on_progress=None, should_stop=None) -> Any:
        def show(event: Progress | SegmentDone) -> None:
            if isinstance(event, Progress) and on_progress is not None:
                on_progress(event)

        return contract.wait(self.studio.runner.stream(request, should_stop or (lambda: False), owner=self.owner), show)

    def load_voice(self, ref: Any) -> Any:  # only used without a resolver; the tab always passes one
        raise ValueError("Voices are resolved by the studio.")


def segment_options(studio: Studio, owner: str) -> dict[str, Any]:
    """What every segment is generated with: the owner's voices, and the studio's request defaults (e.g.
    ``--max-seconds``)."""
    defaults = {k: v for k, v in studio.requests.defaults.items() if k in T.REQUEST_OPTIONS and v is not None}
    return {"resolve_voice": lambda ref: studio.voices.resolve(owner, ref), **defaults}


def rescore(studio: Studio, tl: T.Timeline, k: int) -> T.Timeline:
    """After segment ``k`` is (re)generated: score it (on script, same speaker as segment 1).

    A new segment 1 is every other segment's speaker reference, so then every segment with audio is scored again.
    """
    return score_segments(studio, tl, None if k == 0 else [k])


def regenerate(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str], seg_no: Any,
               seg_text: Any, seg_voice: Any, seg_seed: Any, seg_semantic: Any, seg_coarse: Any, seg_fine: Any,
               request: gr.Request, progress=gr.Progress()) -> dict[str, Any]:
    """Apply the editor's values and generate this one segment again; every other segment keeps its audio."""
    tl = load_timeline(tstore, owner, tl_id)
    with tstore.working(tl_id):
        return _regenerate_one(studio, tstore, owner, tl_id, tl, seg_no, seg_text, seg_voice, seg_seed, seg_semantic,
                               seg_coarse, seg_fine, request, progress)


def _regenerate_one(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, tl: T.Timeline, seg_no: Any,
                    seg_text: Any, seg_voice: Any, seg_seed: Any, seg_semantic: Any, seg_coarse: Any, seg_fine: Any,
                    request: Any, progress: Any) -> dict[str, Any]:
    k = segment_index(tl, seg_no)
    tl = with_edits(studio, owner, tl, k, seg_text, seg_voice, seg_seed, seg_semantic, seg_coarse, seg_fine)
    tstore.save(owner, tl_id, tl)  # the edit is kept even if the generation fails or is stopped
    key = session_key(request) or owner
    job = studio.runner.job(key)
    if job.stopped():
        return {**view(studio, owner, tl_id, tl, k), "tl_status": "■ Stopped before it started."}

    def report(p: Any) -> None:
        progress(min(1.0, p.fraction), desc=f"Segment {k + 1} · {STAGE_LABEL.get(p.stage, p.stage)}")

    try:
        tl = T.regenerate_segment(StudioEngine(studio, owner), tl, k, on_progress=report, should_stop=job.stopped,
                                  **segment_options(studio, owner))
    except GenerationCancelled:
        return {**view(studio, owner, tl_id, tl, k), "tl_status": f"■ Stopped; segment {k + 1} kept its old audio."}
    except Exception as e:
        raise user_error(e) from None
    finally:
        job.close()
    tl = rescore(studio, tl, k)
    tstore.save(owner, tl_id, tl)
    later = [j for j in T.affected_by(tl, k) if T.segment_state(tl, j) == "upstream"]
    stale = (f" {segments_phrase(later).capitalize()} continue{'s' if len(later) == 1 else ''} its voice and "
             f"{'is' if len(later) == 1 else 'are'} now stale: regenerate {'it' if len(later) == 1 else 'them'} "
             "(Generate missing and stale does) to follow the new voice." if later else " No other segment changed.")
    return {**view(studio, owner, tl_id, tl, k),
            "tl_status": f"✓ Segment {k + 1} regenerated ({tl.segments[k].take.seconds:.1f} s, seed "
                         f"{tl.segments[k].take.seed}).{stale}"}


def generate_all(studio: Studio, tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str],
                 request: gr.Request, progress=gr.Progress()) -> Iterator[dict[str, Any]]:
    """Generate, in order, every segment that has no audio or is stale; each is playable as it finishes."""
    tl = load_timeline(tstore, owner, tl_id)
    with tstore.working(tl_id):
        yield from _generate_missing(studio, tstore, owner, tl_id, tl, request, progress)


def _generate_missing(studio: Studio, tstore: TimelineStore, owner: str, tl_id: str, tl: T.Timeline, request: Any,
                      progress: Any) -> Iterator[dict[str, Any]]:
    if not T.pending(tl):
        yield {"tl_status": "Every segment is up to date; nothing to generate."}
        return
    key = session_key(request) or owner
    job = studio.runner.job(key)
    current = {"k": 0}  # the segment in the making, for the progress line

    def report(p: Progress) -> None:
        progress(min(1.0, p.fraction), desc=f"Segment {current['k'] + 1} ({p.segment} of {p.segments}) · "
                                            f"{STAGE_LABEL.get(p.stage, p.stage)}")

    made = 0
    try:
        for k, tl in T.generate_segments(StudioEngine(studio, owner), tl, on_start=lambda k: current.update(k=k),
                                         on_progress=report, should_stop=job.stopped,
                                         after_segment=lambda tl, k: rescore(studio, tl, k),
                                         **segment_options(studio, owner)):
            tstore.save(owner, tl_id, tl)
            made += 1
            left = len(T.pending(tl, k + 1))
            rest = "the next one is being made" if left else "all done"
            yield {**view(studio, owner, tl_id, tl, k),
                   "tl_status": f"Segment {k + 1} done ({made} of {made + left}): playable below while {rest}."}
    except GenerationCancelled:
        yield {**view(studio, owner, tl_id, tl), "tl_status": f"■ Stopped after {made} segment(s); the ones "
                                                              "finished are kept."}
        return
    except Exception as e:
        raise user_error(e) from None
    finally:
        job.close()
    yield {"tl_status": f"✓ Generated {made} segment(s). Press **Render new version** to join them."}
