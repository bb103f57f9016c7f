"""On-script check: forced alignment of a take to its prompt's words with PocketSphinx.

PocketSphinx 5 (BSD-2-Clause) ships its US-English acoustic model, pronouncing dictionary and
phone language model inside its wheel, so nothing is downloaded. For each take:

1. ``Decoder.set_align_text`` aligns the whole word sequence to the audio. It fails (no path
   reaches the end of the text) when the audio does not say the text.
2. When it fails, the longest prefix of the text that does align is searched for (a few tries,
   halving), so a take that stopped early or wandered off half-way still gets a graded score.
3. A second pass (``set_alignment``) gives each aligned word its acoustic score. PocketSphinx
   normalises every frame's scores to that frame's best-scoring senone, so a word's score per frame
   is a goodness of pronunciation (GOP): how much worse the expected sounds fit than the best-fitting
   sounds of the model, frame by frame (a free phone loop over the same frames scored within 0.05
   per frame of that best, so it adds nothing and is not run). A word whose GOP is below
   ``GOP_FLOOR`` counts as not found: it was squeezed into audio that says something else.

Words the dictionary does not know are aligned as generic speech (PocketSphinx's ``+SPN+``) and
reported as unchecked; they count neither for nor against the score.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
FRAME_RATE = 100  # PocketSphinx frames per second
# GOP per frame, in PocketSphinx's log units. Measured on espeak-ng's en-us, en-us+f3 and en-gb+m3
# voices: right words score -6 to -115 (median per take -22 to -45; 85-100 % of them above -60);
# a wrong text mostly fails to align at all, and where it is squeezed in anyway its words' median
# is -49 to -70. With this floor right takes scored 0.85-1.0 and wrong texts 0.09-0.64.
GOP_FLOOR = -60.0
_PAD_S = 0.25  # silence added at both ends: PocketSphinx aligns badly when speech starts at sample 0
_PREFIX_TRIES = 3
_UNKNOWN = "zzunknownwordzz"  # dictionary entry for words without a pronunciation: generic speech


class AlignerUnavailable(RuntimeError):
    """PocketSphinx or its English model is not installed."""


@dataclass(frozen=True)
class WordFit:
    """One prompt word as the aligner placed it (seconds from the start of the take)."""

    word: str
    start_s: float
    end_s: float
    gop: Optional[float]  # None for words the dictionary does not know
    found: bool


@dataclass(frozen=True)
class OnScript:
    """The on-script result for one take."""

    score: Optional[float]  # fraction of checkable words found; None when no word could be checked
    words: list[str]
    missing: list[str]
    unknown: list[str]
    aligned_words: int  # words of the prompt (in order) that the alignment covered
    full_alignment: bool  # the whole text aligned in one go
    fits: list[WordFit] = field(default_factory=list)


def _base(name: str) -> str:
    return re.sub(r"\(\d+\)$", "", name)


class SphinxAligner:
    """One PocketSphinx decoder, built once and reused take after take (one take at a time)."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise AlignerUnavailable(
                "The on-script check needs PocketSphinx: pip install pocketsphinx==5.1.1."
            ) from e
        self._decoder = Decoder(
            lm=None, loglevel="FATAL", samprate=SAMPLE_RATE, cmn="batch", bestpath=False,
            beam=1e-100, pbeam=1e-100, wbeam=1e-80,
        )
        self._decoder.add_word(_UNKNOWN, "+SPN+", update=True)

    def known(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def _run(self, pcm: bytes) -> None:
        d = self._decoder
        d.reinit_feat()  # the noise filter adapts across utterances: start each one from the same state
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()

    def _align(self, pcm: bytes, tokens: list[str]) -> Optional[list]:
        """Word alignments (name, start frame, frames, score) of ``tokens``, or None if they do not fit."""
        d = self._decoder
        try:
            d.set_align_text(" ".join(tokens))
            self._run(pcm)
            if d.hyp() is None:
                return None
            d.set_alignment()
            self._run(pcm)
            out = [(_base(w.name), w.start, w.duration, w.score) for w in d.get_alignment()]
        except RuntimeError:
            return None
        return [w for w in out if not w[0].startswith(("<", "[", "+"))]

    def check(self, audio16k: np.ndarray, words: list[str]) -> OnScript:
        """Align ``words`` to 16 kHz mono float audio and score each word."""
        unknown = [w for w in words if not self.known(w)]
        tokens = [w if self.known(w) else _UNKNOWN for w in words]
        checkable = len(words) - len(unknown)
        if checkable == 0:
            return OnScript(None, words, [], unknown, 0, False)
        pad = np.zeros(int(_PAD_S * SAMPLE_RATE), dtype=np.float32)
        x = np.concatenate([pad, np.asarray(audio16k, dtype=np.float32), pad])
        pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()

        aligned = self._align(pcm, tokens)
        n_aligned = len(tokens) if aligned is not None else 0
        full = aligned is not None
        if aligned is None:  # longest aligning prefix, by halving
            lo, hi = 0, len(tokens)  # lo aligns (trivially), hi does not
            for _ in range(_PREFIX_TRIES):
                if hi - lo <= 1:
                    break
                mid = (lo + hi) // 2
                got = self._align(pcm, tokens[:mid])
                if got is not None:
                    lo, aligned = mid, got
                else:
                    hi = mid
            n_aligned = lo

        fits: list[WordFit] = []
        found = [False] * len(words)
        spans = aligned or []
        if len(spans) != n_aligned:  # the aligner dropped or merged a word: trust only the count it kept
            logger.debug("alignment returned %d words for %d tokens", len(spans), n_aligned)
        for i, (name, start, dur, score) in enumerate(spans[:n_aligned]):
            word = words[i]
            start_s = max(0.0, start / FRAME_RATE - _PAD_S)
            end_s = max(start_s, (start + dur) / FRAME_RATE - _PAD_S)
            if tokens[i] == _UNKNOWN:
                fits.append(WordFit(word, start_s, end_s, None, False))
                continue
            gop = score / max(dur, 1)
            ok = dur > 0 and gop >= GOP_FLOOR
            found[i] = ok
            fits.append(WordFit(word, round(start_s, 2), round(end_s, 2), round(gop, 1), ok))
        missing = [w for i, w in enumerate(words) if tokens[i] != _UNKNOWN and not found[i]]
        score = sum(found) / checkable
        return OnScript(score, words, missing, unknown, n_aligned, full, fits)
