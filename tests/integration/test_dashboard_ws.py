"""The dashboard's websocket and HTTP auth against the real service and a real Mosquitto:
no login no data, a cookie only from this dashboard's own pages, a slow browser dropped without
holding up the others, and nurse actions going out as contract commands under the nurse's name."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboard.auth import COOKIE, SESSION_TTL_S, Role, User, hash_password
from dashboard.hub import Hub
from monitor.app import Service
from monitor.broker import free_port, wait_for_port
from tests.integration.conftest import SITE, Bus, StartService, transitions, until
from tests.integration.sessions import ScriptedSession, topic

pytestmark = pytest.mark.integration

PASSWORDS = {
    "nurse.kim": "kim-at-chair-1",
    "nurse.sam": "sam-at-chair-2",
    "auditor.ann": "ann-reads-only",
}
ROLES = {"nurse.kim": "nurse", "nurse.sam": "nurse", "auditor.ann": "auditor"}
USERS = {
    name: {"role": ROLES[name], "password_hash": hash_password(password)}
    for name, password in PASSWORDS.items()
}


@dataclass
class Served:
    service: Service
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def hub(self) -> Hub:
        assert self.service.station is not None
        return self.service.station.hub


@pytest.fixture
async def served(start_service: StartService) -> Served:
    port = free_port()
    service = await start_service(http=f"127.0.0.1:{port}", users=USERS)
    await wait_for_port(port, within_s=10)
    here = Served(service, port)
    await until(
        lambda: here.hub.broker_connected and here.hub.service_state == "online",
        within_s=10, what="the dashboard's hub to follow the broker and see the service",
    )  # fmt: skip
    return here


async def login(served: Served, name: str) -> str:
    """Log in through POST /login as a browser's form does; the session cookie's value."""
    async with httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        response = await http.post("/login", data={"username": name, "password": PASSWORDS[name]})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    token: str = response.cookies[COOKIE]
    return token


def open_ws(served: Served, token: str | None, *, origin: str | None = "own") -> Any:
    headers = {"Cookie": f"{COOKIE}={token}"} if token is not None else {}
    return connect(
        served.ws_url,
        additional_headers=headers,
        origin=served.base if origin == "own" else origin,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=5,
        close_timeout=2,
    )


async def next_message(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], *, within_s: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no wanted message within {within_s} s")
        try:
            raw = await asyncio.wait_for(ws.recv(), remaining)
        except TimeoutError:
            raise AssertionError(f"no wanted message within {within_s} s") from None
        message: dict[str, Any] = json.loads(raw)
        if wanted(message):
            return message


def now_shifted(session: ScriptedSession, *, until_min: float | None = None) -> list[Any]:
    """The scripted session's messages moved in event time so that its last one is now."""
    messages = session.messages(until_min=until_min)
    last = max(payload["ts"] for _, payload in messages)
    shift = time.time() - last - 1.0
    return [(where, payload | {"ts": payload["ts"] + shift}) for where, payload in messages]


async def infusing(bus: Bus, chair: str) -> float:
    """Admit a patient to `chair`, take the baseline and start the infusion: event time now."""
    messages = now_shifted(ScriptedSession(chair, end_min=14, discharge=False))
    await bus.send(messages)
    last: float = messages[-1][1]["ts"]
    state = await bus.settled(chair, last)
    assert state["phase"] == "infusing"
    return last


async def cuff(bus: Bus, chair: str, sbp: float, dbp: float, *, seq: int) -> float:
    ts = time.time()
    reading = {"ts": ts, "seq": seq, "nibp": {"sys": sbp, "dia": dbp}}
    await bus.publish(topic(chair, "vitals"), reading)
    return ts


# Who may connect -------------------------------------------------------------------------


