"""The dashboard's HTTP side: login, the pages, the session view's data and its actions (a
note, alarm limits: the same actions as the websocket's, `by` set from the login), and the
websocket.

Every page, API route and the websocket need a logged-in user (static files do not: the login
page needs its stylesheet). The websocket also checks that it is opened from this dashboard's own
pages (Origin), so another site cannot ride on a nurse's cookie, and ends when its login does
(logging out closes it with 4401, which the page reads as "log in again").

What `install` adds to the whole app (the service's, or a stand-alone station's): security
headers on every response (no framing by another site, no sniffing, no referrer; scripts only
from here) and a bound on every request body, refused with 413 before it is read in full. Failed
logins are logged (the user name and the client's address, never the password) and throttled
per user name and per address (`dashboard.auth.LoginLimiter`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.auth import COOKIE, Accounts, LoginLimiter, Sessions, User
from dashboard.hub import LOGGED_OUT, Hub, Viewer
from monitor.wire.payloads import format_event_time
from monitor.wire.station import station_tables
from monitor.wire.topics import Inbound

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
AUDIO_PAUSE_S = 120.0
MAX_ACTION_BYTES = 4096
MAX_BODY_BYTES = 8192  # any request's body; more is refused with 413 before it is all read
LOGGED_NAME_CHARS = 64  # a user name in the log is cut to this
VERIFY_AT_ONCE = 2  # password hashes checked at once (argon2id: 64 MiB each)
_IN_SESSION = frozenset(station_tables(audio_pause_s=AUDIO_PAUSE_S)["in_session"])


Archive = Callable[[str], dict[str, Any] | None]


@dataclass
class Dashboard:
    hub: Hub
    accounts: Accounts
    sessions: Sessions
    site: str
    archive: Archive | None = None  # a session's stored record, where the station has a store
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    watching: dict[str, set[Viewer]] = field(default_factory=dict)  # login token -> its browsers
    verifying: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(VERIFY_AT_ONCE))

    def user(self, token: str | None) -> User | None:
        user = self.sessions.user(token, time.time())
        if user is not None and not self.accounts.current(user):
            self.log_out(token)
            return None
        return user

    def log_out(self, token: str | None) -> None:
        """End a login and every websocket opened with it."""
        self.sessions.end(token)
        for viewer in self.watching.pop(token or "", set()):
            viewer.end(LOGGED_OUT)

    # As a station plugged into the service (monitor.app.Station) -------------------------

    def install(self, app: FastAPI) -> None:
        install(app, self)

    def login_required(self) -> Any:
        return login_required(self)

    async def run(self) -> None:
        """Follow the broker and keep every browser's link fresh, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.hub.run(), name="dashboard-hub")
            tasks.create_task(self.hub.heartbeat(), name="dashboard-heartbeat")

    def close(self) -> None:
        self.hub.close()


def install(app: FastAPI, dashboard: Dashboard) -> None:
    """Add the dashboard's routes to `app` (the service's or a standalone station's), and
    its guard on every response and request body."""
    app.add_middleware(Guard, headers=security_headers())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _pages(app, dashboard)
    _api(app, dashboard)
    app.add_api_websocket_route("/ws", _websocket_endpoint(dashboard))


def _logged_in(dashboard: Dashboard, request: Request) -> User:
    user = dashboard.user(request.cookies.get(COOKIE))
    if user is None:
        raise HTTPException(401, "log in first (POST /login)")
    return user


def login_required(dashboard: Dashboard) -> Any:
    """A dependency: the logged-in user, or 401."""

    def current(request: Request) -> User:
        return _logged_in(dashboard, request)

    return Depends(current)


