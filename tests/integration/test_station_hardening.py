"""The station and the HTTP side against the real service and a real Mosquitto: a malformed
retained message cannot crash them, logins are throttled and bodies bounded, every response
forbids framing, and logging out ends that login's websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser
from websockets.exceptions import ConnectionClosed

from dashboard.auth import ADDRESS_FAILURES, COOKIE, USER_FAILURES
from monitor.broker import free_port, wait_for_port
from tests.integration.conftest import ROOT, SITE, Bus, StartService, until
from tests.integration.test_dashboard_browser import (
    Running,
    Station,
    browser,
    running,
    station,
    station_page,
)
from tests.integration.test_dashboard_ws import (
    PASSWORDS,
    USERS,
    Served,
    cuff,
    login,
    next_message,
    open_ws,
    served,
)

pytestmark = pytest.mark.integration
__all__ = [
    "browser",
    "running",
    "served",
    "station",
]  # fixtures, shared with the dashboard's other tests


def broken_state(chair: str) -> dict[str, Any]:
    """A chair's state as a faulty publisher might leave it: a vital whose value is no number."""
    return {"ts": "2026-11-16T08:00:00.000Z", "site": SITE, "chair": chair, "session": "S-1",
            "patient": "P-1", "phase": "infusing",
            "vitals": {"hr": {"value": [72], "ts": "2026-11-16T08:00:00.000Z", "age_s": 0}}}  # fmt: skip