async def a_cookie(served: Served, kind: str) -> str | None:
    if kind == "none":
        return None
    if kind == "wrong":
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    assert served.service.station is not None
    if kind == "expired":  # a session whose 12 hours ran out
        then = time.time() - SESSION_TTL_S - 1
        return served.service.station.sessions.create(User("nurse.kim", Role.NURSE), then)
    token = await login(served, "nurse.kim")  # logged in, then out: the browser may keep it
    async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
        out = await http.post("/logout", headers={"Cookie": f"{COOKIE}={token}"})
    assert out.status_code == 303
    return token


@pytest.mark.parametrize("cookie", ["none", "wrong", "expired", "logged-out"])
async def test_the_websocket_refuses_a_handshake_without_a_valid_login(
    served: Served, bus: Bus, cookie: str
) -> None:
    await infusing(bus, "c01")  # there is data to leak
    value = await a_cookie(served, cookie)

    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(served, value):
            pass

    assert refused.value.response.status_code == 403
    assert b"c01" not in (refused.value.response.body or b"")
    assert served.hub.viewers == set()


async def test_a_real_login_gets_hello_then_the_link_then_the_chairs(
    served: Served, bus: Bus
) -> None:
    await infusing(bus, "c01")
    await infusing(bus, "c02")
    await until(lambda: {"c01", "c02"} <= set(served.hub.chairs), within_s=5, what="hub chairs")
    token = await login(served, "nurse.kim")

    async with open_ws(served, token) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        second = json.loads(await asyncio.wait_for(ws.recv(), 5))
        chairs: set[str] = set()
        while chairs != {"c01", "c02"}:
            message = await next_message(ws, lambda m: m["type"] == "chair")
            chairs.add(message["chair"]["chair"])

    assert first["type"] == "hello"
    assert first["user"] == {"name": "nurse.kim", "role": "nurse"}
    assert first["site"] == SITE
    assert second["type"] == "link"
    assert second["broker"] is True
    assert second["service"] == "online"


async def test_a_valid_cookie_from_another_origin_is_refused(served: Served) -> None:
    token = await login(served, "nurse.kim")

    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(served, token, origin="http://evil.example"):
            pass

    assert refused.value.response.status_code == 403
    assert served.hub.viewers == set()


# A slow browser ----------------------------------------------------------------------------


@dataclass
class Stuck:
    """A browser that opened the websocket and then stopped reading (a frozen tab)."""

    sock: socket.socket
    received: bytearray = field(default_factory=bytearray)

    @classmethod
    def open(cls, served: Served, token: str) -> Stuck:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny receive window
        sock.settimeout(5)
        sock.connect(("127.0.0.1", served.port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                f"Origin: {served.base}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Cookie: {COOKIE}={token}\r\n\r\n"
            ).encode()
        )
        stuck = cls(sock)
        while b"\r\n\r\n" not in stuck.received:
            chunk = sock.recv(1)  # byte by byte: read nothing past the handshake
            if not chunk:
                raise AssertionError("the server closed the websocket handshake")
            stuck.received += chunk
        status = stuck.received.split(b"\r\n", 1)[0]
        assert b" 101 " in status, status
        stuck.received.clear()
        return stuck

    def drain(self, within_s: float) -> bool:
        """Read everything the server sent; True when the server ended the connection."""
        deadline = time.monotonic() + within_s
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.received += chunk
        return False

    def close_code(self) -> int | None:
        """The code of the server's close frame among what was received, if it sent one."""
        data, at = bytes(self.received), 0
        while at + 2 <= len(data):
            opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
            at += 2
            if length == 126:
                (length,) = struct.unpack_from("!H", data, at)
                at += 2
            elif length == 127:
                (length,) = struct.unpack_from("!Q", data, at)
                at += 8
            if opcode == 0x8 and length >= 2 and at + 2 <= len(data):
                code: int = struct.unpack_from("!H", data, at)[0]
                return code
            at += length
        return None

    def close(self) -> None:
        self.sock.close()


