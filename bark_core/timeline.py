"""A long-form timeline: segments that can each be edited and regenerated alone, then joined.

    tl, warnings = create_timeline(text, "dialogue", count_tokens=engine.count_tokens,
                                   speakers={"ALICE": "v2/en_speaker_9", "BOB": "v2/en_speaker_6"})
    tl = generate_timeline(engine, tl)                 # every segment that has no (current) audio
    for k, tl in generate_segments(engine, tl):        # or the same one segment at a time (to save or show each)
        ...
    tl = edit_segment(tl, 2, text="A better line.", seed=7)
    tl = regenerate_segment(engine, tl, 2)             # only segment 2 is generated again
    stale_segments(tl)                                 # {3: "Segment 4 continues segment 3's voice, ..."}
    audio = render(set_joins(tl, pause_ms=300, crossfade_ms=20))
    tl = from_generation(request, gen.takes[0], voice="preset:v2/en_speaker_6")  # a finished long-form take


Timelines are immutable: every operation returns a new one and shares the untouched segments
(their audio arrays are the same objects), so regenerating segment k cannot change any other
segment's audio. Indices are 0-based; messages count segments from 1, as the UI shows them.

Bark's chaining: a segment with no voice of its own continues from the tokens of the previous
segment of the same speaker (in the engine's long-form, segment k continues segment k-1 when no
voice is given). When that earlier segment's audio changes, is deleted or moved, the later one is
*stale*: it still has its audio, but regenerating it would continue the new voice.

A finished long-form generation (``Take.segments``) becomes a timeline with ``from_generation``:
every segment keeps its exact audio and tokens (nothing is generated), and rendering it with the
imported joins gives back the take's joined audio sample for sample.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from . import longform
from .audiotools import fade_curve
from .constants import CODEBOOK_SIZE, MAX_TEXT_TOKENS, SAMPLE_RATE, SEMANTIC_VOCAB_SIZE
from .settings import MAX_SEED, setting, take_seed
from .types import GenerationCancelled, GenerationRequest, Progress, Take, Voice
from .types import SegmentTake as MadeSegment

SPLIT_MODES = ("sentence", "line", "length", "dialogue")
# For a dropdown: (label, mode).
SPLIT_MODE_CHOICES: list[tuple[str, str]] = [
    ("By sentence", "sentence"), ("By line", "line"), ("By length (characters)", "length"),
    ("Dialogue (NAME: lines)", "dialogue"),
]
DEFAULT_MAX_CHARS = 200
MIN_MAX_CHARS, MAX_MAX_CHARS = 20, 2000
MAX_PAUSE_MS = 10_000.0
MAX_CROSSFADE_MS = 2_000.0
MAX_SEGMENTS = 500
FORMAT_VERSION = 1
# Request fields a caller may set for every segment; the segment itself sets the rest.
REQUEST_OPTIONS = frozenset({"top_k", "top_p", "min_eos_p", "early_stop", "max_seconds", "max_coarse_history", "sliding_window_len"})
TEMPERATURES = ("semantic_temp", "coarse_temp", "fine_temp")  # a segment's own sampling settings (the settings table's rows)
EDITABLE = ("text", "speaker", "voice", "seed", *TEMPERATURES)
# What a segment's take may carry from a take check (None: not checked), and how many tries it took.
SCORE_KEYS = ("on_script", "similarity_to_first")

# "ALICE: Hello", "Dr. Who: hi", "Mary-Jane (whispering): ..." but not "http://x" or "10:30".
_NAME_LINE = re.compile(r"^\s*([^\W\d_][\w .'’\-()]{0,39}?)\s*:(?!//)\s*(.*)$")

CountTokens = Callable[[str], int]
ResolveVoice = Callable[[str], Optional[Voice]]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class SegmentTake:
    """A segment's audio and tokens, and what they were made from (to tell when they are stale)."""

    audio: np.ndarray  # (samples,) float32 at the timeline's sample rate
    tokens: Voice  # the segment's own tokens: what the next segment of the speaker continues
    seed: int  # the seed actually used
    recipe: tuple  # the segment's text, speaker, voice and temperatures when it was made
    prompt: str  # which history prompt it continued: "none", "voice:<ref>" or "chain:<hash of tokens>"
    warnings: tuple[str, ...] = ()
    scores: Mapping[str, Optional[float]] = field(default_factory=dict)  # SCORE_KEYS -> 0..1 (or None: not checked)
    tries: int = 1  # how many tries the segment took (a segment retaken until it passed a check)

    @property
    def token_hash(self) -> str:
        return _token_hash(self.tokens)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True, eq=False)
class Segment:
    """One piece of the text, generated alone."""

    text: str
    speaker: str = ""  # dialogue NAME; "" outside dialogue
    voice: Optional[str] = None  # a voice reference (preset name, saved voice); None = continue the speaker's previous segment
    seed: Optional[int] = None  # None = a new random seed each time it is generated
    semantic_temp: float = setting("semantic_temp").default
    coarse_temp: float = setting("coarse_temp").default
    fine_temp: float = setting("fine_temp").default
    id: str = field(default_factory=lambda: secrets.token_hex(6))  # stable across edits and moves
    take: Optional[SegmentTake] = None

    def recipe(self) -> tuple:
        return (self.text, self.speaker, self.voice, float(self.semantic_temp), float(self.coarse_temp), float(self.fine_temp))


