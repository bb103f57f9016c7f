"""The studio's HTTP guard: one ASGI middleware in front of every Gradio route, and its helpers.

What it enforces, before Gradio sees a request:

- **One queue.** ``POST /gradio_api/run/<name>`` and ``/gradio_api/api/<name>`` (Gradio's direct routes)
  are refused (404) for every queued event; only ``queue=False`` events, the browser's light UI
  calls, may use them. Routes the studio never uses (run history, vibe editing, MCP, monitoring,
  dev reload, ``file=<remote URL>``) answer 404.
- **Whole requests are capped**, whatever their kind: a declared ``Content-Length`` over the cap is
  refused (413) before one byte of the body is read; a body without one (chunked) is read into
  memory only up to the cap, then refused. Uploads (``/upload``) get ``max_request_bytes``, every
  other route (JSON, forms) ``max_json_bytes``.
- **Login everywhere.** When the app has a login (``--auth``), every route but the login page, its
  static assets and ``POST /login`` requires it (401), including ``/cancel``, ``/reset`` and
  ``/heartbeat``, which Gradio leaves open.
- **Owners from a cookie.** A response to a request without a valid ``bark_owner`` cookie sets one:
  32 random bytes, ``HttpOnly``, ``SameSite=Strict`` (``None; Secure; Partitioned`` when embedded
  cross-site), a year long. Nothing the page serves can derive it. Page loads (navigations) never
  mint one: a Strict cookie is withheld on a link from another site, and a new one would replace
  it; the page's first fetch (``/config``, the load event, the heartbeat) mints it instead.
  Handlers read it with :func:`owner_from_request`; a caller that keeps no cookies has no owner
  (``None``).
- **Gone means 404.** A ``file=`` URL that Gradio refuses (403: missing, blocked) answers 404, so a
  deleted take's URLs all 404 once :func:`forget_served_copies` has removed Gradio's cached copies.

Install it with ``demo.launch(**launch_options(...), **guard_launch_kwargs(...))``.
"""

from __future__ import annotations

import inspect
import json
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Optional

OWNER_COOKIE = "bark_owner"
OWNER_COOKIE_MAX_AGE = 365 * 24 * 3600
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")  # minted as secrets.token_urlsafe(32): 43 characters
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

API = "/gradio_api"
# Gradio's direct routes: they call the event's function in the request, outside the queue.
_DIRECT_RE = re.compile(rf"^{API}/(?:run|api)/([^/]+)/?$")
_UPLOAD_PATHS = (f"{API}/upload", f"{API}/process_recording")
# Routes the studio never uses; they answer 404 for everyone.
_CLOSED_PREFIXES = (f"{API}/run-history", f"{API}/runs", f"{API}/vibe-edit", f"{API}/undo-vibe-edit",
                    f"{API}/vibe-code", f"{API}/dev/", f"{API}/mcp", f"{API}/monitoring", "/monitoring",
                    f"{API}/deep_link")
_FILE_PREFIXES = (f"{API}/file=", f"{API}/file/")
_REMOTE_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+:|//)", re.ASCII)  # a URL scheme (2+ letters: not C:) or //host
# What a logged-out browser may fetch: the login page, its assets, the login itself.
_PUBLIC_EXACT = {"/", "/favicon.ico", "/robots.txt", "/manifest.json", "/theme.css", f"{API}/theme.css",
                 f"{API}/startup-events", f"{API}/login_check", f"{API}/login_check/"}
_PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
_LOGIN_PATHS = {"/login", "/login/"}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class GuardSettings:
    """Limits and cookie policy for :class:`HttpGuard`.

    ``max_request_bytes`` caps a whole upload request (all its files and fields together);
    ``max_json_bytes`` caps every other request body. ``auth_required`` makes the guard fail
    closed: if the app turns out to have no login configured, every non-public route is refused.
    (A login configured on the app is always enforced, whatever this flag says.) ``cross_site``
    issues the owner cookie as ``SameSite=None; Secure; Partitioned``, for a studio shown inside
    another site's iframe (a Hugging Face Space); otherwise it is ``SameSite=Strict``.
    """

    max_request_bytes: int
    max_json_bytes: int = 1024 * 1024
    auth_required: bool = False
    cross_site: bool = False

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_json_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
                raise ValueError(f"{name} must be a whole number of bytes, at least 1024 (got {value!r}).")


def guard_launch_kwargs(*, max_request_bytes: int, auth_required: bool, max_json_bytes: int = 1024 * 1024,
                        cross_site: bool = False) -> dict[str, Any]:
    """Keyword arguments to merge into ``demo.launch(...)``: installs :class:`HttpGuard` in Gradio's app.

    Gradio passes ``app_kwargs`` to ``FastAPI(...)``, so the guard sits inside Gradio's own CORS and
    compression layers and in front of every route. A fresh dict each call (Gradio mutates it).
    """
    from starlette.middleware import Middleware

    settings = GuardSettings(max_request_bytes=max_request_bytes, max_json_bytes=max_json_bytes,
                             auth_required=auth_required, cross_site=cross_site)
    return {"app_kwargs": {"middleware": [Middleware(HttpGuard, settings=settings)]}}


