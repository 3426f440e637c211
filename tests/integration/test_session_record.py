"""The session view reads the store: after a restart it still shows the whole session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from dashboard.auth import hash_password
from monitor.app import Service
from monitor.broker import Mosquitto, free_port, wait_for_port
from monitor.cli import build_service
from monitor.settings import load_settings
from tests.integration.conftest import SITE, Bus
from tests.integration.sessions import ScriptedSession, at, topic

pytestmark = pytest.mark.integration
USERS = {"kim": {"role": "nurse", "password_hash": hash_password("a long password")}}


async def _run(mosquitto: Mosquitto, db: Path, port: int) -> tuple[Service, asyncio.Task[None]]:
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{mosquitto.port}", site=SITE, db=f"sqlite:///{db}",
        http=f"127.0.0.1:{port}", users=USERS, tick_s=0.1,
    )  # fmt: skip
    service = build_service(settings)
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.link.connected.wait(), 10)
    await wait_for_port(port, within_s=10)
    return service, task


async def test_the_session_view_shows_the_stored_session_after_a_restart(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    def bp(minute: float) -> tuple[float, float]:
        return (190.0, 100.0) if 20 <= minute < 25 else (124.0, 80.0)

    port, db = free_port(), tmp_path / "audit.db"
    session = ScriptedSession("c01", bp=bp, every_s=10, end_min=40, discharge=False)
    service, task = await _run(mosquitto, db, port)
    await bus.send(session.messages())
    ack = {"ts": at(26), "command": "acknowledge", "alarm": "sbp_high", "by": "kim"}
    await bus.publish(topic("c01", "command"), ack)
    await bus.wait_for(
        lambda: [a for a in bus.alarms("c01") if a["state"] == "cleared"], what="ack"
    )
    await asyncio.sleep(0.5)
    service.stop()
    await asyncio.wait_for(task, 15)

    service, task = await _run(mosquitto, db, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            await http.post("/login", data={"username": "kim", "password": "a long password"})
            record = (await http.get("/api/dashboard/session/c01")).json()
    finally:
        service.stop()
        await asyncio.wait_for(task, 15)

    hr = record["history"]["hr"]
    assert len(hr) == 40 * 6  # every reading since admission, from before the restart too
    assert hr[0][0] == pytest.approx(at(0) + 10)
    assert [p[1] for p in record["history"]["sbp"]].count(190.0) >= 1
    states = [(a["kind"], a["state"], a["acknowledged_by"]) for a in record["alarms"]]
    assert ("sbp_high", "active", None) in states
    assert ("sbp_high", "cleared", "kim") in states
