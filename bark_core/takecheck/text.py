"""The words a take is checked against: the prompt without tags, ♪ and punctuation."""

from __future__ import annotations

import re

from ..longform import normalize_text

_TAG_RE = re.compile(r"\[[^\[\]]{0,64}\]")  # Bark's non-verbal tags: [laughs], [sighs], [music] ...
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, inner apostrophes kept (don't, o'clock)

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
    "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> list[str]:
    """English words for 0 <= n < 1_000_000 ("1990" -> nineteen ninety is not attempted: one thousand ...)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])


def prompt_words(text: str, language: str = "en") -> list[str]:
    """The spoken words of a prompt, lower case: tags like ``[laughs]``, ``♪`` and punctuation removed.

    For English, whole numbers below a million are spelled out (``42`` -> ``forty two``), since that is
    how they are spoken; other digits stay as they are (the aligner then cannot check them).
    """
    text = normalize_text(text).replace("’", "'").replace("♪", " ")
    text = _TAG_RE.sub(" ", text).lower()
    words: list[str] = []
    for w in _WORD_RE.findall(text):
        if language == "en" and w.isascii() and w.isdigit() and len(w) <= 6:
            words.extend(number_words(int(w)))
        else:
            words.append(w)
    return words