def owner_from_request(request: Any) -> Optional[str]:
    """The caller's owner token (the ``bark_owner`` cookie), or ``None`` when it brought none.

    ``request`` is the ``gr.Request`` Gradio passes to a handler (queued or not). Every browser and
    every ``gradio_client.Client`` has its own cookie (the guard sets it on their first response);
    a caller that keeps no cookies has no owner and must get no history.
    """
    if request is None:
        return None
    try:
        cookies = request.cookies
        value = cookies.get(OWNER_COOKIE) if cookies is not None else None
    except (AttributeError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and _TOKEN_RE.fullmatch(value) else None


def forget_served_copies(paths: Iterable[str | Path], cache_dir: str | Path | None = None) -> None:
    """Remove the copies Gradio made of these files to serve them (``/gradio_api/file=<cache>/<sha256>/...``).

    Gradio names each copy's folder after a seeded SHA-256 of the file's content, so call this
    *before* deleting the files themselves. Missing files and copies are skipped. Identical audio
    in another row shares the copy; Gradio makes it again the next time that row is shown.
    """
    from gradio.processing_utils import hash_file
    from gradio.utils import get_upload_folder

    root = Path(cache_dir or get_upload_folder()).resolve()
    for p in paths:
        path = Path(p)
        try:
            if not path.is_file():
                continue
            digest = hash_file(path)
        except OSError:
            continue
        if not _SHA256_RE.fullmatch(digest):
            continue
        folder = root / digest
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


class HttpGuard:
    """ASGI middleware enforcing the studio's HTTP rules (see the module docstring)."""

    def __init__(self, app: Callable, settings: GuardSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self._not_http(scope, receive, send)
            return

        path = _route_path(scope)
        method = scope.get("method", "GET").upper()

        if path.startswith(_CLOSED_PREFIXES) or _remote_file(path):
            await _reply(send, 404, "Not found.")
            return
        if await _logged_out(scope, self.settings) and not _is_public(path, method):
            await _reply(send, 401, "Not authenticated.")
            return

        limit = self.settings.max_request_bytes if path in _UPLOAD_PATHS else self.settings.max_json_bytes
        too_big = f"Request too large: at most {_fmt_bytes(limit)} per request."
        headers = _headers(scope)
        length = headers.get(b"content-length")
        body: Optional[bytes] = None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "Bad Content-Length.")
                return
            if declared < 0:
                await _reply(send, 400, "Bad Content-Length.")
                return
            if declared > limit:
                await _reply(send, 413, too_big)
                return
            receive = _counting(receive, limit)
        elif b"transfer-encoding" in headers or method in ("POST", "PUT", "PATCH"):
            body = await _read_capped(receive, limit)
            if body is None:
                await _reply(send, 413, too_big)
                return

        m = _DIRECT_RE.match(path) if method == "POST" else None
        if m is not None:
            if body is None:
                body = await _read_capped(receive, limit)
                if body is None:
                    await _reply(send, 413, too_big)
                    return
            if not _direct_allowed(scope, m.group(1), body):
                await _reply(send, 404, "This event runs only through the queue: join it with "
                                        "/gradio_api/queue/join (gradio_client does).")
                return
        if body is not None:
            receive = _replay(body, receive)

        if path.startswith(_FILE_PREFIXES):
            send = _refusal_as_404(send)
        if owner_from_cookie_header(headers.get(b"cookie")) is None and not _is_navigation(method, headers):
            send = _with_owner_cookie(send, _cookie_header(secrets.token_urlsafe(32), scope, self.settings))
        await self.app(scope, receive, send)

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A websocket (closed when logged out, unless its path is public) or any other scope: passed on."""
        if scope.get("type") == "websocket" and await _logged_out(scope, self.settings) \
                and not _is_public(_route_path(scope), "GET"):
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


# ---- helpers -------------------------------------------------------------------------


def owner_from_cookie_header(raw: Optional[bytes]) -> Optional[str]:
    """The valid ``bark_owner`` token in a raw ``Cookie`` header, or ``None``."""
    value = _cookies(raw).get(OWNER_COOKIE)
    return value if value and _TOKEN_RE.fullmatch(value) else None


def _cookies(raw: Optional[bytes]) -> dict[str, str]:
    """Cookies parsed exactly as Starlette parses them for ``request.cookies`` (so the guard and the
    handlers always agree on which value is the owner)."""
    from starlette.requests import cookie_parser

    return cookie_parser(raw.decode("latin-1")) if raw else {}


def _is_navigation(method: str, headers: dict[bytes, bytes]) -> bool:
    """A page load. A SameSite=Strict cookie is withheld when the user arrives from another site's
    link, so a cookie minted here would overwrite the one they have; the page's own requests
    (same-origin fetches, which always carry it) mint it instead."""
    if headers.get(b"sec-fetch-mode", b"").lower() == b"navigate":
        return True
    return method in ("GET", "HEAD") and b"text/html" in headers.get(b"accept", b"").lower()


def _route_path(scope: Scope) -> str:
    path = scope.get("path", "") or "/"
    root = scope.get("root_path", "") or ""
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The first value of each header, as Starlette's ``Headers.get`` reads it."""
    out: dict[bytes, bytes] = {}
    for k, v in scope.get("headers", []):
        out.setdefault(k.lower(), v)
    return out


def _remote_file(path: str) -> bool:
    for prefix in _FILE_PREFIXES:
        if path.startswith(prefix):
            return bool(_REMOTE_RE.match(path[len(prefix):]))
    return False


def _is_public(path: str, method: str) -> bool:
    if method == "POST":
        return path in _LOGIN_PATHS
    if method not in ("GET", "HEAD"):
        return False
    return path in _PUBLIC_EXACT or path.startswith(_PUBLIC_PREFIXES)


async def _logged_out(scope: Scope, settings: GuardSettings) -> bool:
    """True when a login is required (configured on the app, or demanded by settings) and absent.

    The same test as Gradio's ``login_check``: the ``access-token`` cookies of ``POST /login``, or
    the app's ``auth_dependency``.
    """
    app = scope.get("app")
    auth = getattr(app, "auth", None)
    dependency = getattr(app, "auth_dependency", None)
    if auth is None and dependency is None:
        return settings.auth_required  # fail closed: a login was promised but none is configured
    if dependency is not None:
        try:
            from starlette.requests import Request

            user = dependency(Request(scope))
            if inspect.isawaitable(user):
                user = await user
            return user is None
        except Exception:
            return True
    cookie_id = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", None) or {}
    cookies = _cookies(_headers(scope).get(b"cookie"))
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return cookie_id is None or token is None or tokens.get(token) is None


def _direct_allowed(scope: Scope, api_name: str, body: bytes) -> bool:
    """Whether a direct-route call names an existing event that does not use the queue."""
    app = scope.get("app")
    try:
        blocks = app.get_blocks()
        data = json.loads(body or b"{}")
    except Exception:
        return False
    if not isinstance(data, dict):
        return False
    fns = blocks.fns
    session_hash = data.get("session_hash")
    if isinstance(session_hash, str) and session_hash:
        try:
            if session_hash in blocks.state_holder:
                fns = blocks.state_holder[session_hash].blocks_config.fns
        except Exception:
            fns = blocks.fns
    index = data.get("fn_index")
    fn = None
    if index is None:
        fn = next((f for f in fns.values() if getattr(f, "api_name", None) == api_name), None)
    elif isinstance(index, int) and not isinstance(index, bool):
        fn = fns.get(index)
    return fn is not None and getattr(fn, "queue", True) is False


async def _read_capped(receive: Receive, limit: int) -> Optional[bytes]:
    """The whole body, or ``None`` as soon as it passes ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def _receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return _receive


def _counting(receive: Receive, limit: int) -> Receive:
    """A declared length is enforced by the server; this keeps the cap true whatever it does."""
    total = 0

    async def _receive() -> dict[str, Any]:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                return {"type": "http.disconnect"}
        return message

    return _receive


def _refusal_as_404(send: Send) -> Send:
    """Gradio answers 403 for a missing or refused file; say 404 for both (no existence oracle)."""
    swallow = False

    async def _send(message: dict[str, Any]) -> None:
        nonlocal swallow
        if message["type"] == "http.response.start" and message.get("status") == 403:
            swallow = True
            body = json.dumps({"detail": "Not found."}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if swallow:
            return
        await send(message)

    return _send


def _cookie_header(token: str, scope: Scope, settings: GuardSettings) -> bytes:
    secure = scope.get("scheme") == "https" or _headers(scope).get(b"x-forwarded-proto", b"").lower() == b"https"
    parts = [f"{OWNER_COOKIE}={token}", "Path=/", f"Max-Age={OWNER_COOKIE_MAX_AGE}", "HttpOnly"]
    if settings.cross_site:
        parts += ["SameSite=None", "Secure", "Partitioned"]
    else:
        parts.append("SameSite=Strict")
        if secure:
            parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def _with_owner_cookie(send: Send, cookie: bytes) -> Send:
    async def _send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return _send


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _fmt_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"