async def test_a_malformed_retained_state_neither_stops_the_service_nor_hides_other_chairs(
    start_service: StartService, bus: Bus
) -> None:
    await bus.publish(f"{ROOT}/{SITE}/chair/c09/state", broken_state("c09"), retain=True)
    await bus.publish(f"{ROOT}/{SITE}/chair/c08/state", broken_state("c07"), retain=True)
    port = free_port()
    service = await start_service(http=f"127.0.0.1:{port}", users=USERS)
    await wait_for_port(port, within_s=10)
    assert service.station is not None
    hub = service.station.hub

    for n, chair in enumerate(("c01", "c02")):
        await cuff(bus, chair, 120, 80, seq=n)
    await until(lambda: {"c01", "c02"} <= set(hub.chairs), within_s=10, what="the good chairs")
    await until(lambda: hub.refusals.count >= 2, within_s=5, what="the bad states refused")
    await asyncio.sleep(0.5)  # the service's own tick and heartbeat go on

    assert hub.chairs.keys() == {"c01", "c02"}
    assert set(hub.refusals.by_topic) == {
        f"{ROOT}/{SITE}/chair/c09/state",
        f"{ROOT}/{SITE}/chair/c08/state",
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200
    await bus.publish(f"{ROOT}/{SITE}/chair/c09/state", b"", retain=True)
    await bus.publish(f"{ROOT}/{SITE}/chair/c08/state", b"", retain=True)


# Logins and bodies -------------------------------------------------------------------------


async def post_login(served: Served, name: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        return await http.post("/login", data={"username": name, "password": password})


async def test_five_wrong_passwords_lock_the_name_and_the_right_one_then_gets_the_same_answer(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dashboard.web"):
        wrong = [await post_login(served, "nurse.kim", f"guess-{n}") for n in range(USER_FAILURES)]
        right = await post_login(served, "nurse.kim", PASSWORDS["nurse.kim"])
        other = await post_login(served, "nurse.sam", PASSWORDS["nurse.sam"])

    assert [r.headers["location"] for r in wrong] == ["/login?error=1"] * USER_FAILURES
    assert (right.status_code, right.headers["location"]) == (303, "/login?error=1")
    assert COOKIE not in right.cookies
    assert other.headers["location"] == "/"
    messages = [r.getMessage() for r in caplog.records if r.name == "dashboard.web"]
    assert sum("failed login for user 'nurse.kim' from 127.0.0.1" in m for m in messages) == 6
    assert any("refused, user name locked" in m for m in messages)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [("user name locked" in r.getMessage()) for r in warnings] == [True]
    assert not any("guess-" in m or PASSWORDS["nurse.kim"] in m for m in messages)


async def test_twenty_failures_a_minute_from_one_address_lock_every_name_from_it(
    served: Served,
) -> None:
    for n in range(ADDRESS_FAILURES):
        await post_login(served, f"someone.{n}", "guess")

    right = await post_login(served, "nurse.sam", PASSWORDS["nurse.sam"])

    assert right.headers["location"] == "/login?error=1"


@pytest.mark.parametrize(("proto", "secure"), [(None, False), ("https", True)])
async def test_the_cookie_is_secure_when_a_trusted_proxy_says_the_request_came_over_https(
    served: Served, proto: str | None, secure: bool
) -> None:
    """uvicorn trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS (by default the local host)."""
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    form = {"username": "nurse.kim", "password": PASSWORDS["nurse.kim"]}
    async with httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        response = await http.post("/login", data=form, headers=headers)

    assert response.headers["location"] == "/"
    assert ("; secure" in response.headers["set-cookie"].lower()) is secure


async def test_a_huge_login_body_is_refused_before_it_is_read(served: Served) -> None:
    """250 MB announced, and 250 MB streamed: 413 after a few KiB, and the rest is never read."""
    declared = await raw_post(served, b"Content-Length: 250000000\r\n", stream=False)
    streamed = await raw_post(served, b"Transfer-Encoding: chunked\r\n", stream=True)

    assert declared[0].startswith(b"HTTP/1.1 413")
    assert streamed[0].startswith(b"HTTP/1.1 413")
    assert streamed[1] < 16 * 2**20  # sent before the answer came, TCP buffers included


async def raw_post(served: Served, framing: bytes, *, stream: bool) -> tuple[bytes, int]:
    """POST /login over a bare socket; the status line and how many body bytes went out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    head = b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing
    writer.write(head + b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
    answer = asyncio.create_task(reader.readline())
    sent, chunk = 0, b"a" * 65536
    with contextlib.suppress(ConnectionError):
        while not answer.done() and sent < 250_000_000:
            body = b"%x\r\n%s\r\n" % (len(chunk), chunk) if stream else chunk
            writer.write(body)
            sent += len(chunk)
            await asyncio.wait({answer}, timeout=0.001 if stream else 0.01)
            await asyncio.wait_for(writer.drain(), 5)
    status = await asyncio.wait_for(answer, 5)
    writer.close()
    return status, sent


# Logging out -------------------------------------------------------------------------------


async def test_logging_out_closes_that_logins_websocket_and_what_it_sends_is_not_done(
    served: Served, bus: Bus
) -> None:
    first, second = await login(served, "nurse.kim"), await login(served, "nurse.kim")
    pause = {"action": "pause_audio", "chair": "c01", "seconds": 60}

    async with open_ws(served, first) as leaving, open_ws(served, second) as staying:
        await next_message(leaving, lambda m: m["type"] == "hello")
        await next_message(staying, lambda m: m["type"] == "hello")
        async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
            out = await http.post("/logout", headers={"Cookie": f"{COOKIE}={first}"})
        with contextlib.suppress(ConnectionClosed):
            await leaving.send(json.dumps({"id": "after-logout", **pause}))
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(leaving, lambda m: m["type"] == "result")
        await staying.send(json.dumps({"id": "still-in", **pause, "chair": "c02"}))
        result = await next_message(staying, lambda m: m["type"] == "result")
    sent = await bus.wait_for(lambda: bus.on("/command", "c02"), what="the second login's pause")

    assert out.status_code == 303
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401  # the page goes to the login
    assert result == {"type": "result", "id": "still-in", "ok": True}
    assert [c["command"] for c in sent] == ["pause_audio"]
    assert bus.on("/command", "c01") == []


# Metrics and headers on the service's own routes ---------------------------------------------


async def test_metrics_behind_their_token_and_every_route_with_the_security_headers(
    start_service: StartService,
) -> None:
    port = free_port()
    await start_service(http=f"127.0.0.1:{port}", users=USERS, metrics_token="m3trics-t0ken")
    await wait_for_port(port, within_s=10)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer m3trics-t0ken"})
        others = [await http.get(path) for path in ("/healthz", "/login", "/", "/api/chairs")]

    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "infusion_messages_total" in right.text
    for response in [anonymous, right, *others]:
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


# Framing -----------------------------------------------------------------------------------


@pytest.fixture(params=["running", "station"])  # the service's station, a second station
def framed(request: pytest.FixtureRequest) -> Running | Station:
    found: Running | Station = request.getfixturevalue(request.param)
    return found


@pytest.mark.parametrize("where", ["/", "/login"])
async def test_another_origin_cannot_frame_the_logged_in_station(
    framed: Running | Station, browser: Browser, where: str
) -> None:
    """A page on another port of the same host (same site, so the Strict cookie would go along)
    frames the station; Chromium refuses the frame, and it never shows the station."""
    running = framed
    screen = await station_page(browser, running.base)
    html = f'<!doctype html><iframe id="f" src="{running.base}{where}"></iframe>'
    async with serving_page(html) as framing_origin:
        page = await screen.page.context.new_page()
        await page.goto(f"{framing_origin}/evil.html")
        await page.wait_for_load_state("load")
        await asyncio.sleep(1.0)  # a station that loaded would have drawn by now
        frame = next(f for f in page.frames if f is not page.main_frame)
        shown = await frame.locator("#logout, #login-form").count()

    assert frame.url == "chrome-error://chromewebdata/"  # Chromium refused to show it
    assert shown == 0


@contextlib.asynccontextmanager
async def serving_page(html: str) -> AsyncIterator[str]:
    """A web server of another origin (another port of this host) that answers `html`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        body = html.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()
