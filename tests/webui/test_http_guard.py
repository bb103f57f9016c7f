"""webui.http_guard against the real studio on a tiny model, over raw HTTP and gradio_client.

One queue (direct routes refused), whole requests capped (declared, chunked, multipart, JSON),
the owner cookie (HttpOnly, random, per client, never served), login on every route with --auth,
and a forgotten served copy answering 404.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import gradio as gr
import httpx
import psutil
import pytest

import webui
from conftest import SHORT, api_client, free_port

gradio_client = pytest.importorskip("gradio_client")

MB = 1024 * 1024
UPLOAD_CAP = 9 * MB
JSON_CAP = 1 * MB
AUTH = ("alice", "s3cret-pass")


class Guarded:
    """The studio launched with the guard, as app.py would: ``launch_options`` plus ``guard_launch_kwargs``."""

    def __init__(self, engine, data_dir: Path, *, auth: Optional[tuple[str, str]] = None):
        from webui.http_guard import guard_launch_kwargs

        self.data_dir = Path(data_dir)
        self.demo = webui.build_demo(engine, data_dir=self.data_dir, settings=engine.settings, request_defaults=SHORT)
        opts = webui.launch_options(self.data_dir)
        opts.update(guard_launch_kwargs(max_request_bytes=UPLOAD_CAP, max_json_bytes=JSON_CAP,
                                        auth_required=auth is not None))
        if auth:
            opts["auth"] = auth
        self.port = free_port()
        _, self.url, _ = webui.launch(self.demo, server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True,
                                          quiet=True, **opts)
        self.url = self.url.rstrip("/")

    def close(self) -> None:
        self.demo.close()


@pytest.fixture(scope="module")
def temp_dir(tmp_path_factory):
    """Gradio's upload and cache folder for this module alone (read when the studio is built)."""
    path = tmp_path_factory.mktemp("gradio-tmp")
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old


@pytest.fixture(scope="module")
def guarded(tiny_engine, tmp_path_factory, temp_dir):
    g = Guarded(tiny_engine, tmp_path_factory.mktemp("guarded-data"))
    yield g
    g.close()


@pytest.fixture(scope="module")
def guarded_auth(tiny_engine, tmp_path_factory, temp_dir):
    g = Guarded(tiny_engine, tmp_path_factory.mktemp("guarded-auth-data"), auth=AUTH)
    yield g
    g.close()


def _client(url, **kw):
    return api_client(url, verbose=False, **kw)


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _raw_exchange(url: str, head: str, chunks=(), wait: float = 5.0) -> tuple[int, int]:
    """Send a request head, then body chunks until the server answers; returns (status, body bytes sent).

    A server that refuses early answers before the body is sent (or while it is being sent).
    """
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=wait) as s:
        s.sendall(head.encode("latin-1"))
        sent = 0
        s.setblocking(False)
        reply = b""
        deadline = time.monotonic() + 30
        it = iter(chunks)
        pending = b""
        while time.monotonic() < deadline:
            try:
                got = s.recv(65536)
                if not got:
                    break
                reply += got
                if b"\r\n\r\n" in reply:
                    break
                continue
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                break
            if not pending:
                pending = next(it, b"")
                if not pending:
                    time.sleep(0.01)
                    continue
            try:
                n = s.send(pending)
                sent += n
                pending = pending[n:]
            except BlockingIOError:
                time.sleep(0.005)
            except (ConnectionResetError, BrokenPipeError):
                time.sleep(0.05)
        s.setblocking(True)
        if b"\r\n\r\n" not in reply:
            try:
                reply += s.recv(65536)
            except OSError:
                pass
    line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    assert line.startswith("HTTP/1.1 "), reply[:200]
    return int(line.split()[1]), sent


