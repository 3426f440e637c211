"""A simulated clinic through a real Mosquitto into the service: each chair runs one scenario,
with its own monitor connection and Last Will, and the service raises what each should cause."""

from __future__ import annotations

import time

import pytest

from monitor.app import Service
from simulators.clinic import clinic_messages
from simulators.publish import publish
from simulators.scenarios import load_scenarios
from simulators.story import Address
from tests.integration.conftest import SITE, Bus, StartService

pytestmark = pytest.mark.integration

NAMED = ["calm", "hypertensive", "desaturation", "vasovagal", "slow-recovery", "unplugged",
         "probe-off", "artefact-storm"]  # fmt: skip


async def test_each_chair_of_a_simulated_clinic_gets_the_alarms_of_its_scenario(
    start_service: StartService, bus: Bus
) -> None:
    service: Service = await start_service()
    port = service.settings.broker_address().port
    scenarios = load_scenarios()
    messages = list(
        clinic_messages(
            chairs=len(NAMED), seed=21, address=Address("clinic", SITE, time.time() - 7200),
            scenario=",".join(NAMED), stagger_s=0,
            until_s=6300,
        )
    )  # fmt: skip
    sent = await publish(messages, host="127.0.0.1", port=port, speed=0)
    assert sent > len(NAMED) * 5000

    last = {m.chair: m for m in messages if m.topic.endswith("/vitals")}
    for chair in last:
        await bus.wait_for(
            lambda chair=chair: _processed(service, chair, last[chair].payload),
            within_s=60, what=f"{chair} processed",
        )  # fmt: skip
    for index, name in enumerate(NAMED, 1):
        chair = f"c{index:02d}"
        raised = {a["kind"] for a in bus.alarms(chair) if a.get("previous_state") is None}
        assert set(scenarios[name].expect) <= raised, (chair, name, raised)
        assert raised.isdisjoint(scenarios[name].forbid), (chair, name, raised)
    # The simulator has stopped: its monitors said so, rather than leave a retained `online`.
    await bus.wait_for(
        lambda: all(service.clinic.chair(c).state.device_online is False for c in last),
        within_s=10, what="every simulated monitor offline once the simulator stopped",
    )  # fmt: skip


def _processed(service: Service, chair: str, payload: bytes) -> bool:
    text = payload.decode()
    return any(m.payload == text for m in service.recorder.messages(chair=chair))
