"""A note and a limit change during a session, through a real Mosquitto: the record keeps each
with who did it, the chair's state carries the new limits, and the next cuff is judged by them;
without an open session, or with a limit outside its range, the command is refused and kept."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.app import Service
from monitor.wire.payloads import parse_event_time
from tests.integration.conftest import Bus, StartService, until
from tests.integration.sessions import ScriptedSession, at, topic

pytestmark = pytest.mark.integration


def _events(service: Service, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in service.recorder.events(type=kind)]


def _refused(service: Service, command: str) -> list[str]:
    return [e["reason"] for e in _events(service, "CommandRejected") if e["command"] == command]


async def test_a_note_and_new_limits_are_recorded_and_the_next_cuff_follows_them(
    start_service: StartService, bus: Bus
) -> None:
    service = await start_service()
    bp = lambda minute: (175.0, 85.0) if minute >= 12 else (120.0, 80.0)  # noqa: E731
    session = ScriptedSession("c01", bp=bp, every_s=10, end_min=15, discharge=False)
    await bus.publish(topic("c02", "command"),
                      {"ts": at(1), "command": "note", "text": "no patient here", "by": "kim"})  # fmt: skip
    await bus.send(session.messages())
    state = await bus.settled("c01", at(15))
    assert state["limits"]["sbp_high"] == 180
    assert not [a for a in bus.alarms("c01") if a["kind"] == "sbp_high"]  # 175 < 180

    note = {"ts": at(15) + 1, "command": "note", "text": "BP re-cuffed on left arm", "by": "kim"}
    change = {"ts": at(15) + 2, "command": "set_limits", "limits": {"sbp_high": 170},
              "by": "dr.lee"}  # fmt: skip
    await bus.send([(topic("c01", "command"), note), (topic("c01", "command"), change)])
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", "c01") if s["limits"]["sbp_high"] == 170],
        what="the new limit in the chair's state",
    )
    reading = {"ts": at(16), "seq": 999, "hr": 72, "spo2": 98, "nibp": {"sys": 175, "dia": 85}}
    await bus.publish(topic("c01", "vitals"), reading)
    (alarm,) = await bus.wait_for(
        lambda: [a for a in bus.alarms("c01") if a["kind"] == "sbp_high"], what="sbp_high"
    )
    assert (alarm["state"], alarm["limit"], alarm["value"]) == ("active", 170, 175)
    assert parse_event_time(alarm["ts"]) == at(16)

    wide = {"ts": at(16) + 1, "command": "set_limits", "limits": {"sbp_high": 300}, "by": "kim"}
    await bus.publish(topic("c01", "command"), wide)
    reasons = await until(lambda: _refused(service, "set_limits"), within_s=10, what="refusal")
    assert "sbp_high 300 is outside its clinical range 140-240 mmHg" in reasons[0]

    sid = state["session"]
    (noted,) = await until(lambda: _events(service, "NoteAdded"), within_s=10, what="the note")
    assert noted == {"ts": at(15) + 1, "session": sid, "text": "BP re-cuffed on left arm",
                     "by": "kim"}  # fmt: skip
    (changed,) = _events(service, "LimitsChanged")
    assert changed["session"] == sid
    assert (changed["changes"], changed["by"]) == ({"sbp_high": [180.0, 170.0]}, "dr.lee")
    assert "open session" in _refused(service, "note")[0]
    latest = bus.on("/state", "c01")[-1]
    assert latest["limits"]["sbp_high"] == 170  # the refused change changed nothing
