"""The service's HTTP side against a real broker: health, metrics and the read-only chair API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import TypeAdapter

from dashboard.auth import hash_password
from monitor.app import Service
from monitor.broker import Mosquitto, free_port, wait_for_port
from monitor.wire.outbound import ChairStateOut
from tests.integration.conftest import SITE, Bus, StartService
from tests.integration.sessions import ScriptedSession

pytestmark = pytest.mark.integration

NURSE, PASSWORD = "nurse.kim", "correct horse battery"
PATIENT = "Ada Lovelace"  # a name, so that a leak into /healthz would show
CHAIRS = TypeAdapter(list[ChairStateOut])


@pytest.fixture
async def served(start_service: StartService) -> Service:
    port = free_port()
    users = {NURSE: {"role": "nurse", "password_hash": hash_password(PASSWORD)}}
    service = await start_service(http=f"127.0.0.1:{port}", users=users)
    await wait_for_port(port, within_s=10)
    return service


@pytest.fixture
async def http(served: Service) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as a nurse: the API, like the pages, needs a login."""
    base = f"http://127.0.0.1:{served.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        login = await client.post("/login", data={"username": NURSE, "password": PASSWORD})
        assert login.status_code == 303
        assert login.headers["location"] == "/"
        yield client


async def test_the_api_needs_a_login(served: Service) -> None:
    base = f"http://127.0.0.1:{served.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as anonymous:
        assert (await anonymous.get("/api/chairs")).status_code == 401
        assert (await anonymous.get("/")).status_code == 303
        wrong = await anonymous.post("/login", data={"username": NURSE, "password": "nope"})
        assert wrong.headers["location"] == "/login?error=1"
        assert (await anonymous.get("/healthz")).status_code == 200


async def _admit(bus: Bus) -> tuple[ScriptedSession, dict[str, object]]:
    session = ScriptedSession("c01", patient=PATIENT, end_min=12, every_s=30, discharge=False)
    await bus.send(session.messages())
    state = await bus.settled("c01", session.last_ts)
    return session, state


async def test_healthz_is_ready_with_the_broker_connected_and_names_no_patient(
    http: httpx.AsyncClient, bus: Bus
) -> None:
    await _admit(bus)
    response = await http.get("/healthz")

    assert response.status_code == 200
    health = response.json()
    assert health["ready"] is True
    assert health["broker"]["connected"] is True
    assert health["site"] == SITE
    assert health["chairs"] == 1
    assert PATIENT not in response.text


async def test_api_chairs_shows_each_chair_as_on_its_state_topic(
    http: httpx.AsyncClient, bus: Bus
) -> None:
    _, published = await _admit(bus)
    response = await http.get("/api/chairs")

    assert response.status_code == 200
    chairs = CHAIRS.validate_python(response.json())
    assert [(c.site, c.chair, c.patient, c.phase) for c in chairs] == [
        (SITE, "c01", PATIENT, "infusing")
    ]
    assert chairs[0].session == published["session"]
    assert chairs[0].baseline is not None
    assert chairs[0].baseline.frozen is True

    one = await http.get(f"/api/chairs/{SITE}/c01")
    assert one.status_code == 200
    assert ChairStateOut.model_validate(one.json()).session == published["session"]


async def test_api_unknown_chair_or_site_is_404(http: httpx.AsyncClient, bus: Bus) -> None:
    await _admit(bus)

    assert (await http.get(f"/api/chairs/{SITE}/nope")).status_code == 404
    assert (await http.get("/api/chairs/elsewhere/c01")).status_code == 404


async def test_metrics_are_prometheus_text_counting_messages(
    http: httpx.AsyncClient, bus: Bus
) -> None:
    session, _ = await _admit(bus)
    readings = sum(1 for where, _ in session.messages() if where.endswith("/vitals"))
    response = await http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE infusion_messages_total counter" in response.text
    line = f'infusion_messages_total{{kind="vitals",outcome="accepted"}} {float(readings)}'
    assert line in response.text.splitlines()


async def test_healthz_turns_503_not_ready_when_the_broker_goes_away(
    http: httpx.AsyncClient, mosquitto: Mosquitto
) -> None:
    assert (await http.get("/healthz")).status_code == 200

    await mosquitto.stop()
    deadline = time.monotonic() + 5
    response = await http.get("/healthz")
    while response.status_code != 503 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        response = await http.get("/healthz")

    assert response.status_code == 503
    health = response.json()
    assert health["ready"] is False
    assert health["broker"]["connected"] is False


async def test_without_a_station_the_services_own_pages_still_refuse_framing_and_sniffing(
    start_service: StartService,
) -> None:
    port = free_port()
    service = await start_service(http=f"127.0.0.1:{port}", dashboard=False)
    await wait_for_port(port, within_s=10)
    assert service.station is None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        answers = [await client.get(path) for path in ("/healthz", "/metrics", "/nowhere")]

    for answer in answers:
        assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert [a.status_code for a in answers] == [200, 200, 404]
