"""Where a palette tag goes and which spaces come with it: the rule ``palette.js`` follows in the browser.

``insert_at(text, start, end, tag)`` replaces ``text[start:end]`` (the selection; start == end is
a caret) with ``tag`` and returns the new text and the caret after the insertion. Spacing keeps
words apart without doubling spaces:

- a space goes before the tag when the text before it is non-empty and does not end in
  whitespace, except for the pause marks ``...`` and ``—`` straight after a word, which attach
  to it ("Hello..."); after one of ``.,!?;:`` they get the space too ("Bark. ...", never "Bark....");
- a space goes after the tag when the text after it is non-empty and starts with neither
  whitespace nor one of ``.,!?;:``, or when a tag ending in ``.`` meets a ``.`` (never four dots).

Indices are code points here; the browser counts UTF-16 units, and tests convert between them.
Whitespace is JavaScript's ``\\s`` (not Python's ``str.isspace``, which differs on a few characters).
"""

from __future__ import annotations

ATTACHED = ("...", "—")  # pause marks written straight after a word
CLOSING_PUNCTUATION = ".,!?;:"
# JavaScript's \s: WhiteSpace and LineTerminator of ECMAScript.
JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def insert_at(text: str, start: int, end: int, tag: str) -> tuple[str, int]:
    """``text`` with ``tag`` in place of ``text[start:end]``, spaced; and the caret just after it."""
    n = len(text)
    start = min(max(0, int(start)), n)
    end = min(max(start, int(end)), n)
    before, after = text[:start], text[end:]
    piece = tag
    if before and before[-1] not in JS_WHITESPACE and (tag not in ATTACHED or before[-1] in CLOSING_PUNCTUATION):
        piece = " " + piece
    if after and after[0] not in JS_WHITESPACE and (
            after[0] not in CLOSING_PUNCTUATION or (tag.endswith(".") and after[0] == ".")):
        piece = piece + " "
    return before + piece + after, len(before) + len(piece)


# (tag, tooltip) for the palette; inserted at the caret by webui/palette.js.
TAGS: list[tuple[str, str]] = [
    ("[laughter]", "Laughter, as from an audience or a group"),
    ("[laughs]", "The speaker laughs"),
    ("[sighs]", "The speaker sighs"),
    ("[music]", "Background music"),
    ("[gasps]", "The speaker gasps"),
    ("[clears throat]", "The speaker clears their throat"),
    ("—", "Em dash: a hesitation or a break in the sentence"),
    ("...", "Ellipsis: a pause or trailing off"),
    ("♪", "Wrap lyrics in ♪ to make Bark sing them"),
    ("[MAN]", "Bias the speaker towards a male voice"),
    ("[WOMAN]", "Bias the speaker towards a female voice"),
]
