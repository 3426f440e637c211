"""The dashboard's HTTP side: login, the pages, the session view's data, and the websocket.

Every page, API route and the websocket need a logged-in user (static files do not: the login
page needs its stylesheet). The websocket also checks that it is opened from this dashboard's own
pages (Origin), so another site cannot ride on a nurse's cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dashboard.auth import COOKIE, Accounts, Sessions, User
from dashboard.hub import Hub, Viewer
from monitor.wire.payloads import format_event_time
from monitor.wire.station import station_tables
from monitor.wire.topics import Inbound

STATIC = Path(__file__).parent / "static"
AUDIO_PAUSE_S = 120.0
MAX_ACTION_BYTES = 4096


Archive = Callable[[str], dict[str, Any] | None]


@dataclass
class Dashboard:
    hub: Hub
    accounts: Accounts
    sessions: Sessions
    site: str
    archive: Archive | None = None  # a session's stored record, where the station has a store

    def user(self, token: str | None) -> User | None:
        user = self.sessions.user(token, time.time())
        if user is not None and not self.accounts.current(user):
            self.sessions.end(token)
            return None
        return user

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
    """Add the dashboard's routes to `app` (the service's or a standalone station's)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _pages(app, dashboard)
    _api(app, dashboard)
    app.add_api_websocket_route("/ws", _websocket_endpoint(dashboard))


def login_required(dashboard: Dashboard) -> Any:
    """A dependency: the logged-in user, or 401."""

    def current(request: Request) -> User:
        user = dashboard.user(request.cookies.get(COOKIE))
        if user is None:
            raise HTTPException(401, "log in first (POST /login)")
        return user

    return Depends(current)


def _pages(app: FastAPI, dashboard: Dashboard) -> None:
    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> RedirectResponse:
        form = parse_qs((await request.body())[:MAX_ACTION_BYTES].decode(errors="replace"))
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        user = await asyncio.to_thread(dashboard.accounts.verify, name, password)
        if user is None:
            return RedirectResponse("/login?error=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        token = dashboard.sessions.create(user, time.time())
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        dashboard.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
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


def _api(app: FastAPI, dashboard: Dashboard) -> None:
    @app.get("/api/dashboard/session/{chair}", dependencies=[login_required(dashboard)])
    def session_view(chair: str) -> dict[str, Any]:
        """A chair's current (or last) session: state, vitals history, alarm transitions."""
        view = dashboard.hub.chairs.get(chair)
        if view is None or view.state is None:
            raise HTTPException(404, f"no chair {chair!r} has reported")
        stored = dashboard.archive(view.session) if dashboard.archive and view.session else None
        if stored is not None:  # the whole session, also what came before a restart
            return {"chair": view.state, **stored}
        return {
            "chair": view.state,
            "history": {v: list(points) for v, points in view.history.items()},
            "alarms": list(view.alarms),
        }


def _websocket_endpoint(dashboard: Dashboard) -> Any:
    async def endpoint(websocket: WebSocket) -> None:
        user = dashboard.user(websocket.cookies.get(COOKIE))
        if user is None or not _same_origin(websocket):
            await websocket.close(code=4401, reason="log in first")
            return
        await websocket.accept()
        viewer = Viewer(websocket, user.name)
        hub = dashboard.hub
        hub.viewers.add(viewer)
        hello = {"type": "hello", "user": {"name": user.name, "role": user.role.value},
                 "site": dashboard.site, "audio_pause_s": AUDIO_PAUSE_S,
                 "tables": station_tables(audio_pause_s=AUDIO_PAUSE_S)}  # fmt: skip
        hub.welcome(viewer, hello)
        try:
            await _serve_viewer(dashboard, websocket, viewer, user)
        finally:
            hub.viewers.discard(viewer)

    return endpoint


async def _serve_viewer(
    dashboard: Dashboard, websocket: WebSocket, viewer: Viewer, user: User
) -> None:
    sending = asyncio.create_task(viewer.run(), name=f"ws-send-{user.name}")
    receiving = asyncio.create_task(
        _receive(dashboard, websocket, viewer, user), name=f"ws-receive-{user.name}"
    )
    _, pending = await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task


async def _receive(dashboard: Dashboard, websocket: WebSocket, viewer: Viewer, user: User) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await websocket.receive_text()
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
        payload = {"ts": ts, "event": event}
        if event == "start":
            payload |= {"drug": "ketamine", "dose_mg_per_kg": 0.5, "planned_minutes": 40.0}
        return chair, Inbound.INFUSION, payload
    raise ValueError(f"unknown action {name!r}")


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: a cookie was still needed
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc == host
