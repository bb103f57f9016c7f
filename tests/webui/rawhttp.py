"""Speak Gradio's HTTP protocol directly, the way the browser does: for the tests that must send
what gradio_client cannot (NaN, a UI event's fn_index, a guessed id, an oversized upload)."""

from __future__ import annotations

import html
import json
import time
import uuid
from typing import Any, Optional

import httpx

from bark_core.takecheck import Thresholds

# The studio's Generate event (``fn_index(demo, "generate")``) takes, after the prompt, the voice and the settings,
# its take check (the page's group "take_check") as the page first shows it: best first off, the default minimums,
# no retakes and no time budget.
TAKE_CHECK = [False, Thresholds().min_on_script, Thresholds().min_speaker_similarity, 0, 0]


def fn_index(demo, name: str) -> int:
    """The fn_index of the UI event whose Python function is called ``name``."""
    hits = [i for i, fn in demo.fns.items() if getattr(fn, "name", None) == name]
    if len({getattr(demo.fns[i].fn, "__module__", "") for i in hits}) != 1 or not hits:  # several triggers: fine
        raise LookupError(f"{len(hits)} events run a function named {name!r}")
    return hits[0]


def session() -> str:
    return uuid.uuid4().hex[:11]


def predict(url: str, index: int, data: list[Any], session_hash: Optional[str] = None, timeout: float = 30,
            owner: Optional[str] = None) -> dict:
    """A non-queued event (queue=False), as the browser calls it: returns the JSON reply and status."""
    body = json.dumps({"data": data, "fn_index": index, "session_hash": session_hash or session(),
                       "event_data": None, "trigger_id": None}, allow_nan=True)
    r = httpx.post(f"{url.rstrip('/')}/gradio_api/run/predict", content=body,
                   headers={"content-type": "application/json"}, timeout=timeout, cookies=_cookies(owner))
    return {"status": r.status_code, **(r.json() if r.headers.get("content-type", "").startswith("application/json") else {"text": r.text})}


def _cookies(owner: Optional[str]) -> dict[str, str]:
    """The owner cookie a browser would send (32-128 characters of [A-Za-z0-9_-])."""
    return {"bark_owner": owner} if owner else {}


def queued(url: str, index: int, data: list[Any], session_hash: Optional[str] = None, timeout: float = 60,
           on_message=None, owner: Optional[str] = None) -> dict:
    """A queued event: join, then read the event stream until the job completes.

    Returns the ``process_completed`` message (``success``, ``output``), or a dict with ``status``
    when the join itself is refused (e.g. 503 queue full). ``on_message(msg)`` sees every message.
    ``owner`` is sent as the caller's owner cookie.
    """
    sh = session_hash or session()
    base = url.rstrip("/")
    body = json.dumps({"data": data, "fn_index": index, "session_hash": sh, "event_data": None,
                       "trigger_id": None}, allow_nan=True)
    warnings: list[str] = []  # toasts: how UI events refuse bad input
    with httpx.Client(timeout=timeout, cookies=_cookies(owner)) as c:
        r = c.post(f"{base}/gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        if r.status_code != 200:
            return {"status": r.status_code, "detail": r.text}
        deadline = time.monotonic() + timeout
        with c.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": sh}) as stream:
            for line in stream.iter_lines():
                if time.monotonic() > deadline:
                    raise TimeoutError("no result in time")
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if on_message is not None:
                    on_message(msg)
                if msg.get("msg") == "log" and msg.get("level") == "warning":
                    warnings.append(str(msg.get("log", "")))
                if msg.get("msg") == "process_completed":
                    return {**msg, "warnings": warnings}
                if msg.get("msg") == "close_stream":
                    break
    raise RuntimeError("the event stream ended without a result")


def refused(reply: dict) -> bool:
    """Whether an event refused its input: a failed event, or (UI events) a warning toast."""
    return reply.get("success") is False or bool(reply.get("warnings"))


def error_text(reply: dict) -> str:
    """The message the browser would show for a refused or failed event ('' when it succeeded).

    UI events refuse bad input with a warning toast and leave every component as it was.
    """
    if reply.get("warnings"):
        return html.unescape(" ".join(reply["warnings"]))
    out = reply.get("output") or {}
    if reply.get("success") is True or ("data" in out and "error" not in out) or ("data" in reply and "error" not in reply):
        return ""
    return str(out.get("error") or reply.get("error") or reply.get("detail") or reply.get("text") or "")
