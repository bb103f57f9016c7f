"""The studio plays a rough preview of each take while its coarse stage runs, then the final take
(bark_core's on_preview, webui.runner's Preview events, tab_generate.preview_update)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import soundfile as sf

from webui import tab_generate

OWNER = "preview-owner-" + "p" * 30


def _run(studio, **values):
    request = SimpleNamespace(session_hash="p" * 11, cookies={}, headers={}, client=None)
    settings = {n: None for n in tab_generate.UI_SETTINGS}
    settings.update(values)
    return list(tab_generate.generate(studio, OWNER, "A preview, please.", "", request,
                                      progress=lambda *a, **k: None, **settings))


def test_a_preview_plays_before_the_final_take_which_it_does_not_change(handler_studio):
    on = _run(handler_studio, seed=7, max_seconds=3.0, early_stop=False, live_preview=True)
    previews = [u for u in on if str(u.get("status", "")).startswith("Preview")]
    assert previews, [u.get("status") for u in on]
    rate, audio = previews[0]["take0_audio"]
    assert rate == 24_000 and len(audio) > 0 and "preview (rough)" in previews[0]["take0_info"]
    assert "Done" in on[-1]["status"]
    final_on, _ = sf.read(on[-1]["take0_audio"], dtype="float32")

    off = _run(handler_studio, seed=7, max_seconds=3.0, early_stop=False, live_preview=False)
    assert not [u for u in off if str(u.get("status", "")).startswith("Preview")]
    final_off, _ = sf.read(off[-1]["take0_audio"], dtype="float32")
    assert np.array_equal(final_on, final_off)  # the preview never changes the take