def admissions(chairs: list[str], t0: float) -> list[tuple[str, dict[str, Any]]]:
    return [
        (topic(chair, "session"), {"ts": t0, "command": "admit", "patient": f"P-{chair}"})
        for chair in chairs
    ]


def one_round(chairs: list[str], n: int, t0: float) -> list[tuple[str, dict[str, Any]]]:
    """A cuff on every chair, 5 s of event time after the last, SBP alternating across 180:
    every reading moves an alarm, and every chair's state grows a longer trend."""
    sbp, dbp = (195.0, 100.0) if n % 2 else (125.0, 80.0)
    reading = {"ts": t0 + 5 * n, "seq": n, "hr": 70.0 + n % 7, "spo2": 98.0,
               "nibp": {"sys": sbp, "dia": dbp}}  # fmt: skip
    return [(topic(chair, "vitals"), reading) for chair in chairs]


async def test_a_browser_that_stops_reading_is_dropped_and_the_others_keep_up(
    served: Served, bus: Bus
) -> None:
    chairs, most_rounds = [f"s{n:02d}" for n in range(1, 25)], 200
    t0 = time.time() - 5 * most_rounds - 60

    def slow_viewer() -> bool:
        return any(v.name == "nurse.sam" for v in served.hub.viewers)

    slow_token, fast_token = await login(served, "nurse.sam"), await login(served, "nurse.kim")
    stuck = await asyncio.to_thread(Stuck.open, served, slow_token)
    try:
        await until(slow_viewer, within_s=5, what="the slow browser's viewer")
        async with open_ws(served, fast_token) as fast:
            arrivals: dict[str, tuple[float, dict[str, Any]]] = {}
            fast_closed: list[ConnectionClosed] = []

            async def read_fast() -> None:
                try:
                    async for raw in fast:
                        message = json.loads(raw)
                        if message["type"] == "chair":
                            arrivals[message["chair"]["chair"]] = (time.time(), message["chair"])
                except ConnectionClosed as exc:
                    fast_closed.append(exc)

            reader = asyncio.create_task(read_fast())
            try:
                await bus.send(admissions(chairs, t0))
                rounds, after_drop = 0, 5  # go on for a while after the drop: others keep up
                while rounds < most_rounds and after_drop > 0:
                    rounds += 1
                    await bus.send(one_round(chairs, rounds, t0))
                    after_drop -= 0 if slow_viewer() else 1
                await cuff(bus, "s01", 130, 82, seq=rounds + 1)
                published = time.time()

                def caught_up() -> float | None:
                    seen = arrivals.get("s01")
                    sbp = (seen[1].get("vitals") or {}).get("sbp") if seen else None
                    return seen[0] if seen and sbp and sbp["value"] == 130 else None

                arrived = await until(caught_up, within_s=15, what="s01's newest state")
                fast_still_there = any(v.name == "nurse.kim" for v in served.hub.viewers)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        ended = await asyncio.to_thread(stuck.drain, 15.0)
    finally:
        stuck.close()

    assert not slow_viewer(), (
        f"still a viewer for the browser that stopped reading ({rounds} rounds)"
    )
    latency = arrived - published
    assert latency < 2.0, f"s01's newest state came {latency:.2f} s after its publish"
    assert fast_still_there
    assert fast_closed == []
    assert ended, "the server kept the dropped browser's connection open"
    assert stuck.close_code() in (None, 1013)


# Acting ------------------------------------------------------------------------------------


