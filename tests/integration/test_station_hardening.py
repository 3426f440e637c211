"""The station and the HTTP side against the real service and a real Mosquitto: a malformed
retained message cannot crash them, logins are throttled and bodies bounded, every response
forbids framing, and logging out ends that login's websockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from monitor.broker import free_port, wait_for_port
from tests.integration.conftest import ROOT, SITE, Bus, StartService, until
from tests.integration.test_dashboard_ws import (
    USERS,
    cuff,
    served,
)

pytestmark = pytest.mark.integration
__all__ = ["served"]  # the fixture, shared with the websocket tests


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
