"""/generate streams rough previews (gradio_client ``submit()`` sees them) before its final (files, scores),
which is the same with previews on and off (webui.api.preview_output)."""

from __future__ import annotations

import pytest
import soundfile as sf

pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402

LONG = dict(seed=7, max_seconds=3.0, early_stop=False)  # long enough for a preview before the coarse stage ends


def samples(path) -> bytes:
    """A WAV's audio data as bytes (its header's PEAK chunk carries the time it was written)."""
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 24_000
    return audio.tobytes()


def is_preview(output) -> bool:
    return isinstance(output, (tuple, list)) and len(output) == 2 and isinstance(output[1], dict) \
        and "preview" in output[1]


def test_previews_stream_before_the_final_take_which_they_do_not_change(studio):
    client = api_client(studio.url)
    job = client.submit(text="A preview over the API.", live_preview=True, api_name="/generate", **LONG)
    files_on, scores_on = job.result()
    outputs = job.outputs()
    print([type(o) for o in outputs], outputs)
    assert isinstance(scores_on, list) and len(files_on) == 1
    previews = [o for o in outputs[:-1] if is_preview(o)]
    assert previews, outputs
    files, info = previews[0]
    assert len(files) == 1 and info["preview"]["segments"] == 1 and info["preview"]["segment"] == 1
    audio, rate = sf.read(files[0], dtype="float32")
    assert rate == 24_000 and len(audio) > 0 and abs(len(audio) / rate - info["preview"]["seconds"][0]) < 0.01
    assert tuple(outputs[-1]) == (files_on, scores_on)  # the final output comes last

    off = client.submit(text="A preview over the API.", live_preview=False, api_name="/generate", **LONG)
    files_off, scores_off = off.result()
    assert not [o for o in off.outputs() if is_preview(o)]
    assert samples(files_on[0]) == samples(files_off[0])  # the same samples, bit for bit, with previews on and off
    assert [s["seed"] for s in scores_on] == [s["seed"] for s in scores_off]

    same = client.predict(text="A preview over the API.", api_name="/generate", **LONG)  # predict: the final only
    assert isinstance(same[1], list) and samples(same[0][0]) == samples(files_on[0])
