"""The record of a live service's session, run again through the core, gives the same alarms
and recovery: a real Mosquitto, a real `infusion-monitor serve` recording to SQLite, a whole
session published (admission, baseline cuffs, start, a high SBP acknowledged, stop, back to
baseline, discharge), the service stopped, then `rerun_session` over the record it kept."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.audit.rerun import differences, rerun_session
from monitor.broker import Mosquitto
from monitor.record import open_recorder
from monitor.settings import Settings
from tests.integration.conftest import ROOT, SITE, Bus, Received
from tests.integration.processes import serve_process
from tests.integration.sessions import topic

pytestmark = pytest.mark.integration

CHAIR = "c01"
T0 = float(round(time.time()) - 7200)  # event time of the admission: two hours ago
EVERY_S = 10
BASELINE_CUFFS_MIN = (2, 5, 8)
START_MIN, STOP_MIN, END_MIN = 10, 20, 26
CUFFS_MIN = (*BASELINE_CUFFS_MIN, 12, 14, 16, 22, 25)
HIGH_CUFF_MIN = 14  # 190/100: sbp_high (and sbp_rise under it)
ACK_AT = T0 + HIGH_CUFF_MIN * 60 + 20  # the next cuff, 100 s later, is back to baseline
Message = tuple[str, dict[str, Any]]


def _session() -> list[Message]:
    """The monitor's readings every 10 s with the cuffs, and the pump's start and stop."""
    out: list[Message] = [(topic(CHAIR, "session"), {"ts": T0, "command": "admit",
                                                     "patient": "P-0042", "by": "nurse.kim"})]  # fmt: skip
    steps = {START_MIN * 60: "start", STOP_MIN * 60: "stop"}
    for seq, second in enumerate(range(EVERY_S, END_MIN * 60 + 1, EVERY_S), 1):
        if second in steps:
            event = {"ts": T0 + second, "event": steps[second], "by": "nurse.kim"}
            out.append((topic(CHAIR, "infusion"), {**event, "drug": "ketamine"}))
        reading: dict[str, Any] = {"ts": T0 + second, "seq": seq, "hr": 72, "spo2": 98}
        if second % 60 == 0 and second // 60 in CUFFS_MIN:
            high = second // 60 == HIGH_CUFF_MIN
            reading["nibp"] = {"sys": 190, "dia": 100} if high else {"sys": 122, "dia": 80}
        out.append((topic(CHAIR, "vitals"), reading))
    return out


async def test_the_rerun_of_a_live_session_reproduces_its_alarms_and_recovery(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    db, log = tmp_path / "record.db", tmp_path / "service.log"
    messages = _session()
    before = [m for m in messages if m[1]["ts"] <= ACK_AT]
    after = [m for m in messages if m[1]["ts"] > ACK_AT]
    discharge_at = T0 + END_MIN * 60 + 1

    async with serve_process(mosquitto.port, f"sqlite:///{db}", log=log) as service:
        await bus.wait_for(_online(bus), within_s=20, what="the service online")
        await bus.send(before)
        [raised] = await bus.wait_for(
            lambda: [a for a in bus.alarms(CHAIR) if a["kind"] == "sbp_high"],
            what=f"sbp_high (see {log})",
        )
        ack = {"ts": ACK_AT, "command": "acknowledge", "alarm": raised["alarm"], "by": "nurse.ana"}
        await bus.publish(topic(CHAIR, "command"), ack)
        await bus.send(after)
        discharge = {"ts": discharge_at, "command": "discharge", "by": "nurse.kim"}
        await bus.publish(topic(CHAIR, "session"), discharge)
        await bus.wait_for(
            lambda: [r for r in bus.on("/recovery", CHAIR) if r["status"] == "recovered"],
            what="recovered",
        )
        await bus.settled(CHAIR, discharge_at)
        service.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(service.wait(), 15) == 0, f"see {log}"

    recorder = open_recorder(f"sqlite:///{db}")
    try:
        [session] = recorder.sessions(SITE)
        rerun = rerun_session(recorder, session.id, Settings(site=SITE, root=ROOT))
    finally:
        recorder.close()

    assert differences(rerun) == []
    assert session.closed_at == discharge_at
    stories = [(a.kind, a.state, a.acknowledged_by) for a in rerun.recorded_alarms]
    assert ("sbp_high", "active", None) in stories
    assert ("sbp_high", "acknowledged", "nurse.ana") in stories
    assert ("sbp_high", "cleared", "nurse.ana") in stories
    assert [r.entry for r in rerun.alarms] == list(rerun.recorded_alarms)
    statuses = [e.data["status"] for e in rerun.recorded_recovery]
    assert "recovered" in statuses
    assert len(rerun.recovery) == len(rerun.recorded_recovery)


def _online(bus: Bus) -> Callable[[], list[Received]]:
    status = f"{ROOT}/{SITE}/monitor/status"
    return lambda: [r for r in bus.seen if r.topic == status and r.payload.get("state") == "online"]
