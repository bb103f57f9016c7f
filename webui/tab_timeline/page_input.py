"""What the Timeline tab's page sends, read into timeline terms (a sentence for anything unusable).

Numbers and seeds typed into boxes, 1-based segment numbers, voice references and dialogue voice
lines; and the owner's timeline itself, loaded from the store at every call (the page holds only its id).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from bark_core import settings as table
from bark_core import timeline as T

from ..studio import Studio
from ..voice_book import echo, preset_ref, split_ref, user_ref
from ..timeline_store import TimelineStore


def check_voice_ref(studio: Studio, owner: str, ref: Optional[str]) -> Optional[str]:
    """``ref`` if it names a preset or one of the owner's voices (None for none); else a sentence."""
    if not ref:
        return None
    if not isinstance(ref, str):
        raise ValueError("Pick a voice from the list.")
    if studio.voices.usable(owner, ref):
        return ref
    raise ValueError(f"The voice {echo(ref)} is not in the voice list; pick one from it.")


def parse_speakers(studio: Studio, owner: str, text: Optional[str]) -> dict[str, Optional[str]]:
    """``NAME = voice`` lines -> {NAME: voice reference}. A voice is a preset name or one of the owner's voices."""
    mapping: dict[str, Optional[str]] = {}
    mine = {v.name.casefold(): user_ref(v.id) for v in studio.voices.list_own(owner)}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        sep = "=" if "=" in line else ":" if ":" in line else None
        if sep is None:
            raise ValueError(f"Line {number} of the dialogue voices has no '=': write NAME = voice, "
                             "e.g. ALICE = v2/en_speaker_9.")
        name, _, voice = line.partition(sep)
        name, voice = " ".join(name.split()), voice.strip().lstrip("★").strip()
        if not name or len(name) > 40:
            raise ValueError(f"Line {number} of the dialogue voices needs a NAME of 1 to 40 characters.")
        if not voice:
            mapping[name] = None
            continue
        if split_ref(voice)[0]:
            ref = voice
        elif studio.voices.preset(preset_ref(voice)) is not None:
            ref = preset_ref(voice)
        elif voice.casefold() in mine:
            ref = mine[voice.casefold()]
        else:
            raise ValueError(f"Line {number}: {echo(voice)} is neither a voice preset (e.g. v2/en_speaker_6) "
                             "nor one of your saved voices.")
        mapping[name] = check_voice_ref(studio, owner, ref)
    return mapping


def parse_number(value: Any, what: str, default: Optional[float] = None) -> Optional[float]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {echo(value)}.") from None
    if not np.isfinite(x):
        raise ValueError(f"{what} must be a finite number.")
    return x


def parse_seed(value: Any, what: str = "The seed") -> Optional[int]:
    x = parse_number(value, what)
    if x is None:
        return None
    if x != int(x) or not 0 <= x <= table.MAX_SEED:
        raise ValueError(f"{what} must be a whole number in 0..{table.MAX_SEED}, or empty for a random one.")
    return int(x)


def segment_index(tl: T.Timeline, seg_no: Any) -> int:
    """A 1-based segment number from the page -> a 0-based index (a sentence when it is not one)."""
    n = len(tl.segments)
    try:
        k = int(float(seg_no)) - 1
    except (TypeError, ValueError):
        raise ValueError(f"Pick a segment (1-{n}) in the list first.") from None
    if not 0 <= k < n:
        raise ValueError(f"There is no segment {k + 1}; the timeline has {n} (1-{n}).")
    return k


def load_timeline(tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> T.Timeline:
    if not owner:
        raise ValueError("Your browser session is not ready yet; reload the page.")
    if not tl_id:
        raise ValueError("Create a timeline first (paste text and press Create timeline), or open one of yours.")
    return tstore.load(owner, tl_id)


def editable_timeline(tstore: TimelineStore, owner: Optional[str], tl_id: Optional[str]) -> T.Timeline:
    """The draft, for a change made by hand; refused while an engine job is saving segments into it."""
    tl = load_timeline(tstore, owner, tl_id)
    if tstore.is_busy(tl_id):
        raise ValueError("This timeline is being generated right now; wait for it to finish (or press Stop), "
                         "then make the change.")
    return tl
