"""Long-form text: split text into segments that each fit one Bark generation, and join the audio.

Bark reads at most 256 text tokens and speaks for at most ~14 s per generation, so
long text is cut at sentence boundaries and packed greedily into segments that fit
both a token budget (counted by a callable the engine passes in: its tokenizer) and a
speech-length budget in word-equivalents (``max_words``). Nothing is ever dropped:
joining the segments with single spaces gives back the normalised text, and anything
cut below sentence level is reported in the warnings.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .constants import SAMPLE_RATE

CountTokens = Callable[[str], int]

DEFAULT_MAX_TOKENS = 256
WORDS_PER_SECOND = 2.7  # typical conversational English speaking rate
TAG_SECONDS = 1.0  # a non-verbal tag like [laughs] lasts about a second
CJK_CHAR_WORDS = 0.6  # one Han / kana / Hangul character ~ 0.6 English words of speech time
# Bark makes at most ~15 s per generation; 35 word-equivalents ~ 13 s at 2.7 words/s.
DEFAULT_MAX_WORDS = 35.0

_SENTENCE_END = set("!?‼⁇⁈⁉！？؟।॥۔")
_ELLIPSIS = ("...", "…", "。。。")
_CJK_END = set("。！？｡")
_CJK_CLAUSE = set("，、；：")
_CLAUSE_END = set(",;:—–") | _CJK_CLAUSE
_CLOSERS = set("\"'”’»)」』】）")
_ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr prof sr jr st mt vs al approx dept fig inc ltd corp vol pp lt capt sgt".split()
)
_INITIALS = re.compile(r"^(?:[^\W\d_]\.)*[^\W\d_]$")  # "J", "U.S", "e.g"
_TAG_RE = re.compile(r"\[[^\[\]]{1,64}\]|♪[^♪]*♪")
_BRACKET_TAG_RE = re.compile(r"\[[^\[\]]{1,64}\]")

# Tiers of cut points, strongest first.
_SENTENCE, _CLAUSE, _WORD, _GRAPHEME, _CODEPOINT = 1, 2, 3, 4, 5
_TIER_WORDS = {_CLAUSE: "at commas", _WORD: "between words", _GRAPHEME: "between characters", _CODEPOINT: "inside a word"}


@dataclass(frozen=True)
class SplitResult:
    """Segments (each fits one generation, in order) and user-facing warnings."""

    segments: list[str]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- normalisation


def _is_bad_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return (cat == "Cc" and not ch.isspace()) or cat == "Cs"


def _strip_controls(text: str, warnings: Optional[list[str]]) -> str:
    if not any(_is_bad_char(c) for c in text):
        return text
    bad = [c for c in text if _is_bad_char(c)]
    if warnings is not None:
        shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad})[:5])
        warnings.append(f"Removed {len(bad)} invisible control character(s) from the text ({shown}).")
    return "".join(c for c in text if not _is_bad_char(c))


def normalize_text(text: str, warnings: Optional[list[str]] = None) -> str:
    """Bark's normalisation: fold whitespace runs to one space and strip (exactly the reference's).

    Control characters that are not whitespace (and lone surrogates) are removed first; if a
    ``warnings`` list is given, a sentence saying so is appended to it.
    """
    if not isinstance(text, str):
        raise ValueError(f"Text must be a string, got {type(text).__name__}.")
    text = _strip_controls(text, warnings)
    return re.sub(r"\s+", " ", text).strip()


def _normalize_with_breaks(text: str, warnings: list[str]) -> tuple[str, set[int]]:
    """Normalised text plus the indices of the spaces that stood for line breaks."""
    text = _strip_controls(text, warnings)
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    out: list[str] = []
    breaks: set[int] = set()
    pos = 0
    for line in lines:
        if not line:
            continue
        if out:
            breaks.add(pos)
            out.append(" ")
            pos += 1
        out.append(line)
        pos += len(line)
    return "".join(out), breaks


# --------------------------------------------------------------------------- estimates


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xAC00 <= o <= 0xD7AF  # Hangul syllables
        or 0x1100 <= o <= 0x11FF
        or 0x20000 <= o <= 0x2FFFF
    )


def _speech_words(text: str) -> float:
    """Speech length in English-word equivalents (tags ~1 s each, CJK by character)."""
    tags = len(_BRACKET_TAG_RE.findall(text))
    rest = _BRACKET_TAG_RE.sub(" ", text)
    words = 0.0
    for token in rest.split():
        cjk = sum(1 for c in token if _is_cjk(c))
        other = any(c.isalnum() and not _is_cjk(c) for c in token)
        words += cjk * CJK_CHAR_WORDS + (1.0 if other else 0.0)
    return words + tags * TAG_SECONDS * WORDS_PER_SECOND


def estimate_seconds(text: str) -> float:
    """A rough speech duration for ``text``: ~2.7 words/s, ~1 s per [tag], at least 0.5 s (0 for no text)."""
    if not isinstance(text, str):
        raise ValueError(f"Text must be a string, got {type(text).__name__}.")
    text = normalize_text(text)
    if not text:
        return 0.0
    return max(0.5, _speech_words(text) / WORDS_PER_SECOND)


# --------------------------------------------------------------------------- splitting


class _Splitter:
    def __init__(self, text: str, breaks: set[int], fits: Callable[[str], bool]) -> None:
        self.t = text
        self.fits = fits
        self.spans = [(m.start(), m.end()) for m in _TAG_RE.finditer(text)]  # sorted, non-overlapping
        self.span_starts = [a for a, _ in self.spans]
        cuts = self._find_cuts(breaks)  # position -> tier, for cuts at spaces and after CJK punctuation
        self.cut_pos = sorted(cuts)
        self.cut_tier = [cuts[p] for p in self.cut_pos]

    def _protected(self, p: int) -> bool:
        """Whether a cut at ``p`` would fall strictly inside a [tag] or ♪ sung passage ♪."""
        i = bisect.bisect_left(self.span_starts, p) - 1
        return i >= 0 and self.spans[i][0] < p < self.spans[i][1]

    def _find_cuts(self, breaks: set[int]) -> dict[int, int]:
        t = self.t
        cuts: dict[int, int] = {}
        sung_edges = {a - 1 for a, b in self.spans if t[a] == "♪"} | {b for a, b in self.spans if t[a] == "♪"}
        for m in re.finditer(" ", t):
            p = m.start()
            # Line breaks and the edges of a ♪ sung passage ♪ are as strong as sentence ends.
            cuts[p] = _SENTENCE if p in breaks or p in sung_edges else self._space_tier(p)
        for p in range(1, len(t)):
            if t[p] == " " or t[p - 1] == " " or t[p] in _CLOSERS or t[p] in _CJK_END or t[p] in _CJK_CLAUSE:
                continue
            q = p - 1
            while q > 0 and t[q] in _CLOSERS:
                q -= 1
            if t[q] in _CJK_END:
                cuts[p] = _SENTENCE
            elif t[q] in _CJK_CLAUSE:
                cuts[p] = _CLAUSE
        return cuts

    def _space_tier(self, p: int) -> int:
        t = self.t
        start = t.rfind(" ", 0, p) + 1
        word = t[start:p].rstrip("".join(_CLOSERS))
        nxt = t[p + 1] if p + 1 < len(t) else ""
        if not word:
            return _WORD
        if word.endswith(_ELLIPSIS):
            return _CLAUSE if nxt.islower() else _SENTENCE
        last = word[-1]
        if last in _SENTENCE_END or last in _CJK_END:
            return _SENTENCE
        if last == ".":
            stem = word[:-1].lstrip("\"'“‘«([¿¡")
            if stem.lower() in _ABBREVIATIONS or (stem != "I" and _INITIALS.match(stem)):
                return _WORD
            return _CLAUSE if nxt.islower() else _SENTENCE
        if last in _CLAUSE_END or word in ("-", "--"):
            return _CLAUSE
        return _WORD

    def _cut_points(self, a: int, b: int, tier: int, allow_protected: bool) -> list[int]:
        t = self.t
        if tier <= _WORD:
            lo, hi = bisect.bisect_right(self.cut_pos, a), bisect.bisect_left(self.cut_pos, b)
            pts = [self.cut_pos[i] for i in range(lo, hi) if self.cut_tier[i] <= tier]
        else:
            pts = []
            for p in range(a + 1, b):
                if t[p] == " " or t[p - 1] == " ":
                    if t[p] == " ":
                        pts.append(p)
                    continue
                if tier == _GRAPHEME and (
                    unicodedata.combining(t[p])
                    or t[p] in "\u200d\ufe0e\ufe0f"
                    or t[p - 1] == "\u200d"
                    or 0x1F3FB <= ord(t[p]) <= 0x1F3FF
                    or unicodedata.category(t[p]) in ("Mn", "Mc", "Me")
                ):
                    continue
                pts.append(p)
        if not allow_protected:
            pts = [p for p in pts if not self._protected(p)]
        return sorted(pts)

    def _pieces(self, a: int, b: int, pts: list[int]) -> list[tuple[int, int]]:
        out = []
        start = a
        for p in pts:
            out.append((start, p))
            start = p + 1 if self.t[p] == " " else p
        out.append((start, b))
        return [(x, y) for x, y in out if x < y]

    def refine(self, a: int, b: int, tier: int, allow_protected: bool, units: list, notes: set) -> None:
        """Append to ``units`` the pieces of [a, b) that each fit, cutting at ``tier`` and weaker."""
        if self.fits(self.t[a:b]):
            units.append((a, b))
            return
        if tier > _CODEPOINT:
            if not allow_protected and any(self._protected(p) for p in range(a + 1, b)):
                notes.add("tag")
                self.refine(a, b, _SENTENCE, True, units, notes)
                return
            notes.add("overflow")
            units.append((a, b))
            return
        pts = self._cut_points(a, b, tier, allow_protected)
        if not pts:
            self.refine(a, b, tier + 1, allow_protected, units, notes)
            return
        if tier > _SENTENCE:
            notes.add(tier)
        for x, y in self._pieces(a, b, pts):
            self.refine(x, y, tier + 1, allow_protected, units, notes)

    def split(self, warnings: list[str]) -> list[str]:
        t = self.t
        sentences = self._pieces(0, len(t), self._cut_points(0, len(t), _SENTENCE, False))
        units: list[tuple[int, int]] = []
        for number, (a, b) in enumerate(sentences, 1):
            notes: set = set()
            self.refine(a, b, _CLAUSE, False, units, notes)
            warnings.extend(self._warn(number, t[a:b], notes))
        # Greedy packing of consecutive units (a segment is always a slice of the text).
        segments: list[str] = []
        cur_a, cur_b = units[0]
        for a, b in units[1:]:
            if self.fits(t[cur_a:b]):
                cur_b = b
            else:
                segments.append(t[cur_a:cur_b])
                cur_a, cur_b = a, b
        segments.append(t[cur_a:cur_b])
        return segments

    @staticmethod
    def _warn(number: int, sentence: str, notes: set) -> list[str]:
        if not notes:
            return []
        shown = sentence if len(sentence) <= 50 else sentence[:47] + "..."
        out = []
        tiers = [k for k in notes if isinstance(k, int)]
        if tiers:
            how = _TIER_WORDS[max(tiers)]
            out.append(f"Sentence {number} (“{shown}”) is too long for one generation; it was split {how}.")
        if "tag" in notes:
            out.append(f"Sentence {number} (“{shown}”) has a [tag] or ♪ sung passage too long for one generation; it was split inside it.")
        if "overflow" in notes:
            out.append(f"Part of sentence {number} (“{shown}”) could not be made to fit the token budget and is longer than one generation.")
        return out


def _check_budget(max_tokens: int, max_words: float) -> None:
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a whole number of at least 1, got {max_tokens!r}.")
    if isinstance(max_words, bool) or not isinstance(max_words, (int, float)) or not math.isfinite(max_words) or max_words <= 0:
        raise ValueError(f"max_words must be a positive number, got {max_words!r}.")


def split_text(
    text: str,
    count_tokens: CountTokens,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_words: float = DEFAULT_MAX_WORDS,
) -> SplitResult:
    """Split ``text`` into segments that each fit one generation.

    A segment fits when ``count_tokens(segment) <= max_tokens`` and its speech length is at
    most ``max_words`` word-equivalents (see ``estimate_seconds``; 35 ~ 13 s, Bark's limit
    is ~15 s). Text that fits comes back as the single segment ``normalize_text(text)``.
    Otherwise it is cut at sentence ends (. ! ? … 。！？, line breaks; abbreviations like
    "Mr." and ellipses before lowercase words are not sentence ends), and sentences are
    packed greedily. [tags] and ♪ sung passages ♪ are never cut unless they alone are too
    long. A sentence too long on its own is cut at commas, then between words, then inside
    a word, with a warning. Joining the segments with spaces (none after CJK punctuation)
    gives back the normalised text.
    """
    _check_budget(max_tokens, max_words)
    warnings: list[str] = []
    normalized = normalize_text(text, warnings)
    if not normalized:
        return SplitResult([], warnings)

    def fits(s: str) -> bool:
        return count_tokens(s) <= max_tokens and _speech_words(s) <= max_words

    if fits(normalized):
        return SplitResult([normalized], warnings)
    t, breaks = _normalize_with_breaks(text, [])
    if t != normalized:  # cannot happen (both fold the same whitespace); keep parity if it ever did
        t, breaks = normalized, set()
    return SplitResult(_Splitter(t, breaks, fits).split(warnings), warnings)


# --------------------------------------------------------------------------- audio


def join_audio(chunks: list[np.ndarray], pause_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Concatenate mono audio chunks as float32 with ``pause_s`` seconds of silence between them."""
    if isinstance(pause_s, bool) or not isinstance(pause_s, (int, float)) or not math.isfinite(pause_s) or pause_s < 0:
        raise ValueError(f"The pause between segments must be a non-negative number of seconds, got {pause_s!r}.")
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive whole number, got {sample_rate!r}.")
    arrays = []
    for i, c in enumerate(chunks):
        a = np.asarray(c)
        if a.ndim != 1 or a.dtype.kind not in "fiu":
            raise ValueError(f"Audio chunk {i + 1} must be a 1-D array of samples, got shape {a.shape} ({a.dtype}).")
        arrays.append(a.astype(np.float32, copy=False))
    if not arrays:
        return np.zeros(0, dtype=np.float32)
    gap = np.zeros(int(round(pause_s * sample_rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, a in enumerate(arrays):
        if i:
            parts.append(gap)
        parts.append(a)
    return np.concatenate(parts).astype(np.float32, copy=False)