async def test_an_auditor_may_not_act_and_a_nurses_acknowledge_goes_out_under_her_name(
    served: Served, bus: Bus
) -> None:
    await infusing(bus, "c01")
    await cuff(bus, "c01", 190, 95, seq=10_000)
    raised = await bus.wait_for(
        lambda: transitions(bus, "c01", kind="sbp_high", state="active"),
        what="sbp_high on c01",
    )  # fmt: skip
    alarm = raised[0]["alarm"]
    ack = {"action": "acknowledge", "chair": "c01", "alarm": alarm}

    async with open_ws(served, await login(served, "auditor.ann")) as auditor:
        await auditor.send(json.dumps({"id": "a-1", **ack}))
        refused = await next_message(auditor, lambda m: m["type"] == "result")
    async with open_ws(served, await login(served, "nurse.kim")) as nurse:
        await nurse.send(json.dumps({"id": "n-1", **ack}))
        accepted = await next_message(nurse, lambda m: m["type"] == "result")
    acknowledged = await bus.wait_for(
        lambda: transitions(bus, "c01", alarm=alarm, state="acknowledged"),
        what="the acknowledged transition",
    )  # fmt: skip
    commands = bus.on("/command", "c01")

    assert refused["id"] == "a-1"
    assert refused["ok"] is False
    assert "auditor" in refused["error"]
    assert accepted == {"type": "result", "id": "n-1", "ok": True}
    assert len(commands) == 1
    assert commands[0]["command"] == "acknowledge"
    assert commands[0]["alarm"] == alarm
    assert commands[0]["by"] == "nurse.kim"
    assert acknowledged[0]["acknowledged_by"] == "nurse.kim"


async def test_an_action_the_contract_would_refuse_is_answered_not_sent(
    served: Served, bus: Bus
) -> None:
    await infusing(bus, "c01")

    async with open_ws(served, await login(served, "nurse.kim")) as nurse:
        results = []
        for ident, action in enumerate(
            [
                {"action": "admit", "chair": "c01", "patient": ""},
                {"action": "reboot", "chair": "c01"},
                {"action": "discharge", "chair": "../#"},
                {"action": "pause_audio", "chair": "c01", "seconds": 60},  # a good one, last
            ]
        ):
            await nurse.send(json.dumps({"id": ident, **action}))
            results.append(await next_message(nurse, lambda m: m["type"] == "result"))
    paused = await bus.wait_for(lambda: bus.on("/command", "c01"), what="the pause_audio command")

    assert [r["ok"] for r in results] == [False, False, False, True]
    assert [c["command"] for c in paused] == ["pause_audio"]
    assert paused[0]["by"] == "nurse.kim"
    assert [s["command"] for s in bus.on("/session", "c01")] == ["admit"]  # the scripted one


# HTTP --------------------------------------------------------------------------------------


async def test_the_chair_api_needs_a_login_and_health_does_not(served: Served) -> None:
    token = await login(served, "auditor.ann")
    async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
        anonymous = await http.get("/api/chairs")
        health = await http.get("/healthz")
        metrics = await http.get("/metrics")
        page = await http.get("/")
        http.cookies.set(COOKIE, token)
        logged_in = await http.get("/api/chairs")

    assert anonymous.status_code == 401
    assert health.status_code == 200
    assert metrics.status_code == 200
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert logged_in.status_code == 200
    assert logged_in.json() == []


async def test_the_session_view_data_needs_a_login_and_serves_a_logged_in_nurse(
    served: Served, bus: Bus
) -> None:
    await infusing(bus, "c01")
    await until(lambda: "c01" in served.hub.chairs, within_s=5, what="c01 at the hub")
    token = await login(served, "nurse.kim")
    async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
        anonymous = await http.get("/api/dashboard/session/c01")
        http.cookies.set(COOKIE, token)
        logged_in = await http.get("/api/dashboard/session/c01")
        unknown = await http.get("/api/dashboard/session/c99")

    assert anonymous.status_code == 401, anonymous.text
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["chair"]["chair"] == "c01"
    assert set(logged_in.json()["history"]) >= {"hr", "spo2", "sbp", "dbp"}
    assert unknown.status_code == 404, unknown.text


async def test_a_wrong_password_sets_no_cookie(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        response = await http.post("/login", data={"username": "nurse.kim", "password": "guess"})

    assert response.status_code == 303
    assert response.headers["location"] == "/login?error=1"
    assert COOKIE not in response.cookies
