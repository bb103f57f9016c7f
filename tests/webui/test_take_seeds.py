"""Each take's own seed, shown and stored, and "Regenerate this take" (handlers on the tiny model).

On CPU float32 a take's randomness does not depend on the batch it was in, so making take b again
alone (its seed, one take) gives the same audio, byte for byte.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import soundfile as sf

from bark_core import GenerationRequest
from bark_core.types import Take
from webui import tab_generate, tab_history
from webui.engine_holder import EngineHolder
from webui.store import Store
from webui.studio import Studio

OWNER = "seeds-owner-" + "s" * 24
REQUEST = SimpleNamespace(session_hash="seeds" * 3)

pytestmark = pytest.mark.skipif("seed" not in {f.name for f in dataclasses.fields(Take)},
                                reason="the engine does not give takes their own seeds yet")


@pytest.fixture
def studio(exact_engine, tmp_path):
    return Studio(EngineHolder(exact_engine), Store(tmp_path / "data"), request_defaults={"max_seconds": 0.3})


def samples(wav) -> bytes:
    """A WAV's float32 samples as bytes (the file's own bytes differ: libsndfile's PEAK chunk has a timestamp)."""
    return sf.read(wav, dtype="float32")[0].tobytes()


def _generate(studio, text, seed, takes):
    values = {n: None for n in tab_generate.UI_SETTINGS}
    values.update(seed=seed, takes=takes)
    return list(tab_generate.generate(studio, OWNER, text, "", REQUEST, progress=lambda *a, **k: None, **values))[-1]


def test_each_take_has_its_own_seed_and_regenerating_it_alone_gives_the_same_audio(studio):
    last = _generate(studio, "Take two, again.", 5, 3)
    rec = studio.library.history(OWNER)[0]
    assert [t.seed for t in rec.takes] == [5, 6, 7]
    assert "seed 6" in last["take1_info"] and "seed 7" in last["take2_info"]
    shown = tab_history.show_detail(studio, OWNER, rec.id)
    assert "seed 7" in shown["hist2_info"]

    again = list(tab_generate.regenerate_result(studio, OWNER, last["results"], 1, REQUEST,
                                                progress=lambda *a, **k: None))[-1]
    rows = studio.library.history(OWNER)
    assert len(rows) == 2 and rows[0].id != rec.id
    new = rows[0]
    assert len(new.takes) == 1 and new.seed == 6 and new.takes[0].seed == 6 and new.settings["takes"] == 1
    assert samples(new.takes[0].wav) == samples(rec.takes[1].wav)  # exactly the same audio
    assert "Take 2 made again" in again["status"] and "Take 2 again" in again["take0_info"]
    assert again["results"]["shown"] == [[new.id, 0, "Take 2 again"]]

    # from History's card: the same, and Results shows it
    from_history = list(tab_generate.regenerate(studio, OWNER, rec.id, 2, REQUEST,
                                                progress=lambda *a, **k: None))
    newest = studio.library.history(OWNER)[0]
    assert samples(newest.takes[0].wav) == samples(rec.takes[2].wav)
    assert samples(newest.takes[0].wav) != samples(rec.takes[1].wav)  # and the takes do differ
    assert "tabs" in from_history[0]  # History's button shows the new take in Results
    assert "Take 3 again" in from_history[-1]["take0_info"]


def test_regenerating_what_is_gone_or_has_no_own_seed_is_a_sentence(studio):
    with pytest.raises(ValueError, match="no longer in your history"):
        list(tab_generate.regenerate(studio, OWNER, "0" * 32, 0, REQUEST, progress=lambda *a, **k: None))
    # a row stored before takes had their own seeds (several takes, one seed)
    silence = __import__("numpy").zeros(2400, "float32")
    old = studio.library.store.add_generation(  # as save_generation stored it then: no take_seeds
        OWNER, prompt="Old row.", voice="", voice_label="", seed=9, audios=[silence, silence], sample_rate=24_000,
        settings={"text": "Old row.", "voice": "", **GenerationRequest(text="Old row.", seed=9, takes=2).settings()},
        timings={"total": 1.0}, warnings=[])
    assert [t.seed for t in old.takes] == [None, None]
    with pytest.raises(ValueError, match="own seeds"):
        list(tab_generate.regenerate(studio, OWNER, old.id, 1, REQUEST, progress=lambda *a, **k: None))