def _pages(app: FastAPI, dashboard: Dashboard) -> None:
    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> RedirectResponse:
        form = parse_qs((await bounded_body(request, MAX_ACTION_BYTES)).decode(errors="replace"))
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        address = request.client.host if request.client else "unknown"
        user = await _verify(dashboard, name, password, address)
        if user is None:  # wrong, unknown or locked out: the same answer
            return RedirectResponse("/login?error=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        token = dashboard.sessions.create(user, time.time())
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")  # fmt: skip
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        dashboard.log_out(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")  # fmt: skip
        return response

    def page(name: str) -> Any:
        def serve(request: Request) -> Response:
            if dashboard.user(request.cookies.get(COOKIE)) is None:
                return RedirectResponse("/login", status_code=303)
            return FileResponse(STATIC / name)

        return serve

    app.add_api_route("/", page("index.html"), methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/session/{chair}", page("session.html"), methods=["GET"], include_in_schema=False
    )
    app.add_api_route("/records", page("records.html"), methods=["GET"], include_in_schema=False)


async def _verify(dashboard: Dashboard, name: str, password: str, address: str) -> User | None:
    """The user, when the password is right and neither the name nor the address is locked.
    A few hashes at a time (each takes 64 MiB), the throttle asked when a turn comes, so a burst
    of logins waits rather than swelling memory, and a lockout stops what is still queued."""
    async with dashboard.verifying:
        refusal = dashboard.limiter.refusal(name, address, time.time())
        user = None
        if refusal is None:
            user = await asyncio.to_thread(dashboard.accounts.verify, name, password)
        if user is not None:
            dashboard.limiter.succeeded(name)
            return user
        _failed(dashboard, name, address, refusal)
        return None


def _failed(dashboard: Dashboard, name: str, address: str, refusal: str | None) -> None:
    shown = name[:LOGGED_NAME_CHARS]
    log.info("failed login for user %r from %s%s", shown, address,
             f": refused, {refusal}" if refusal else "")  # fmt: skip
    for lockout in dashboard.limiter.failed(name, address, time.time()):
        log.warning("login lockout: %s (user %r, address %s)", lockout, shown, address)


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, read as it streams in; 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"a body of at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"a body of at most {limit} bytes")
    return bytes(body)


def _api(app: FastAPI, dashboard: Dashboard) -> None:
    @app.get("/api/dashboard/session/{chair}")
    def session_view(chair: str, request: Request) -> dict[str, Any]:
        """A chair's current (or last) session: state, vitals history, alarm transitions, and
        who is looking (the page offers a nurse's actions only to those who may act)."""
        user = _logged_in(dashboard, request)
        view = dashboard.hub.chairs.get(chair)
        if view is None or view.state is None:
            raise HTTPException(404, f"no chair {chair!r} has reported")
        viewer = {"name": user.name, "role": user.role.value, "may_act": user.role.may_act,
                  "in_session": view.state.get("phase") in _IN_SESSION}  # fmt: skip
        stored = dashboard.archive(view.session) if dashboard.archive and view.session else None
        if stored is not None:  # the whole session, also what came before a restart
            return {"chair": view.state, "user": viewer, **stored}
        return {
            "chair": view.state,
            "user": viewer,
            "history": {v: list(points) for v, points in view.history.items()},
            "alarms": list(view.alarms),
        }

    @app.post("/api/dashboard/action")
    async def action(request: Request) -> dict[str, Any]:
        """One nurse action from a page without the websocket (the session view), answered as
        the websocket answers it; only from this station's own pages."""
        user = _logged_in(dashboard, request)
        if not _same_origin(request):
            raise HTTPException(403, "actions come only from this station's own pages")
        body = await bounded_body(request, MAX_ACTION_BYTES)
        return await _act(dashboard, body.decode(errors="replace"), user)


def _websocket_endpoint(dashboard: Dashboard) -> Any:
    async def endpoint(websocket: WebSocket) -> None:
        token = websocket.cookies.get(COOKIE) or ""
        user = dashboard.user(token)
        if user is None or not _same_origin(websocket):
            await websocket.close(code=4401, reason="log in first")
            return
        await websocket.accept()
        viewer = Viewer(websocket, user.name)
        hub = dashboard.hub
        hub.viewers.add(viewer)
        dashboard.watching.setdefault(token, set()).add(viewer)
        hello = {"type": "hello", "user": {"name": user.name, "role": user.role.value},
                 "site": dashboard.site, "audio_pause_s": AUDIO_PAUSE_S,
                 "tables": station_tables(audio_pause_s=AUDIO_PAUSE_S)}  # fmt: skip
        hub.welcome(viewer, hello)
        try:
            await _serve_viewer(dashboard, websocket, viewer, token)
        finally:
            hub.viewers.discard(viewer)
            dashboard.watching.get(token, set()).discard(viewer)
            if not dashboard.watching.get(token, True):
                dashboard.watching.pop(token, None)

    return endpoint


async def _serve_viewer(
    dashboard: Dashboard, websocket: WebSocket, viewer: Viewer, token: str
) -> None:
    sending = asyncio.create_task(viewer.run(), name=f"ws-send-{viewer.name}")
    receiving = asyncio.create_task(
        _receive(dashboard, websocket, viewer, token), name=f"ws-receive-{viewer.name}"
    )
    done, pending = await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in {*done, *pending}:  # the browser going away ends one; anything else is a bug
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task


async def _receive(dashboard: Dashboard, websocket: WebSocket, viewer: Viewer, token: str) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await websocket.receive_text()
            user = dashboard.user(token)  # still logged in? (a logout may not have closed us yet)
            if user is None:
                viewer.end(LOGGED_OUT)
                return
            result = await _act(dashboard, text, user)
            viewer.offer_event(json.dumps(result))


async def _act(dashboard: Dashboard, text: str, user: User) -> dict[str, Any]:
    """One nurse action: answered with {"type": "result", "id", "ok", "error"?}."""
    ident: Any = None
    try:
        if len(text) > MAX_ACTION_BYTES:
            raise ValueError("message too long")
        action = json.loads(text)
        if not isinstance(action, dict):
            raise ValueError("an action is a JSON object")
        ident = action.get("id")
        if not user.role.may_act:
            raise ValueError(f"a {user.role.value} may look but not act")
        if action.get("action") == "hand_over":
            pager, to = str(action.get("pager", "")), str(action.get("to", ""))
            await dashboard.hub.hand_over(pager, to, user.name)
        else:
            chair, kind, payload = command_for(action, user=user.name, now=time.time())
            await dashboard.hub.command(chair, kind, payload)
    except (ValueError, TypeError, KeyError) as exc:
        return {"type": "result", "id": ident, "ok": False, "error": str(exc)}
    return {"type": "result", "id": ident, "ok": True}


def command_for(
    action: dict[str, Any], *, user: str, now: float
) -> tuple[str, Inbound, dict[str, Any]]:
    """The contract command for a browser action, with the nurse's name where it belongs."""
    chair, name, ts = str(action.get("chair", "")), action.get("action"), format_event_time(now)
    if name == "acknowledge":
        return chair, Inbound.COMMAND, {"ts": ts, "command": "acknowledge",
                                        "alarm": str(action["alarm"]), "by": user}  # fmt: skip
    if name == "pause_audio":
        seconds = float(action.get("seconds", AUDIO_PAUSE_S))
        return chair, Inbound.COMMAND, {"ts": ts, "command": "pause_audio",
                                        "seconds": seconds, "by": user}  # fmt: skip
    if name == "note":
        return chair, Inbound.COMMAND, {"ts": ts, "command": "note",
                                        "text": str(action["text"]), "by": user}  # fmt: skip
    if name == "set_limits":
        limits = action.get("limits")
        if not isinstance(limits, dict):
            raise ValueError("limits are an object of limit names and values")
        return chair, Inbound.COMMAND, {"ts": ts, "command": "set_limits",
                                        "limits": limits, "by": user}  # fmt: skip
    if name == "admit":
        payload: dict[str, Any] = {"ts": ts, "command": "admit",
                                   "patient": str(action["patient"]), "by": user}  # fmt: skip
        if action.get("weight_kg") not in (None, ""):
            payload["weight_kg"] = float(action["weight_kg"])
        return chair, Inbound.SESSION, payload
    if name == "discharge":
        # Over unacknowledged high-priority alarms only when the nurse said so in as many words.
        over = action.get("over_alarms", False)
        if not isinstance(over, bool):
            raise ValueError("over_alarms is true or false")
        return chair, Inbound.SESSION, {"ts": ts, "command": "discharge", "by": user,
                                        "over_alarms": over}  # fmt: skip
    if name == "infusion":
        event = str(action.get("event"))
        payload = {"ts": ts, "event": event, "by": user}
        if event == "start":
            payload |= {"drug": "ketamine", "dose_mg_per_kg": 0.5, "planned_minutes": 40.0}
        return chair, Inbound.INFUSION, payload
    raise ValueError(f"unknown action {name!r}")


def _same_origin(connection: WebSocket | Request) -> bool:
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser: a cookie was still needed
    host = connection.headers.get("host", "")
    return urlsplit(origin).netloc == host


# On every response, and every request body ---------------------------------------------------


def security_headers() -> dict[str, str]:
    """The headers every response carries. Scripts come only from the station's own files (and
    the login page's one inline line, allowed by its hash)."""
    inline = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for page in sorted(STATIC.glob("*.html"))
        for script in re.findall(r"<script>(.*?)</script>", page.read_text(), flags=re.S)
    ]
    scripts = " ".join(["'self'", *inline])
    policy = [
        "default-src 'self'", f"script-src {scripts}", "style-src 'self'",
        "img-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ]  # fmt: skip
    return {
        "Content-Security-Policy": "; ".join(policy),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class BodyTooLarge(Exception):
    """A request body went past MAX_BODY_BYTES while it was being read."""


class Guard:
    """ASGI middleware: `headers` on every HTTP response, and every request body bounded to
    MAX_BODY_BYTES (a declared length over it is refused at once, a streamed one when it gets
    there), refused with 413."""

    def __init__(self, app: ASGIApp, *, headers: dict[str, str]) -> None:
        self.app, self.headers = app, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _too_large(send_with_headers)
            return
        try:
            await self.app(scope, _bounded(receive), send_with_headers)
        except BodyTooLarge:
            if not started:
                await _too_large(send_with_headers)


def _bounded(receive: Receive) -> Receive:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise BodyTooLarge
        return message

    return bounded


async def _too_large(send: Send) -> None:
    body = json.dumps({"detail": f"a request body of at most {MAX_BODY_BYTES} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
