"""What reaches the server's log: no prompt (not even through a toast), and a user's mistake is no traceback."""

from __future__ import annotations

import logging

import pytest

import rawhttp

gradio_client = pytest.importorskip("gradio_client")
from conftest import api_client  # noqa: E402
SECRET = "Zebra-secret-4242 says hello"


def test_prompts_never_reach_the_log_and_refusals_are_not_tracebacks(launch, tiny_engine, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    app = launch(tiny_engine, tmp_path)
    owner, session = "log-owner-" + "l" * 30, rawhttp.session()
    reply = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"),
                           [SECRET, None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 1, 1, 0.25, True, 0.2, True, *rawhttp.TAKE_CHECK], owner=owner,
                           session_hash=session)
    assert reply["success"], reply
    # the generation's id is in this session's state on the server; the browser sends nothing for it
    saved = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "save_take_as_voice"),
                           [None, "English", "Any", "v2", ""], owner=owner, session_hash=session)
    assert saved["success"] and "Take 1 saved" in str(saved)
    client = api_client(app.url, verbose=False)
    for bad in (dict(text=""), dict(text="hi", takes=99), dict(text="hi", voice="v2/xx_speaker_1")):
        with pytest.raises(gradio_client.exceptions.AppError):
            client.predict(api_name="/generate", **bad)
    refused = rawhttp.queued(app.url, rawhttp.fn_index(app.demo, "generate"),
                             ["", None, 0.7, 0.7, 0.5, 0, 1.0, 0.2, 1, 1, 0.25, True, 0.2, True, *rawhttp.TAKE_CHECK], owner=owner)
    assert rawhttp.refused(refused)
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert "Zebra" not in logged
    assert "Traceback" not in logged, logged[logged.find("Traceback") - 300:][:3000]


def _error_text(reply: dict) -> str:
    out = reply.get("output") or {}
    return str(out.get("error") if isinstance(out, dict) else out) + " ".join(reply.get("warnings") or [])


def test_inputs_gradio_refuses_are_sentences_and_never_logged(launch, tiny_engine, tmp_path, capfd, caplog):
    """Values that fail Gradio's own checks (a number that is text, a choice not offered, a file never uploaded)
    and values our handlers refuse: each answer is a sentence, and neither the value nor a traceback is logged."""
    caplog.set_level(logging.DEBUG)
    app = launch(tiny_engine, tmp_path)
    c = api_client(app.url, verbose=False)
    c.predict(text="Something to export.", seed=2, api_name="/generate")
    rows, _ = c.predict(api_name="/history")
    gen_id = rows[0]["id"]
    marker = "Zebra-7731"
    api_cases = [
        (dict(gen_id=gen_id, take="nan", api_name="/export"), "take index"),
        (dict(gen_id=gen_id, take=marker, api_name="/export"), "take index"),
        (dict(gen_id=gen_id, take=0.5, api_name="/export"), "whole number"),  # was silently take 0
        (dict(gen_id=gen_id, take=True, api_name="/export"), "take index"),
        (dict(gen_id=marker, api_name="/export"), "no generation with that id"),
        (dict(gen_id=gen_id, format=marker, api_name="/export"), "format"),
        (dict(gen_id=gen_id, fade_ms=marker, api_name="/export"), "fade"),
        (dict(limit=marker, api_name="/history"), "history limit"),
        (dict(text="hi", takes=marker, api_name="/generate"), "take"),
        (dict(text="hi", voice=marker, api_name="/generate"), "voice"),
    ]
    for kwargs, expected in api_cases:
        with pytest.raises(gradio_client.exceptions.AppError) as e:
            c.predict(**kwargs)
        msg = str(e.value)
        assert expected.lower() in msg.lower() and "upstream" not in msg and msg.rstrip().endswith("."), (kwargs, msg)

    owner = "hygiene-owner-" + "h" * 30
    clone = rawhttp.fn_index(app.demo, "api_clone")
    fake = {"path": f"/tmp/{marker}.wav", "meta": {"_type": "gradio.FileData"}, "orig_name": f"{marker}.wav"}
    ui_cases = [
        (clone, [fake, "x"], "file"),  # a file that was never uploaded (Gradio's own path check)
        (clone, [marker, "x"], "file"),  # not a file at all (Gradio's data model)
        (rawhttp.fn_index(app.demo, "open_timeline"), [marker], "choices"),  # a timeline id not offered
        (rawhttp.fn_index(app.demo, "api_export"), [marker, marker, marker, marker, marker, marker], "no generation"),
    ]
    for index, data, expected in ui_cases:
        reply = rawhttp.queued(app.url, index, data, owner=owner)
        text = _error_text(reply)
        assert rawhttp.refused(reply) and expected in text.lower() and "upstream" not in text, (data, reply)
        assert marker not in text, text

    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert marker not in logged, logged[logged.find(marker) - 500:][:1500]
    assert "Traceback" not in logged, logged[logged.find("Traceback") - 300:][:3000]