@dataclass(frozen=True, eq=False)
class Timeline:
    """Segments in order, how they are joined, and the dialogue's voices."""

    segments: tuple[Segment, ...]
    pause_ms: float = 250.0  # silence between segments
    crossfade_ms: float = 0.0  # overlap of adjacent segments (with no pause), or fade out/in around a pause
    sample_rate: int = SAMPLE_RATE
    split_mode: str = "sentence"
    speakers: Mapping[str, Optional[str]] = field(default_factory=dict)  # dialogue NAME -> voice reference
    options: Mapping[str, Any] = field(default_factory=dict)  # REQUEST_OPTIONS every segment is generated with

    def __len__(self) -> int:
        return len(self.segments)


# --------------------------------------------------------------------------- validation


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_index(tl: Timeline, k, allow_end: bool = False) -> int:
    n = len(tl.segments)
    hi = n if allow_end else n - 1
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= hi:
        if n == 0 and not allow_end:
            raise ValueError("The timeline has no segments.")
        raise ValueError(f"There is no segment {k + 1 if isinstance(k, int) else k!r}; the timeline has {n} (1-{n}).")
    return k


def _check_segment_fields(seg: Segment, label: str) -> None:
    if not isinstance(seg.text, str) or not longform.normalize_text(seg.text):
        raise ValueError(f"{label} has no text; write something or delete the segment.")
    if not isinstance(seg.speaker, str) or len(seg.speaker) > 40:
        raise ValueError(f"{label}'s speaker must be a name of at most 40 characters.")
    if seg.voice is not None and (not isinstance(seg.voice, str) or not seg.voice.strip()):
        raise ValueError(f"{label}'s voice must be a voice name, or none to continue the previous segment.")
    if seg.seed is not None and (isinstance(seg.seed, bool) or not isinstance(seg.seed, int) or not 0 <= seg.seed <= MAX_SEED):
        raise ValueError(f"{label}'s seed must be a whole number in 0..{MAX_SEED}, or none for a random one.")
    for name in TEMPERATURES:  # the settings table's ranges, as for any generation
        row = setting(name)
        row.check(getattr(seg, name), f"{label}'s {row.label.lower()}")


def _check_joins(pause_ms, crossfade_ms) -> None:
    if not _finite(pause_ms) or not 0.0 <= pause_ms <= MAX_PAUSE_MS:
        raise ValueError(f"The pause between segments must be 0 to {MAX_PAUSE_MS:.0f} ms, got {pause_ms!r}.")
    if not _finite(crossfade_ms) or not 0.0 <= crossfade_ms <= MAX_CROSSFADE_MS:
        raise ValueError(f"The crossfade must be 0 to {MAX_CROSSFADE_MS:.0f} ms, got {crossfade_ms!r}.")


def _with_segments(tl: Timeline, segments) -> Timeline:
    segments = tuple(segments)
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(f"A timeline holds at most {MAX_SEGMENTS} segments.")
    return replace(tl, segments=segments)


# --------------------------------------------------------------------------- splitting


def _split_block(text: str, count_tokens: CountTokens, warnings: list[str], **budget) -> list[str]:
    result = longform.split_text(text, count_tokens, **budget)
    warnings.extend(result.warnings)
    return result.segments


def _parse_dialogue(text: str) -> list[tuple[str, str]]:
    """(speaker, text) turns; lines without ``NAME:`` continue the current turn ("" before any name)."""
    turns: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _NAME_LINE.match(line)
        if m:
            turns.append((" ".join(m.group(1).split()), [m.group(2)]))
        elif line.strip():
            if not turns:
                turns.append(("", []))
            turns[-1][1].append(line)
    return [(name, "\n".join(lines)) for name, lines in turns]


def split_segments(
    text: str, mode: str = "sentence", count_tokens: Optional[CountTokens] = None, max_chars: int = DEFAULT_MAX_CHARS,
) -> tuple[list[tuple[str, str]], list[str]]:
    """``(speaker, segment text)`` pairs for ``mode``, and user-facing warnings.

    sentence: today's long-form split (whole sentences packed up to one generation's budget);
    line: each non-empty line is a segment (a line too long for one generation is split by sentence);
    length: sentences packed up to ``max_chars`` characters (a longer sentence is cut at commas, then words);
    dialogue: a line starting ``NAME:`` starts NAME's turn; each turn is split by sentence.
    Every segment also fits one generation: at most 256 tokens by ``count_tokens`` (pass
    ``engine.count_tokens``; the default counts one token per character, which is safe but splits
    more) and about 13 s of speech (longform's 35 word-equivalents), so ``max_chars`` above ~200
    rarely makes segments longer.
    """
    if not isinstance(text, str):
        raise ValueError(f"Text must be a string, got {type(text).__name__}.")
    if mode not in SPLIT_MODES:
        raise ValueError(f"Unknown split mode {mode!r}; choose one of {', '.join(SPLIT_MODES)}.")
    count = count_tokens or len
    warnings: list[str] = []
    if not longform.normalize_text(text):
        raise ValueError("Please enter some text to speak.")
    pairs: list[tuple[str, str]] = []
    if mode == "sentence":
        pairs = [("", s) for s in _split_block(text, count, warnings, max_tokens=MAX_TEXT_TOKENS)]
    elif mode == "line":
        for number, line in enumerate(text.splitlines(), 1):
            if not longform.normalize_text(line):
                continue
            parts = _split_block(line, count, warnings, max_tokens=MAX_TEXT_TOKENS)
            if len(parts) > 1:
                warnings.append(f"Line {number} is too long for one generation; it was split into {len(parts)} segments.")
            pairs.extend(("", p) for p in parts)
    elif mode == "length":
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or not MIN_MAX_CHARS <= max_chars <= MAX_MAX_CHARS:
            raise ValueError(f"The maximum segment length must be a whole number of {MIN_MAX_CHARS} to {MAX_MAX_CHARS} characters, got {max_chars!r}.")

        def chars_and_tokens(s: str) -> int:  # fits iff len(s) <= max_chars and tokens <= 256
            return max(len(s) * MAX_TEXT_TOKENS, count(s) * max_chars)

        pairs = [("", s) for s in _split_block(text, chars_and_tokens, warnings, max_tokens=MAX_TEXT_TOKENS * max_chars)]
    else:
        turns = _parse_dialogue(text)
        if not any(name for name, _ in turns):
            warnings.append("No line starts with a NAME: so the text was split by sentence, with one voice.")
        for name, turn in turns:
            if longform.normalize_text(turn):
                pairs.extend((name, s) for s in _split_block(turn, count, warnings, max_tokens=MAX_TEXT_TOKENS))
    if not pairs:
        raise ValueError("Please enter some text to speak.")
    if len(pairs) > MAX_SEGMENTS:
        raise ValueError(f"The text makes {len(pairs)} segments; a timeline holds at most {MAX_SEGMENTS}. Split it into parts.")
    return pairs, warnings


