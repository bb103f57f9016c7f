"""Cloning through the studio's API: a recording becomes a voice of the caller's, usable in /generate."""

from __future__ import annotations

import pytest

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402


@pytest.fixture(scope="module")
def speech(espeak_wav):
    return espeak_wav("me.wav", "en-us", "The quick brown fox jumps over the lazy dog. Then it rests in the warm sun.")


def test_clone_gives_a_voice_that_generate_accepts_and_only_its_owner_sees(studio, speech):
    alice, bob = (api_client(studio.url, verbose=False) for _ in range(2))
    made = alice.predict(audio_file=gradio_client.handle_file(str(speech)), name="Alice <b>clone</b>",
                         api_name="/clone")
    assert made["voice"].startswith("user:") and made["name"] == "Alice <b>clone</b>"
    assert 1.0 <= made["window"][1] - made["window"][0] <= 10.5
    files, _ = alice.predict(text="Now in my voice.", voice=made["voice"], seed=1, api_name="/generate")
    assert len(files) == 1
    with pytest.raises(gradio_client.exceptions.AppError, match="no longer exists"):
        bob.predict(text="Stolen voice.", voice=made["voice"], api_name="/generate")


def test_a_file_that_is_not_audio_is_one_sentence(studio, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(gradio_client.exceptions.AppError) as e:
        api_client(studio.url, verbose=False).predict(audio_file=gradio_client.handle_file(str(bad)),
                                                                 api_name="/clone")
    assert "Traceback" not in str(e.value) and len(str(e.value)) < 300 and str(e.value).endswith(".")
