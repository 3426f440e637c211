"""The projector: alarms and recovery updates go out once each; a chair's retained state goes
out at once when something happened, otherwise once per tick, and again on a heartbeat."""

from __future__ import annotations

import json

from monitor.domain.clinic import Clinic
from monitor.domain.commands import Admit
from monitor.domain.vitals import Reading
from monitor.pipeline.projector import Projector
from monitor.wire.outbound import Outgoing

T0 = 1_795_000_000.0


def _setup(heartbeat_s: float = 15.0) -> tuple[Clinic, Projector]:
    clinic = Clinic()
    return clinic, Projector(clinic, site="north", root="clinic", heartbeat_s=heartbeat_s)


def _topics(outgoing: list[Outgoing]) -> list[str]:
    return [m.topic for m in outgoing]


def test_an_alarm_goes_out_with_the_chairs_state_at_once() -> None:
    clinic, projector = _setup()
    reports = clinic.handle("c01", Reading(ts=T0, seq=1, sbp=190, dbp=100), wall=T0)

    outgoing = projector.message(reports, T0)

    assert _topics(outgoing) == ["clinic/north/chair/c01/alarm", "clinic/north/chair/c01/state"]
    alarm = json.loads(outgoing[0].payload)
    assert (alarm["kind"], alarm["state"], alarm["chair"]) == ("sbp_high", "active", "c01")
    assert outgoing[1].retain
    assert not outgoing[0].retain


def test_new_values_alone_wait_for_the_tick_and_go_out_once() -> None:
    clinic, projector = _setup()
    projector.message(clinic.handle("c01", Admit(T0, "P-1"), wall=T0), T0)
    quiet = [
        projector.message(
            clinic.handle("c01", Reading(ts=T0 + i, seq=i, hr=70), wall=T0 + i), T0 + i
        )
        for i in range(1, 6)
    ]

    ticked = projector.tick(clinic.tick(T0 + 6), T0 + 6)
    again = projector.tick(clinic.tick(T0 + 7), T0 + 7)

    assert quiet == [[], [], [], [], []]
    assert _topics(ticked) == ["clinic/north/chair/c01/state"]
    assert json.loads(ticked[0].payload)["vitals"]["hr"]["value"] == 70
    assert again == []


def test_a_quiet_chair_is_published_again_on_its_heartbeat() -> None:
    clinic, projector = _setup(heartbeat_s=15)
    projector.message(clinic.handle("c01", Admit(T0, "P-1"), wall=T0), T0)

    before = projector.tick(clinic.tick(T0 + 14), T0 + 14)
    beat = projector.tick(clinic.tick(T0 + 15), T0 + 15)

    assert before == []
    assert _topics(beat) == ["clinic/north/chair/c01/state"]


def test_a_refused_chair_gets_no_tile() -> None:
    clinic = Clinic(chairs=["c01"])
    projector = Projector(clinic, site="north", root="clinic")

    outgoing = projector.message(clinic.handle("c09", Reading(ts=T0, hr=70), wall=T0), T0)

    assert outgoing == []
    assert _topics(projector.states(T0)) == ["clinic/north/chair/c01/state"]


def test_the_status_is_retained_and_says_online_or_offline() -> None:
    _, projector = _setup()

    online, will = projector.status(True, T0), projector.status(False, None)

    assert online.topic == will.topic == "clinic/north/monitor/status"
    assert online.retain
    assert will.retain
    assert json.loads(online.payload)["state"] == "online"
    assert json.loads(will.payload)["state"] == "offline"