def create_timeline(
    text: str,
    mode: str = "sentence",
    *,
    count_tokens: Optional[CountTokens] = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    voice: Optional[str] = None,
    speakers: Optional[Mapping[str, Optional[str]]] = None,
    seed: Optional[int] = None,
    semantic_temp: float = setting("semantic_temp").default,
    coarse_temp: float = setting("coarse_temp").default,
    fine_temp: float = setting("fine_temp").default,
    pause_ms: float = 250.0,
    crossfade_ms: float = 0.0,
) -> tuple[Timeline, list[str]]:
    """A timeline of ungenerated segments from ``text`` (see ``split_segments`` for the modes), and warnings.

    ``voice``: every segment's voice (None: segment 1 gets a random speaker and each later one
    continues the previous). Dialogue: ``speakers`` maps NAME -> voice (names match ignoring case);
    a NAME without one gets a random speaker in its first segment, continued in its later ones,
    and text before the first NAME uses ``voice``. ``seed``: segment k gets ``seed + k``
    (None: a new random seed at each generation).
    """
    _check_joins(pause_ms, crossfade_ms)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ValueError(f"Seed must be a whole number in 0..{MAX_SEED}, got {seed!r}.")
    pairs, warnings = split_segments(text, mode, count_tokens, max_chars)
    mapping: dict[str, Optional[str]] = {}
    lookup = {str(k).strip().casefold(): v for k, v in (speakers or {}).items()}
    if mode == "dialogue":
        for name, _ in pairs:
            if name and name not in mapping:
                mapping[name] = lookup.get(name.casefold()) or None
        missing = [n for n, v in mapping.items() if v is None]
        if missing:
            warnings.append(
                f"No voice is set for {', '.join(missing)}: each gets a random speaker in its first segment, "
                "continued in its later ones."
            )
    segments = []
    for k, (name, seg_text) in enumerate(pairs):
        seg = Segment(
            text=seg_text, speaker=name, voice=mapping.get(name) if name else voice,
            seed=None if seed is None else take_seed(seed, k),
            semantic_temp=semantic_temp, coarse_temp=coarse_temp, fine_temp=fine_temp,
        )
        _check_segment_fields(seg, f"Segment {k + 1}")
        segments.append(seg)
    tl = Timeline(segments=tuple(segments), pause_ms=float(pause_ms), crossfade_ms=float(crossfade_ms),
                  split_mode=mode, speakers=mapping)
    return tl, warnings


# --------------------------------------------------------------------------- chaining and staleness


def _token_hash(tokens: Voice) -> str:
    h = hashlib.sha1()
    for a in (tokens.semantic, tokens.coarse, tokens.fine):
        arr = np.ascontiguousarray(a, dtype=np.int64)
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def chain_source(tl: Timeline, k: int) -> Optional[int]:
    """The segment whose tokens segment ``k`` continues: None when it has its own voice or is its speaker's first."""
    _check_index(tl, k)
    seg = tl.segments[k]
    if seg.voice is not None:
        return None
    for j in range(k - 1, -1, -1):
        if tl.segments[j].speaker == seg.speaker:
            return j
    return None


def _prompt_key(tl: Timeline, k: int) -> str:
    seg = tl.segments[k]
    if seg.voice is not None:
        return f"voice:{seg.voice}"
    j = chain_source(tl, k)
    if j is None:
        return "none"
    take = tl.segments[j].take
    if take is None:
        return f"chain:{tl.segments[j].id}:missing"
    return f"chain:{take.token_hash}"


def segment_state(tl: Timeline, k: int) -> str:
    """"missing" (no audio), "edited" (its own settings changed), "upstream" (what it continues changed) or "fresh"."""
    _check_index(tl, k)
    seg = tl.segments[k]
    take = seg.take
    if take is None:
        return "missing"
    if take.recipe != seg.recipe() or (seg.seed is not None and seg.seed != take.seed):
        return "edited"
    if take.prompt != _prompt_key(tl, k):
        return "upstream"
    return "fresh"


