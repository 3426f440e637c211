"""A logout ends its own login's browsers (close code 4401, which the page reads as "log in
again"), and an action that reaches the server after its login ended is not carried out, even
when it got there before the close did."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.websockets import WebSocketDisconnect

from dashboard.auth import Accounts, Role, Sessions, User, hash_password
from dashboard.hub import LOGGED_OUT, Hub, Viewer
from dashboard.web import Dashboard, _receive
from monitor.wire.address import parse_broker_url
from monitor.wire.topics import Inbound

KIM = User("nurse.kim", Role.NURSE)
PAUSE = json.dumps({"id": 1, "action": "pause_audio", "chair": "c01", "seconds": 60})


class RecordingHub(Hub):
    def __init__(self) -> None:
        super().__init__(broker=parse_broker_url("mqtt://127.0.0.1:1"), root="clinic", site="t1")
        self.sent: list[tuple[str, Inbound, dict[str, Any]]] = []

    async def command(self, chair: str, kind: Inbound, payload: dict[str, Any]) -> None:
        self.sent.append((chair, kind, payload))


class Browser:
    """A websocket that sends `texts`, then goes away; remembers how it was closed."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.sent: list[str] = []
        self.closed: tuple[int, str | None] | None = None

    async def receive_text(self) -> str:
        if not self.texts:
            raise WebSocketDisconnect(1000)
        return self.texts.pop(0)

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def a_station() -> tuple[Dashboard, RecordingHub]:
    hub = RecordingHub()
    users = {KIM.name: {"role": "nurse", "password_hash": hash_password("kim-at-chair-1")}}
    return Dashboard(hub=hub, accounts=Accounts(users), sessions=Sessions(), site="t1"), hub


def watched(station: Dashboard, token: str, browser: Browser) -> Viewer:
    viewer = Viewer(browser, KIM.name)
    station.watching.setdefault(token, set()).add(viewer)
    return viewer


async def test_an_action_from_a_logged_in_browser_is_carried_out() -> None:
    station, hub = a_station()
    token = station.sessions.create(KIM, time.time())
    browser = Browser(PAUSE)

    await _receive(station, browser, watched(station, token, browser), token)  # type: ignore[arg-type]

    assert [(chair, kind) for chair, kind, _ in hub.sent] == [("c01", Inbound.COMMAND)]


async def test_an_action_arriving_after_its_login_ended_is_not_carried_out() -> None:
    station, hub = a_station()
    token = station.sessions.create(KIM, time.time())
    browser = Browser(PAUSE, PAUSE)
    viewer = watched(station, token, browser)
    station.log_out(token)

    await _receive(station, browser, viewer, token)  # type: ignore[arg-type]

    assert hub.sent == []
    assert viewer.ending is LOGGED_OUT
    assert browser.texts == [PAUSE]  # it stopped reading at the first


async def test_logging_out_closes_that_logins_browsers_with_4401_and_no_others() -> None:
    station, _ = a_station()
    first, second = (station.sessions.create(KIM, time.time()) for _ in range(2))
    leaving, staying = Browser(), Browser()
    gone, kept = watched(station, first, leaving), watched(station, second, staying)
    kept.offer_event("{}")

    station.log_out(first)
    await gone.run()

    assert leaving.closed == (4401, "logged out")
    assert leaving.sent == []
    assert kept.ending is None
    assert list(kept.events) == ["{}"]
    assert station.watching.keys() == {second}
    assert station.sessions.user(first, time.time()) is None
    assert station.sessions.user(second, time.time()) == KIM
