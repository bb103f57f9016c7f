"""The tag inserter: the spacing rule (webui/tags.py) fuzzed with hypothesis, and the browser's
palette.js checked against it on generated cases."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webui.tags import ATTACHED, CLOSING_PUNCTUATION, JS_WHITESPACE, insert_at
from webui.tags import TAGS

TAG_NAMES = [t for t, _ in TAGS]
# Text drawn to hit the rule's edges: words, punctuation, every kind of space, astral characters.
ALPHABET = st.sampled_from(list("ab .,!?;:") + ["\n", "\t", "\u00a0", "\u3000", "\u2028", "\x1c", "é", "你", "🐶",
                                                "[", "]", "—", "♪"])
TEXT = st.lists(ALPHABET, max_size=24).map("".join)


@st.composite
def cases(draw):
    text = draw(TEXT)
    a = draw(st.integers(0, len(text)))
    b = draw(st.integers(a, len(text)))
    return text, a, b, draw(st.sampled_from(TAG_NAMES))


@given(cases())
@settings(max_examples=400, deadline=None)
def test_insert_keeps_the_text_and_spaces_words_apart(case):
    text, a, b, tag = case
    out, caret = insert_at(text, a, b, tag)
    before, after = text[:a], text[b:]
    assert out.startswith(before) and out.endswith(after)
    middle = out[len(before): len(out) - len(after)]
    space_before = bool(before and before[-1] not in JS_WHITESPACE
                        and (tag not in ATTACHED or before[-1] in CLOSING_PUNCTUATION))
    space_after = bool(after and after[0] not in JS_WHITESPACE
                       and (after[0] not in CLOSING_PUNCTUATION or (tag.endswith(".") and after[0] == ".")))
    assert middle == " " * space_before + tag + " " * space_after  # only the tag and the spaces it needs
    assert caret == len(before) + len(middle)  # the caret lands after the tag (and its space)
    assert "...." not in out or "...." in text  # an ellipsis never runs into a full stop


@given(TEXT, st.sampled_from(TAG_NAMES))
@settings(max_examples=200, deadline=None)
def test_insert_at_the_end_then_typing_on_reads_naturally(text, tag):
    out, caret = insert_at(text, len(text), len(text), tag)
    assert caret == len(out) and out.endswith(tag)
    again, caret2 = insert_at(out, caret, caret, tag)  # two tags in a row never glue together
    assert tag + tag not in again[len(text):] or tag in ATTACHED


def test_examples():
    assert insert_at("Hello world", 5, 5, "[laughs]") == ("Hello [laughs] world", 14)
    assert insert_at("Helloworld", 5, 5, "[laughs]") == ("Hello [laughs] world", 15)
    assert insert_at("Hello", 5, 5, "...") == ("Hello...", 8)
    assert insert_at("Bark.", 5, 5, "...") == ("Bark. ...", 9)  # not "Bark...."
    assert insert_at("Hello.", 5, 5, "...") == ("Hello... .", 9)
    assert insert_at("Wait!", 5, 5, "—") == ("Wait! —", 7)
    assert insert_at("Hello.", 5, 5, "[sighs]") == ("Hello [sighs].", 13)
    assert insert_at("Hi there", 3, 8, "[music]") == ("Hi [music]", 10)
    assert insert_at("", 0, 0, "♪") == ("♪", 1)
    assert insert_at("abc", 10, -5, "[MAN]") == ("abc [MAN]", 9)  # out-of-range positions are clamped


def _utf16(s: str, i: int) -> int:
    return len(s[:i].encode("utf-16-le")) // 2


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def _compare_in_browser(page, case):
    text, a, b, tag = case
    got = page.evaluate(
        """([text, a, b, tag]) => {
            const box = document.querySelector('#prompt textarea');
            box.value = text;
            box.focus();
            box.setSelectionRange(a, b);
            window.barkInsertTag(tag);
            return [box.value, box.selectionStart];
        }""", [text, _utf16(text, a), _utf16(text, b), tag])
    want, caret = insert_at(text, a, b, tag)
    assert got == [want, _utf16(want, caret)], (text, a, b, tag)


def test_palette_js_follows_the_same_rule(browser, studio):
    page = browser.new_page()
    try:
        page.goto(studio.url)
        page.wait_for_selector("#prompt textarea", timeout=30_000)
        page.wait_for_function("() => typeof window.barkInsertTag === 'function'", timeout=10_000)
        _compare_in_browser(page)
        # And the button itself, as a user clicks it.
        box = page.locator("#prompt textarea")
        box.fill("Well I guess")
        page.evaluate("() => document.querySelector('#prompt textarea').setSelectionRange(4, 4)")
        page.locator("[data-bark-tag='[sighs]']").click()
        assert box.input_value() == insert_at("Well I guess", 4, 4, "[sighs]")[0]
    finally:
        page.close()