def stale_segments(tl: Timeline) -> dict[int, str]:
    """Every segment whose audio is missing or out of date, with a sentence for the UI."""
    out: dict[int, str] = {}
    for k in range(len(tl.segments)):
        state = segment_state(tl, k)
        if state == "missing":
            out[k] = f"Segment {k + 1} has no audio yet."
        elif state == "edited":
            out[k] = f"Segment {k + 1} was edited (text, voice, seed or temperatures) since its audio was made."
        elif state == "upstream":
            j = chain_source(tl, k)
            if j is None:
                out[k] = f"Segment {k + 1} no longer continues the segment it was made from; regenerate it to match."
            else:
                out[k] = (f"Segment {k + 1} continues segment {j + 1}'s voice, which changed since; "
                          f"regenerate segment {k + 1} to follow it.")
    return out


def affected_by(tl: Timeline, k: int) -> list[int]:
    """Later segments that continue segment ``k``'s voice, directly or through one another (they go stale in turn)."""
    _check_index(tl, k)
    reached = {k}
    out = []
    for m in range(k + 1, len(tl.segments)):
        if chain_source(tl, m) in reached:
            reached.add(m)
            out.append(m)
    return out


# --------------------------------------------------------------------------- editing


_KEEP = object()


def edit_segment(tl: Timeline, k: int, **changes) -> Timeline:
    """Change segment ``k``'s text, speaker, voice, seed or temperatures; its audio stays (and becomes stale)."""
    _check_index(tl, k)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"A segment has no setting {sorted(unknown)[0]!r}; editable are {', '.join(EDITABLE)}.")
    if "text" in changes and isinstance(changes["text"], str):
        changes["text"] = longform.normalize_text(changes["text"])
    if "voice" in changes and isinstance(changes["voice"], str) and not changes["voice"].strip():
        changes["voice"] = None
    seg = replace(tl.segments[k], **changes)
    _check_segment_fields(seg, f"Segment {k + 1}")
    return _with_segments(tl, tl.segments[:k] + (seg,) + tl.segments[k + 1:])


def delete_segment(tl: Timeline, k: int) -> Timeline:
    """Remove segment ``k`` (a segment that continued it goes stale)."""
    _check_index(tl, k)
    return _with_segments(tl, tl.segments[:k] + tl.segments[k + 1:])


def insert_segment(tl: Timeline, k: int, text: str, **fields) -> Timeline:
    """A new, ungenerated segment at position ``k`` (0 = first, len = last).

    Speaker, voice and temperatures default to the segment before it (the first one's when ``k`` is 0).
    """
    _check_index(tl, k, allow_end=True)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"A segment has no setting {sorted(unknown)[0]!r}; settable are {', '.join(EDITABLE)}.")
    base = tl.segments[k - 1] if k > 0 else (tl.segments[0] if tl.segments else None)
    inherited = {} if base is None else dict(
        speaker=base.speaker, voice=base.voice, semantic_temp=base.semantic_temp,
        coarse_temp=base.coarse_temp, fine_temp=base.fine_temp,
    )
    seg = Segment(text=longform.normalize_text(text) if isinstance(text, str) else text, **{**inherited, **fields})
    _check_segment_fields(seg, f"The new segment {k + 1}")
    return _with_segments(tl, tl.segments[:k] + (seg,) + tl.segments[k:])


def move_segment(tl: Timeline, k: int, to: int) -> Timeline:
    """Move segment ``k`` so that it ends up at position ``to``."""
    _check_index(tl, k)
    _check_index(tl, to)
    segs = list(tl.segments)
    seg = segs.pop(k)
    segs.insert(to, seg)
    return _with_segments(tl, segs)


def set_joins(tl: Timeline, pause_ms: Optional[float] = None, crossfade_ms: Optional[float] = None) -> Timeline:
    """New join settings (segments untouched: only ``render`` changes)."""
    pause = tl.pause_ms if pause_ms is None else pause_ms
    cross = tl.crossfade_ms if crossfade_ms is None else crossfade_ms
    _check_joins(pause, cross)
    return replace(tl, pause_ms=float(pause), crossfade_ms=float(cross))


# --------------------------------------------------------------------------- generating


def _check_options(options: Mapping) -> dict:
    unknown = set(options) - REQUEST_OPTIONS
    if unknown:
        raise ValueError(
            f"{sorted(unknown)[0]!r} cannot be set for a timeline generation; the segment sets its own text, voice, "
            f"seed and temperatures, and the rest are {', '.join(sorted(REQUEST_OPTIONS))}."
        )
    return dict(options)


def segment_request(tl: Timeline, k: int, voice: Optional[Voice], **options) -> GenerationRequest:
    """The request that generates segment ``k`` alone with history prompt ``voice``.

    ``options`` are the caller's defaults; the timeline's own ``options`` (those of the request an
    imported generation was made with) take their place where they are set.
    """
    seg = tl.segments[_check_index(tl, k)]
    merged = {**_check_options(options), **{name: v for name, v in _check_options(tl.options).items() if v is not None}}
    return GenerationRequest(
        text=seg.text, voice=voice, seed=seg.seed, semantic_temp=seg.semantic_temp, coarse_temp=seg.coarse_temp,
        fine_temp=seg.fine_temp, long_form=False, takes=1, decode=True, **merged,
    )


def _history_prompt(engine, tl: Timeline, k: int, resolve_voice: Optional[ResolveVoice]) -> Optional[Voice]:
    seg = tl.segments[k]
    if seg.voice is not None:
        voice = (resolve_voice or engine.load_voice)(seg.voice)
        if voice is None:
            raise ValueError(f"Segment {k + 1}'s voice {seg.voice!r} could not be found.")
        return voice
    j = chain_source(tl, k)
    if j is None:
        return None
    take = tl.segments[j].take
    if take is None:
        raise ValueError(f"Segment {k + 1} continues segment {j + 1}'s voice, which has no audio yet; generate segment {j + 1} first.")
    return take.tokens if take.tokens.semantic.size else None  # a take that stopped at once is no voice (as in the engine)


