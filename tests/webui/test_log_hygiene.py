"""What reaches the server's log: no prompt (not even through a toast), and a user's mistake is no traceback."""

from __future__ import annotations

import logging

import pytest

import rawhttp

gradio_client = pytest.importorskip("gradio_client")
SECRET = "Zebra-secret-4242 says hello"


def test_prompts_never_reach_the_log_and_refusals_are_not_tracebacks(launch, tiny_engine, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    app = launch(tiny_engine, tmp_path)
    owner, session = "log-owner-" + "l" * 30, rawhttp.session()
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"),
                           [SECRET, None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 1, 1, 0.25, True, 0.2, True], owner=owner,
                           session_hash=session)
    assert reply["success"], reply
    # the generation's id is in this session's state on the server; the browser sends nothing for it
    saved = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "save_take_as_voice"),
                           [None, "English", "Any", "v2", ""], owner=owner, session_hash=session)
    assert saved["success"] and "Take 1 saved" in str(saved)
    client = gradio_client.Client(app.url, verbose=False)
    for bad in (dict(text=""), dict(text="hi", takes=99), dict(text="hi", voice="v2/xx_speaker_1")):
        with pytest.raises(gradio_client.exceptions.AppError):
            client.predict(api_name="/generate", **bad)
    refused = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"),
                             ["", None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 1, 1, 0.25, True, 0.2, True], owner=owner)
    assert rawhttp.refused(refused)
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert "Zebra" not in logged
    assert "Traceback" not in logged, logged[logged.find("Traceback") - 300:][:3000]