def _chunked(total: int, piece: bytes):
    """``total`` bytes of ``piece`` in HTTP chunked framing (one reused buffer: the sender holds no copy)."""
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    for _ in range(total // len(piece)):
        yield frame
    yield b"0\r\n\r\n"


# ---- one queue ---------------------------------------------------------------------------


def _fn_by_api_name(demo, name: str) -> int:
    (index,) = [i for i, fn in demo.fns.items() if fn.api_name == name]
    return index


def test_direct_routes_are_closed_for_queued_events(guarded):
    queued_fns = [i for i, fn in guarded.demo.fns.items() if fn.queue]
    assert _fn_by_api_name(guarded.demo, "generate") in queued_fns
    data = ["x", "", 0.7, 0.7, 0.5, 1, 1]
    attempts = [("/gradio_api/run/generate", {"data": data}),
                ("/gradio_api/run/generate/", {"data": data}),
                ("/gradio_api/api/generate", {"data": data}),
                ("/gradio_api/run/anything", {"data": []}),
                ("/gradio_api/run/predict", {"data": [], "fn_index": "1"}),
                ("/gradio_api/run/predict", b"not json")]
    # Every queued event (generate, preview, reload, download...), by its index, with or without a session.
    attempts += [("/gradio_api/run/predict", {"data": data, "fn_index": i, **({"session_hash": "abcdefghijk"} if i % 2 else {})})
                 for i in queued_fns]
    for path, body in attempts:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = httpx.post(guarded.url + path, content=content, headers={"content-type": "application/json"}, timeout=10)
        assert r.status_code == 404, (path, body, r.status_code, r.text[:200])
    # Routes the studio never uses are closed too.
    for path in ["/gradio_api/run-history/records", "/gradio_api/runs", "/monitoring",
                 "/gradio_api/file=http://127.0.0.1:9/x.wav", "/gradio_api/file=HTTPS://127.0.0.1:9/x.wav",
                 "/gradio_api/file=//127.0.0.1:9/x.wav"]:
        assert httpx.get(guarded.url + path, timeout=10).status_code == 404, path
    assert not list(guarded.data_dir.rglob("*.wav")), "a refused call generated audio"


def test_light_ui_events_still_run_directly_and_the_queue_still_works(guarded):
    # queue=False UI events, the way the browser sends them: let through (Gradio answers, 200 or its own 500).
    unqueued = [i for i, fn in guarded.demo.fns.items() if fn.queue is False]
    assert unqueued
    for i in unqueued:
        fn = guarded.demo.fns[i]
        r = httpx.post(guarded.url + "/gradio_api/run/predict",
                       json={"data": [None] * len(fn.inputs), "fn_index": i, "session_hash": "guardtest01",
                             "event_data": None, "trigger_id": None}, timeout=20)
        assert r.status_code in (200, 500), (fn.name, r.status_code, r.text[:200])
    # Queued events through gradio_client (queue/join + queue/data): unaffected.
    c = _client(guarded.url)
    files, _ = c.predict(text="Through the queue", seed=3, api_name="/generate")
    assert len(files) == 1 and Path(files[0]).stat().st_size > 44
    rows, _ = c.predict(api_name="/history")
    assert isinstance(rows, list)


# ---- whole requests capped -------------------------------------------------------------------


def _multipart_head(url: str, length: Optional[int], boundary: str) -> str:
    u = urlsplit(url)
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (f"POST /gradio_api/upload HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n")


def _multipart_parts(boundary: str, files: int, size: int):
    block = os.urandom(256 * 1024)
    for i in range(files):
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"v{i}.npz\"\r\n"
               f"Content-Type: application/octet-stream\r\n\r\n").encode()
        for _ in range(size // len(block)):
            yield block
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def test_a_42mb_multipart_upload_is_refused_before_it_is_read(guarded, temp_dir):
    boundary = "guardboundary42"
    parts = list(_multipart_parts(boundary, 6, 7 * MB))
    length = sum(len(p) for p in parts)
    assert length > 42 * MB
    before_files, before_rss = _files(temp_dir), _rss()
    status, sent = _raw_exchange(guarded.url, _multipart_head(guarded.url, length, boundary), iter(parts))
    assert status == 413
    assert sent < 16 * MB  # refused on the declared length, not after reading the body
    # The same upload without a Content-Length (chunked): read only up to the cap, then refused.
    frames = (f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts)
    status, sent = _raw_exchange(guarded.url, _multipart_head(guarded.url, None, boundary),
                                 itertools.chain(frames, [b"0\r\n\r\n"]))  # never all in memory here
    assert status == 413
    time.sleep(0.3)
    assert _files(temp_dir) == before_files, "a refused upload left files in Gradio's temp folder"
    assert _rss() - before_rss < 30 * MB


def test_an_upload_under_the_cap_is_accepted(guarded, temp_dir, tmp_path):
    f = tmp_path / "small.npz"
    f.write_bytes(os.urandom(200_000))
    r = httpx.post(guarded.url + "/gradio_api/upload", files=[("files", ("small.npz", f.open("rb")))], timeout=20)
    assert r.status_code == 200, r.text[:200]
    (path,) = r.json()
    assert Path(path).read_bytes() == f.read_bytes() and Path(path).is_relative_to(temp_dir)


def test_a_200mb_json_body_is_refused_and_never_parsed(guarded):
    u = urlsplit(guarded.url)
    before = _rss()
    for route in ("/gradio_api/run/predict", "/gradio_api/queue/join", "/gradio_api/call/generate"):
        head = (f"POST {route} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {200 * MB}\r\n\r\n")
        status, sent = _raw_exchange(guarded.url, head, iter([b'{"data": ["' + b"x" * MB] * 200))
        assert status == 413 and sent < 16 * MB, (route, status, sent)
    # Chunked, no length declared: the server reads at most the cap, then refuses.
    head = (f"POST /gradio_api/run/predict HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, sent = _raw_exchange(guarded.url, head, _chunked(200 * MB, b"x" * (256 * 1024)))
    assert status == 413 and sent < 100 * MB
    grew = _rss() - before
    assert grew < 30 * MB, f"server memory grew by {grew / MB:.0f} MB for a refused 200 MB body"


def whoami(x, request: gr.Request):
    from webui.http_guard import owner_from_request

    return owner_from_request(request) or "none"


# ---- owner cookie -----------------------------------------------------------------------------


def _owner_cookie(r: httpx.Response) -> Optional[str]:
    for v in r.headers.get_list("set-cookie"):
        if v.startswith("bark_owner="):
            return v
    return None


def test_owner_cookie_is_httponly_random_and_never_served(guarded):
    from webui.http_guard import OWNER_COOKIE

    a = httpx.get(guarded.url + "/", timeout=10)
    b = httpx.get(guarded.url + "/", timeout=10)
    ca, cb = _owner_cookie(a), _owner_cookie(b)
    assert ca and cb
    attrs = {p.strip().split("=")[0].lower() for p in ca.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attrs and "samesite=strict" in ca.lower()
    ta, tb = a.cookies[OWNER_COOKIE], b.cookies[OWNER_COOKIE]
    assert ta != tb and len(ta) == 43
    # A browser that has one keeps it: no new cookie, and nothing the page serves contains it.
    with httpx.Client(base_url=guarded.url, cookies={OWNER_COOKIE: ta}, timeout=10) as c:
        for path in ("/", "/config", "/gradio_api/info"):
            r = c.get(path)
            assert r.status_code == 200 and _owner_cookie(r) is None and ta not in r.text, path
    # A page load never mints one: a Strict cookie is withheld on a link from another site, and a
    # new cookie would replace the visitor's own; the page's first fetch mints it instead.
    for headers in ({"sec-fetch-mode": "navigate", "sec-fetch-site": "cross-site"},
                    {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}):
        r = httpx.get(guarded.url + "/", headers=headers, timeout=10)
        assert r.status_code == 200 and _owner_cookie(r) is None, headers
    # A forged, malformed value is replaced.
    r = httpx.get(guarded.url + "/config", cookies={OWNER_COOKIE: "short"}, timeout=10)
    assert _owner_cookie(r) is not None


def test_each_gradio_client_gets_its_own_owner_and_handlers_can_read_it(temp_dir):
    """gradio_client keeps the cookie set on /config for the Client's life; owner_from_request reads it."""
    from webui.http_guard import OWNER_COOKIE, guard_launch_kwargs

    with gr.Blocks() as demo:
        t, o = gr.Textbox(), gr.Textbox()
        gr.Button().click(whoami, t, o, api_name="whoami")
        gr.Button().click(whoami, t, o, api_name="whoami_direct", queue=False)
    demo.queue()
    _, url, _ = webui.launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            **guard_launch_kwargs(max_request_bytes=UPLOAD_CAP, auth_required=False))
    try:
        c1, c2 = _client(url), _client(url)
        o1, o2 = c1.predict("a", api_name="/whoami"), c2.predict("b", api_name="/whoami")
        assert o1 == c1.cookies[OWNER_COOKIE] and o2 == c2.cookies[OWNER_COOKIE] and o1 != o2
        assert c1.predict("again", api_name="/whoami") == o1  # stable for the client's life
        # A caller that keeps no cookies has no owner (never a shared anonymous one).
        r = httpx.post(url.rstrip("/") + "/gradio_api/run/whoami_direct", json={"data": ["x"]}, timeout=10)
        assert r.status_code == 200 and r.json()["data"] == ["none"]
    finally:
        demo.close()


# ---- login on every route ----------------------------------------------------------------------


def test_with_auth_every_route_needs_the_login(guarded_auth):
    url = guarded_auth.url
    body = {"session_hash": "abcdefghijk", "fn_index": 0, "event_id": "e1"}
    refused = [("POST", "/gradio_api/cancel", body), ("POST", "/gradio_api/reset", {"event_id": "e1"}),
               ("GET", "/gradio_api/heartbeat/abcdefghijk", None), ("POST", "/gradio_api/queue/join", body),
               ("GET", "/gradio_api/queue/data?session_hash=abcdefghijk", None), ("GET", "/config", None),
               ("GET", "/gradio_api/info", None), ("POST", "/gradio_api/upload", None),
               ("GET", "/gradio_api/upload_progress?upload_id=x", None), ("GET", "/gradio_api/queue/status", None),
               ("POST", "/gradio_api/run/predict", {"data": [], "fn_index": 0}),
               ("GET", f"/gradio_api/file={guarded_auth.data_dir}/audio/x.wav", None)]
    for method, path, payload in refused:
        r = httpx.request(method, url + path, json=payload, timeout=10)
        assert r.status_code in (401, 403), (path, r.status_code)
    assert httpx.get(url + "/", timeout=10).status_code == 200  # the login page
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.post("/login", data={"username": AUTH[0], "password": "wrong"}).status_code in (400, 401)
        assert c.post("/gradio_api/cancel", json=body).status_code == 401
        assert c.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 200
        assert c.post("/gradio_api/cancel", json=body).status_code == 200
        assert c.post("/gradio_api/reset", json={"event_id": "e1"}).status_code == 200
        assert c.get("/config").status_code == 200
    # gradio_client logs in and uses the queue as before.
    files, _ = _client(url, auth=AUTH).predict(text="Logged in", seed=1, api_name="/generate")
    assert len(files) == 1


def test_auth_required_without_a_login_fails_closed(temp_dir):
    from webui.http_guard import guard_launch_kwargs

    with gr.Blocks() as demo:
        gr.Textbox()
    _, url, _ = webui.launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            **guard_launch_kwargs(max_request_bytes=UPLOAD_CAP, auth_required=True))
    try:
        assert httpx.get(url + "config", timeout=10).status_code == 401
        assert httpx.post(url + "gradio_api/cancel", json={}, timeout=10).status_code == 401
    finally:
        demo.close()


def _generate_raw(url: str, **params) -> dict:
    """/generate through the queue with Gradio's simple API; returns the first take as served (FileData)."""
    with httpx.Client(base_url=url, timeout=60) as c:
        c.get("/config")  # the owner cookie, so the take is stored (a caller without one keeps nothing)
        r = c.post("/gradio_api/call/v2/generate", json=params)
        assert r.status_code == 200, r.text[:200]
        event = None
        with c.stream("GET", f"/gradio_api/call/generate/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    assert event == "complete", line
                    return json.loads(line[5:])[0][0]
    raise AssertionError("no result")


# ---- deleted means 404 ----------------------------------------------------------------------------


def test_a_forgotten_served_copy_answers_404(guarded, temp_dir):
    from webui.http_guard import forget_served_copies

    served = _generate_raw(guarded.url, text="Forget me", seed=5)
    file_url = served["url"]
    assert Path(served["path"]).is_relative_to(temp_dir)
    assert httpx.get(file_url, timeout=10).status_code == 200
    content = httpx.get(file_url, timeout=10).content
    originals = [p for p in guarded.data_dir.rglob("*.wav")
                 if hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256(content).digest()]
    assert originals, "the served copy matches no file in the data folder"
    forget_served_copies(originals)
    assert httpx.get(file_url, timeout=10).status_code == 404
    assert not Path(served["path"]).exists()
    # The data folder's own URL 404s once the lead's delete removes the file; a never-existing one too.
    missing = guarded.data_dir.resolve() / "audio" / "no-such-take.wav"
    assert httpx.get(f"{guarded.url}/gradio_api/file={missing}", timeout=10).status_code == 404
    assert httpx.get(f"{guarded.url}/gradio_api/file=/etc/passwd", timeout=10).status_code == 404


# ---- a real browser behind the guard ----------------------------------------------------------------


def test_the_studio_works_in_a_browser_behind_the_guard(browser, guarded):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    refused: list[str] = []
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(guarded.url)
    page.wait_for_selector("#prompt textarea")
    page.locator("#prompt textarea").fill("Hello from the browser")
    page.wait_for_function("document.querySelector('#estimate').innerText.includes('segment')")  # a direct UI event
    page.click("#generate-btn")  # a queued one
    page.wait_for_function("document.querySelector('#status').innerText.includes('Done')")
    page.locator(".take-card").first.wait_for(state="visible")
    cookies = {c["name"]: c for c in ctx.cookies()}
    assert cookies["bark_owner"]["httpOnly"] and cookies["bark_owner"]["sameSite"] == "Strict"
    assert "bark_owner" not in page.evaluate("document.cookie")
    assert refused == []
    ctx.close()


def test_the_login_page_works_behind_the_guard(browser, guarded_auth):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(guarded_auth.url)
    page.get_by_label("username").fill(AUTH[0])
    page.get_by_label("password").fill(AUTH[1])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#prompt textarea")
    ctx.close()


# ---- the middleware alone (no server) -------------------------------------------------------------


def _bare(settings=None, seen: Optional[list] = None):
    """The guard around a tiny ASGI app that echoes how many body bytes it received."""
    from webui.http_guard import GuardSettings, HttpGuard

    async def app(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        if seen is not None:
            seen.append(scope)
        out = str(len(body)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    return HttpGuard(app, settings or GuardSettings(max_request_bytes=64 * 1024, max_json_bytes=4096))


def _call(app, method, path, **kw) -> httpx.Response:
    """One request through the ASGI app, on a thread of its own (Playwright's sync API keeps a loop running here)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio") as c:
            return await c.request(method, path, **kw)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


async def _chunks(n: int):
    for _ in range(n):
        yield b"x" * 1000


def test_guard_caps_by_route_and_by_framing():
    app = _bare()
    assert _call(app, "POST", "/gradio_api/queue/join", content=b"x" * 4096).text == "4096"
    assert _call(app, "POST", "/gradio_api/queue/join", content=b"x" * 4097).status_code == 413
    assert _call(app, "POST", "/gradio_api/upload", content=b"x" * 60_000).text == "60000"
    assert _call(app, "POST", "/gradio_api/upload", content=b"x" * 70_000).status_code == 413
    # No Content-Length (a generator body is sent chunked): read up to the cap, then refused.
    assert _call(app, "POST", "/gradio_api/queue/join", content=_chunks(4)).text == "4000"
    assert _call(app, "POST", "/gradio_api/queue/join", content=_chunks(5)).status_code == 413
    assert _call(app, "POST", "/gradio_api/queue/join", content=b"{}", headers={"content-length": "-1"}).status_code == 400


def test_owner_cookie_attributes_follow_the_deployment():
    from webui.http_guard import GuardSettings

    local = _call(_bare(), "GET", "/config").headers["set-cookie"]
    assert "HttpOnly" in local and "SameSite=Strict" in local and "Secure" not in local
    proxied = _call(_bare(), "GET", "/config", headers={"x-forwarded-proto": "https"}).headers["set-cookie"]
    assert "SameSite=Strict" in proxied and "Secure" in proxied
    space = _bare(GuardSettings(max_request_bytes=64 * 1024, cross_site=True))
    embedded = _call(space, "GET", "/config").headers["set-cookie"]
    assert "SameSite=None" in embedded and "Secure" in embedded and "Partitioned" in embedded


def test_owner_from_request_reads_only_a_well_formed_cookie():
    from types import SimpleNamespace

    from webui.http_guard import GuardSettings, owner_from_request

    token = "t" * 43
    assert owner_from_request(None) is None
    assert owner_from_request(SimpleNamespace()) is None
    assert owner_from_request(SimpleNamespace(cookies={})) is None
    assert owner_from_request(SimpleNamespace(cookies={"bark_owner": "short"})) is None
    assert owner_from_request(SimpleNamespace(cookies={"bark_owner": "a b" * 20})) is None
    assert owner_from_request(SimpleNamespace(cookies={"bark_owner": token})) == token
    with pytest.raises(ValueError, match="max_request_bytes"):
        GuardSettings(max_request_bytes=10)
