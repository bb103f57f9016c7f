"""A check that cannot run says so, and why (issue 22 #2): the take badge and /generate's scores."""

from __future__ import annotations


import pytest

from bark_core.takecheck import speaker
from webui import formatting
from webui.checks import SAME_VOICE_MISSING

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402
OWNER = "not-checked-owner-" + "n" * 24


@pytest.fixture
def no_resemblyzer(monkeypatch):
    """The speaker encoder's weights are not installed (as without resemblyzer)."""
    def missing():
        raise speaker.EncoderUnavailable("The same-speaker check needs the speaker encoder weights from resemblyzer: "
                                         "pip install --no-deps resemblyzer==0.1.4.")
    monkeypatch.setattr(speaker, "resemblyzer_weights", missing)


def _generate(studio, text, voice):
    req = studio.requests.make(text, studio.voices.resolve(OWNER, voice), {"takes": 1, "seed": 3})
    gen = studio.runner.engine().generate(req)
    return req, gen


def test_same_voice_not_checked_is_in_the_scores_and_the_badge(handler_studio, no_resemblyzer):
    req, gen = _generate(handler_studio, "Hello there, how are you?", "preset:v2/en_speaker_6")
    [score] = handler_studio.checks.score_takes(req, "preset:v2/en_speaker_6", gen)
    assert score["speaker_similarity"] is None
    assert score["not_checked"]["same_voice"] == SAME_VOICE_MISSING
    assert any("resemblyzer" in i for i in score["issues"])
    badge = formatting.score_badge(score)
    assert "same voice: not checked (the speaker encoder (resemblyzer) is not installed)" in badge
    # without a voice there is nothing to compare with: nothing to say about the same voice
    req2, gen2 = _generate(handler_studio, "Hello there.", "")
    [score2] = handler_studio.checks.score_takes(req2, "", gen2)
    assert "same_voice" not in (score2.get("not_checked") or {})
    assert "same voice" not in formatting.score_badge(score2)


def test_on_script_not_checked_in_another_language_says_why(handler_studio):
    req, gen = _generate(handler_studio, "Guten Tag, wie geht es dir heute?", "preset:v2/de_speaker_1")
    [score] = handler_studio.checks.score_takes(req, "preset:v2/de_speaker_1", gen)
    assert score["on_script"] is None
    assert score["not_checked"]["on_script"] == "only English can be checked, and this prompt is de"
    assert "on script: not checked (only English can be checked, and this prompt is de)" in \
        formatting.score_badge(score)


def test_api_generate_says_same_voice_not_checked(tiny_engine, launch, tmp_path, no_resemblyzer):
    app = launch(tiny_engine, tmp_path)
    client = api_client(app.url, verbose=False)
    _, scores = client.predict(text="Hello there", voice="v2/en_speaker_6", seed=1, api_name="/generate")
    assert scores[0]["speaker_similarity"] is None
    assert scores[0]["not_checked"]["same_voice"] == SAME_VOICE_MISSING
    _, scores = client.predict(text="Hello there", seed=1, api_name="/generate")  # no voice: nothing to check
    assert scores[0]["not_checked"] == {}