def regenerate_segment(
    engine, tl: Timeline, k: int, *, resolve_voice: Optional[ResolveVoice] = None,
    on_progress: Optional[Callable[[Progress], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
    **options,
) -> Timeline:
    """Generate segment ``k`` alone (one ``engine.generate`` call, ``long_form=False``) and return the new timeline.

    Its history prompt is its own voice (``resolve_voice(ref)``, default ``engine.load_voice``) or
    the tokens of the segment it continues. ``options``: request settings shared by all segments
    (``max_seconds``, ``top_k``, ``top_p``, ``min_eos_p``, ...). Every other segment is the same
    object as before, its audio untouched.
    """
    _check_index(tl, k)
    _check_options(options)
    voice = _history_prompt(engine, tl, k, resolve_voice)
    request = segment_request(tl, k, voice, **options)
    gen = engine.generate(request, on_progress=on_progress, should_stop=should_stop)
    if gen.sample_rate != tl.sample_rate:
        raise ValueError(f"The engine made {gen.sample_rate} Hz audio; this timeline is {tl.sample_rate} Hz.")
    result = gen.takes[0]
    seg = tl.segments[k]
    take = SegmentTake(
        audio=np.asarray(result.audio, dtype=np.float32), tokens=result.voice, seed=int(gen.seed),
        recipe=seg.recipe(), prompt=_prompt_key(tl, k), warnings=tuple(gen.warnings),
    )
    return _with_segments(tl, tl.segments[:k] + (replace(seg, take=take),) + tl.segments[k + 1:])


def pending(tl: Timeline, start: int = 0, only_stale: bool = True) -> list[int]:
    """Segments from ``start`` on that a generation would make: those not fresh (all with ``only_stale=False``)."""
    return [k for k in range(start, len(tl.segments)) if not only_stale or segment_state(tl, k) != "fresh"]


def generate_segments(
    engine, tl: Timeline, *, only_stale: bool = True, resolve_voice: Optional[ResolveVoice] = None,
    on_start: Optional[Callable[[int], None]] = None, on_progress: Optional[Callable[[Progress], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None, after_segment: Optional[Callable[[Timeline, int], Timeline]] = None,
    **options,
) -> Iterator[tuple[int, Timeline]]:
    """Generate, in order, every segment that is not fresh (every one with ``only_stale=False``), yielding
    ``(k, timeline)`` as segment ``k`` is made; ``generate_timeline`` is this run to the end.

    A segment made stale by an earlier one regenerated here is regenerated too. ``on_start(k)`` comes
    before segment ``k`` is generated; its progress reports carry its place among those generated
    (``segment`` of ``segments``, counted as it goes). ``after_segment(timeline, k)`` may return a
    changed timeline (e.g. segment ``k`` scored) before it is yielded and the next segment starts.
    ``should_stop`` is asked before each segment and inside each: GenerationCancelled is raised, and
    the segments finished before it are in the last timeline yielded.
    """
    _check_options(options)
    done = 0
    for k in range(len(tl.segments)):
        if only_stale and segment_state(tl, k) == "fresh":
            continue
        if should_stop is not None and should_stop():
            raise GenerationCancelled(f"Stopped before segment {k + 1}.")
        done += 1
        total = done + len(pending(tl, k + 1, only_stale))

        def report(p: Progress, _i=done, _n=total) -> None:
            if on_progress is not None:
                on_progress(Progress(p.stage, p.step, p.total, segment=_i, segments=_n))

        if on_start is not None:
            on_start(k)
        tl = regenerate_segment(engine, tl, k, resolve_voice=resolve_voice, on_progress=report,
                                should_stop=should_stop, **options)
        if after_segment is not None:
            tl = after_segment(tl, k)
        yield k, tl


def generate_timeline(engine, tl: Timeline, **kwargs) -> Timeline:
    """Every segment that is not fresh generated in order (see ``generate_segments`` for the arguments)."""
    for _, tl in generate_segments(engine, tl, **kwargs):
        pass
    return tl


# --------------------------------------------------------------------------- joining


def join_plan(lengths: Sequence[int], sample_rate: int, pause_ms: float, crossfade_ms: float) -> tuple[list[int], list[int], int]:
    """Where each segment starts in the joined audio, each join's crossfade in samples, and the total length.

    pause P = round(pause_ms * sr / 1000) samples of silence between segments; crossfade X likewise.
    With P = 0, adjacent segments overlap by x = min(X, both lengths) samples (one fades out as the
    next fades in: raised-cosine gains that sum to 1), so the total is sum(lengths) - sum(x).
    With P > 0 nothing overlaps: each segment fades out over its last x samples and the next fades
    in over its first x, around exactly P samples of silence; the total is sum(lengths) + (n-1)·P.
    """
    _check_joins(pause_ms, crossfade_ms)
    pause = int(round(pause_ms * sample_rate / 1000.0))
    cross = int(round(crossfade_ms * sample_rate / 1000.0))
    starts, fades = [], []
    pos = 0
    for i, n in enumerate(lengths):
        if i:
            x = min(cross, lengths[i - 1], n)
            fades.append(x)
            pos += pause - (x if pause == 0 else 0)
        starts.append(pos)
        pos += n
    return starts, fades, pos


def join_segments(chunks: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE, pause_ms: float = 250.0,
                  crossfade_ms: float = 0.0) -> np.ndarray:
    """Join mono chunks as ``join_plan`` says; float32."""
    arrays = []
    for i, c in enumerate(chunks):
        a = np.asarray(c)
        if a.ndim != 1 or a.dtype.kind != "f" or not np.isfinite(a).all():
            raise ValueError(f"Segment {i + 1}'s audio must be a 1-D array of finite float samples.")
        arrays.append(a.astype(np.float32, copy=False))
    starts, fades, total = join_plan([len(a) for a in arrays], sample_rate, pause_ms, crossfade_ms)
    out = np.zeros(total, dtype=np.float32)
    overlap = int(round(pause_ms * sample_rate / 1000.0)) == 0
    for i, (a, start) in enumerate(zip(arrays, starts)):
        a = a.copy()
        x_in = fades[i - 1] if i else 0
        x_out = fades[i] if i < len(fades) else 0
        if x_in:
            a[:x_in] *= fade_curve(x_in)
        if x_out:
            a[len(a) - x_out:] *= (1.0 - fade_curve(x_out)) if overlap else fade_curve(x_out)[::-1]
        shared = x_in if overlap else 0  # samples that overlap the previous segment's faded tail
        out[start: start + shared] += a[:shared]
        out[start + shared: start + len(a)] = a[shared:]  # assigned, so a lone sample keeps its exact bits (-0.0 too)
    return out


def render(tl: Timeline) -> np.ndarray:
    """The timeline's audio: every segment's take joined with its pause and crossfade. Segments are not changed."""
    if not tl.segments:
        raise ValueError("The timeline has no segments to render.")
    missing = [k + 1 for k, s in enumerate(tl.segments) if s.take is None]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ValueError(f"Segment(s) {shown} have no audio yet; generate them first.")
    return join_segments([s.take.audio for s in tl.segments], tl.sample_rate, tl.pause_ms, tl.crossfade_ms)


# --------------------------------------------------------------------------- importing a finished generation


def _gaps(spans: Sequence[tuple[int, int]]) -> list[int]:
    return [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]


def _spans(segments: Sequence[MadeSegment], samples: int) -> list[tuple[int, int]]:
    """Each segment's ``(start, end)`` in a take of ``samples`` samples, checked to lie inside it, in order."""
    spans: list[tuple[int, int]] = []
    for k, seg in enumerate(segments):
        start, end = seg.start, seg.end
        ok = all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (start, end))
        if not ok or not 0 <= start <= end <= samples or (spans and start < spans[-1][1]):
            raise ValueError(f"Segment {k + 1}'s place in the take ({start!r} to {end!r}) is not inside the take's "
                             f"{samples} samples, after the segment before it.")
        spans.append((int(start), int(end)))
    return spans


def from_segments(
    audio: np.ndarray,
    segments: Sequence[MadeSegment],
    *,
    seed: int,
    voice: Optional[str] = None,
    pause_ms: Optional[float] = None,
    semantic_temp: float = setting("semantic_temp").default,
    coarse_temp: float = setting("coarse_temp").default,
    fine_temp: float = setting("fine_temp").default,
    options: Optional[Mapping[str, Any]] = None,
    scores: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
    sample_rate: int = SAMPLE_RATE,
) -> Timeline:
    """A timeline of already generated segments: each one's audio is its slice of ``audio``, nothing is generated.

    ``segments``: what ``Take.segments`` holds (``bark_core.types.SegmentTake``: ``text``, ``tokens``,
    the segment's own tokens, ``start`` and ``end``, its sample range in ``audio`` with the pauses
    excluded, and ``tries``). ``voice``: the reference every segment was made with (None: segment 1
    a random speaker, each later one continuing the one before, as the engine's long-form does).
    ``pause_ms``: None reads the pause off the gaps between the segments, so ``render`` gives back
    ``audio`` sample for sample. ``seed``: the take's seed, recorded on every segment's take; the
    segments themselves get no fixed seed, so regenerating one draws a new one. ``options``: the
    request's REQUEST_OPTIONS, used again when a segment is regenerated. ``scores[k]``: segment k's
    take check (``on_script``, ``similarity_to_first``), or None.
    """
    a = np.asarray(audio)
    if a.ndim != 1 or a.dtype.kind != "f" or not np.isfinite(a).all():
        raise ValueError("The take's audio must be a 1-D array of finite float samples.")
    if not segments:
        raise ValueError("The take has no segments to import.")
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(f"A timeline holds at most {MAX_SEGMENTS} segments; the take has {len(segments)}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"The take's seed must be a whole number in 0..{MAX_SEED}, got {seed!r}.")
    if scores is not None and len(scores) != len(segments):
        raise ValueError(f"There are {len(scores)} segment scores for {len(segments)} segments.")
    spans = _spans(segments, len(a))
    if pause_ms is None:
        gaps = set(_gaps(spans))
        if len(gaps) > 1:
            raise ValueError("The take's segments are not evenly spaced; give the pause between them.")
        pause_ms = (gaps.pop() if gaps else 0) * 1000.0 / sample_rate
    _check_joins(pause_ms, 0.0)
    opts = _check_options(options or {})
    timeline = Timeline(segments=(), pause_ms=float(pause_ms), crossfade_ms=0.0, sample_rate=sample_rate,
                        split_mode="sentence", options=opts)
    out: list[Segment] = []
    for k, (seg, (start, end)) in enumerate(zip(segments, spans)):
        label = f"Segment {k + 1}"
        text = longform.normalize_text(seg.text)
        if not isinstance(seg.tokens, Voice):
            raise ValueError(f"{label} of the take has no tokens.")
        tokens = _check_tokens(np.asarray(seg.tokens.semantic), np.asarray(seg.tokens.coarse),
                               np.asarray(seg.tokens.fine), label)
        new = Segment(text=text, voice=voice, seed=None, semantic_temp=float(semantic_temp),
                      coarse_temp=float(coarse_temp), fine_temp=float(fine_temp))
        _check_segment_fields(new, label)
        out.append(new)
        timeline = replace(timeline, segments=tuple(out))
        take = SegmentTake(audio=a[start:end].astype(np.float32, copy=True), tokens=tokens, seed=int(seed),
                           recipe=new.recipe(), prompt=_prompt_key(timeline, k),
                           scores=_check_scores(scores[k] if scores is not None else None, label, first=k == 0),
                           tries=seg.tries)
        out[k] = replace(new, take=take)
        timeline = replace(timeline, segments=tuple(out))
    return timeline


def from_generation(request: GenerationRequest, take: Take, *, voice: Optional[str] = None,
                    scores: Optional[Sequence[Optional[Mapping[str, Any]]]] = None) -> Timeline:
    """The timeline of one finished take of ``request`` (``take.segments``, ``take.audio``, ``take.seed``).

    ``voice`` is the reference of ``request.voice`` (a preset or saved voice name; the request holds
    only its tokens). Temperatures and the other sampling settings come from ``request``; the joins
    from the take itself (``request.segment_pause_s`` when there is one segment or they disagree).
    """
    segments = list(take.segments)
    if take.audio is None:
        raise ValueError("The take has no audio (it was generated as tokens only); nothing to import.")
    if not segments:
        raise ValueError("This take has no segment data; only long-form takes made by this version can be "
                         "opened as timelines.")
    if request.voice is not None and not voice:
        raise ValueError("Say which voice the take was made with; its segments need it to be regenerated.")
    spans = [(s.start, s.end) for s in segments]
    pause = None  # read off the gaps, so that rendering gives back the take
    if len(set(_gaps(spans))) != 1:  # one segment, or uneven gaps: the request's pause
        pause = float(request.segment_pause_s) * 1000.0
    return from_segments(
        take.audio, segments, seed=take.seed, voice=(voice or None) if request.voice is not None else None, pause_ms=pause,
        semantic_temp=request.semantic_temp, coarse_temp=request.coarse_temp, fine_temp=request.fine_temp,
        options={k: v for k, v in request.settings().items() if k in REQUEST_OPTIONS}, scores=scores,
    )


def _check_scores(d: Any, label: str, first: bool = False) -> dict[str, Optional[float]]:
    """A take check's numbers for one segment: SCORE_KEYS -> a number in [-1, 1] (other keys, and None, are left out).

    ``first``: segment 1 is the speaker reference, so its similarity to itself is left out too.
    """
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise ValueError(f"{label}'s scores are unreadable.")
    out: dict[str, Optional[float]] = {}
    for key in SCORE_KEYS:
        if first and key == "similarity_to_first":
            continue
        v = d.get(key)
        if v is None:
            continue
        if not _finite(v) or not -1.0 <= v <= 1.0:
            raise ValueError(f"{label}'s {key.replace('_', ' ')} score must be a number in [-1, 1], got {v!r}.")
        out[key] = float(v)
    return out


# --------------------------------------------------------------------------- storage

_ARRAY_DTYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "int16": np.int16}
MAX_SEGMENT_SAMPLES = SAMPLE_RATE * 120


def _encode_array(a: np.ndarray, key: str, arrays: Optional[dict]) -> dict:
    if arrays is not None:
        arrays[key] = a
        return {"array": key}
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")}


def _decode_array(d, label: str, arrays: Optional[Mapping[str, np.ndarray]]) -> np.ndarray:
    if not isinstance(d, dict):
        raise ValueError(f"{label} is not stored as an array.")
    if "array" in d:
        if arrays is None or d["array"] not in arrays:
            raise ValueError(f"{label} refers to an array {d['array']!r} that was not given.")
        return np.asarray(arrays[d["array"]])
    dtype = _ARRAY_DTYPES.get(d.get("dtype"))
    shape = d.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"{label} has an unreadable dtype or shape.")
    try:
        raw = base64.b64decode(d.get("data", ""), validate=True)
    except (ValueError, TypeError):
        raise ValueError(f"{label}'s data is not base64.") from None
    want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) != want:
        raise ValueError(f"{label} holds {len(raw)} bytes; its shape {shape} needs {want}.")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def _check_tokens(semantic, coarse, fine, label: str) -> Voice:
    for a, ndim, rows, hi, what in ((semantic, 1, None, SEMANTIC_VOCAB_SIZE, "semantic"), (coarse, 2, 2, CODEBOOK_SIZE, "coarse"),
                                    (fine, 2, 8, CODEBOOK_SIZE, "fine")):
        if a.dtype.kind not in "iu" or a.ndim != ndim or (rows is not None and a.shape[0] != rows):
            raise ValueError(f"{label}'s {what} tokens have the wrong type or shape {a.shape}.")
        if a.size and (int(a.min()) < 0 or int(a.max()) >= hi):
            raise ValueError(f"{label}'s {what} tokens are outside 0..{hi - 1}.")
    if coarse.shape[1] != fine.shape[1]:
        raise ValueError(f"{label}'s coarse and fine tokens cover different lengths.")
    return Voice(semantic=semantic.astype(np.int64), coarse=coarse.astype(np.int64), fine=fine.astype(np.int64))


def to_dict(tl: Timeline, arrays: Optional[dict] = None) -> dict:
    """A JSON-ready dict of the whole timeline.

    Audio and tokens go inline as base64 (little-endian) by default; pass a dict as ``arrays`` to
    receive them there instead (keys like ``"<segment id>.audio"``, for ``np.savez``) with only their
    keys in the JSON.
    """
    segs = []
    for s in tl.segments:
        d = dict(id=s.id, text=s.text, speaker=s.speaker, voice=s.voice, seed=s.seed, semantic_temp=s.semantic_temp,
                 coarse_temp=s.coarse_temp, fine_temp=s.fine_temp, take=None)
        if s.take is not None:
            t = s.take
            d["take"] = dict(
                audio=_encode_array(t.audio, f"{s.id}.audio", arrays),
                semantic=_encode_array(t.tokens.semantic, f"{s.id}.semantic", arrays),
                coarse=_encode_array(t.tokens.coarse, f"{s.id}.coarse", arrays),
                fine=_encode_array(t.tokens.fine, f"{s.id}.fine", arrays),
                seed=t.seed, recipe=list(t.recipe), prompt=t.prompt, warnings=list(t.warnings),
                scores=dict(t.scores), tries=t.tries,
            )
        segs.append(d)
    return dict(version=FORMAT_VERSION, pause_ms=tl.pause_ms, crossfade_ms=tl.crossfade_ms, sample_rate=tl.sample_rate,
                split_mode=tl.split_mode, speakers=dict(tl.speakers), options=dict(tl.options), segments=segs)


def from_dict(d: Mapping, arrays: Optional[Mapping[str, np.ndarray]] = None) -> Timeline:
    """The timeline ``to_dict`` stored, checked field by field (ValueError with a sentence if anything is off)."""
    if not isinstance(d, Mapping) or d.get("version") != FORMAT_VERSION:
        raise ValueError("This is not a saved timeline (or one from a newer version).")
    raw_segments = d.get("segments")
    if not isinstance(raw_segments, list) or len(raw_segments) > MAX_SEGMENTS:
        raise ValueError("The saved timeline's segments are unreadable.")
    sr = d.get("sample_rate")
    if sr != SAMPLE_RATE:
        raise ValueError(f"The saved timeline is at {sr!r} Hz; Bark's audio is {SAMPLE_RATE} Hz.")
    mode = d.get("split_mode")
    if mode not in SPLIT_MODES:
        raise ValueError(f"The saved timeline's split mode {mode!r} is unknown.")
    speakers = d.get("speakers") or {}
    if not isinstance(speakers, Mapping) or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in speakers.items()):
        raise ValueError("The saved timeline's speakers are unreadable.")
    options = d.get("options") or {}
    if (not isinstance(options, Mapping) or set(options) - REQUEST_OPTIONS
            or not all(v is None or isinstance(v, bool) or _finite(v) for v in options.values())):
        raise ValueError("The saved timeline's generation settings are unreadable.")
    segments = []
    for i, s in enumerate(raw_segments):
        label = f"Saved segment {i + 1}"
        if not isinstance(s, Mapping):
            raise ValueError(f"{label} is unreadable.")
        seg_id = s.get("id")
        if not isinstance(seg_id, str) or not re.fullmatch(r"[0-9a-zA-Z_-]{1,64}", seg_id):
            raise ValueError(f"{label} has no valid id.")
        take = None
        t = s.get("take")
        if t is not None:
            if not isinstance(t, Mapping):
                raise ValueError(f"{label}'s audio is unreadable.")
            audio = _decode_array(t.get("audio"), f"{label}'s audio", arrays)
            if audio.dtype.kind != "f" or audio.ndim != 1 or len(audio) > MAX_SEGMENT_SAMPLES or not np.isfinite(audio).all():
                raise ValueError(f"{label}'s audio must be finite 1-D float samples, at most {MAX_SEGMENT_SAMPLES // SAMPLE_RATE} s.")
            tokens = _check_tokens(*(_decode_array(t.get(k), f"{label}'s {k} tokens", arrays) for k in ("semantic", "coarse", "fine")), label)
            seed, recipe, prompt, warns = t.get("seed"), t.get("recipe"), t.get("prompt"), t.get("warnings", [])
            if (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED or not isinstance(recipe, list)
                    or len(recipe) != 6 or not isinstance(prompt, str) or not isinstance(warns, list)
                    or not all(isinstance(w, str) for w in warns)):
                raise ValueError(f"{label}'s record of how it was made is unreadable.")
            tries = t.get("tries", 1)
            if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= 1000:
                raise ValueError(f"{label}'s number of tries is unreadable.")
            take = SegmentTake(audio=audio.astype(np.float32), tokens=tokens, seed=seed, recipe=tuple(recipe),
                               prompt=prompt, warnings=tuple(warns), scores=_check_scores(t.get("scores"), label),
                               tries=tries)
        seg = Segment(text=s.get("text"), speaker=s.get("speaker", ""), voice=s.get("voice"), seed=s.get("seed"),
                      semantic_temp=s.get("semantic_temp"), coarse_temp=s.get("coarse_temp"), fine_temp=s.get("fine_temp"),
                      id=seg_id, take=take)
        _check_segment_fields(seg, label)
        segments.append(seg)
    tl = Timeline(segments=tuple(segments), pause_ms=d.get("pause_ms"), crossfade_ms=d.get("crossfade_ms"),
                  sample_rate=SAMPLE_RATE, split_mode=mode, speakers=dict(speakers), options=dict(options))
    _check_joins(tl.pause_ms, tl.crossfade_ms)
    return replace(tl, pause_ms=float(tl.pause_ms), crossfade_ms=float(tl.crossfade_ms))
