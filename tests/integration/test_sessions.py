"""Whole sessions through a real Mosquitto into the service, at compressed time."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from monitor.replay import read_journal, replay
from monitor.settings import load_settings
from tests.integration.conftest import SITE, Bus, StartService
from tests.integration.sessions import T0, ScriptedSession, at, topic

pytestmark = pytest.mark.integration


def _recovery_bp(minute: float) -> tuple[float, float]:
    """A usual ketamine response: up by ~16/11 at the end of the infusion, back within minutes."""
    if minute < 10:
        return 120.0, 80.0
    if minute <= 50:
        rise = (minute - 10) / 40
        return 120 + 16 * rise, 80 + 11 * rise
    return 120 + 16 * 0.5 ** ((minute - 50) / 2), 80 + 11 * 0.5 ** ((minute - 50) / 2)


async def test_calm_session_raises_nothing_and_recovers_inside_20_minutes(
    start_service: StartService, bus: Bus
) -> None:
    await start_service()
    session = ScriptedSession("c01", bp=_recovery_bp)
    await bus.send(session.messages())
    state = await bus.settled("c01", session.last_ts + 1)

    assert bus.alarms("c01") == []
    statuses = [r["status"] for r in bus.on("/recovery", "c01")]
    assert statuses[0] == "watching"
    assert "recovered" in statuses
    assert "overdue" not in statuses
    recovered = next(r for r in bus.on("/recovery", "c01") if r["status"] == "recovered")
    assert 0 < recovered["minutes_since_stop"] <= 20
    assert recovered["baseline"] == {"sbp": 120.0, "dbp": 80.0, "hr": 72.0, "spo2": 98.0}
    assert state["phase"] == "discharged"


async def test_hypertensive_response_raises_sbp_high_at_the_first_reading_over_the_limit(
    start_service: StartService, bus: Bus
) -> None:
    await start_service()

    def bp(minute: float) -> tuple[float, float]:
        return (120.0, 80.0) if minute < 10 else (150 + (minute - 10) * 2, 90.0)

    session = ScriptedSession("c02", bp=bp, end_min=40, discharge=False)
    await bus.send(session.messages())
    await bus.settled("c02", session.last_ts)

    high = [a for a in bus.alarms("c02") if a["kind"] == "sbp_high"]
    first_over = min(m for m in session.cuff_minutes() if m >= 10 and bp(m)[0] > 180)
    assert high[0]["state"] == "active"
    assert high[0]["ts"] == _rfc3339(at(first_over))
    assert high[0]["value"] == bp(first_over)[0]
    assert high[0]["limit"] == 180
    assert high[0]["priority"] == "high"
    assert high[0]["class"] == "physiological"
    assert high[0]["text"] == f"SBP {bp(first_over)[0]:g} > 180 mmHg"
    assert high[0]["patient"] == "P-0042"
    assert high[0]["site"] == SITE
    assert len({a["alarm"] for a in high}) == 1  # one alarm per chair and kind


async def test_spo2_dip_shorter_than_its_delay_raises_nothing_and_a_sustained_one_does(
    start_service: StartService, bus: Bus
) -> None:
    await start_service()

    def short_dip(minute: float) -> float:
        return 87.0 if 20 <= minute * 60 - 1200 < 30 else 98.0  # 10 s at 87 %

    def long_dip(minute: float) -> float:
        return 87.0 if 0 <= minute * 60 - 1200 < 40 else 98.0  # 40 s at 87 %

    short = ScriptedSession("c03", spo2=short_dip, every_s=1, end_min=22, discharge=False)
    long = ScriptedSession("c04", spo2=long_dip, every_s=1, end_min=22, discharge=False)
    await bus.send(short.messages())
    await bus.send(long.messages())
    await bus.settled("c03", short.last_ts)
    await bus.settled("c04", long.last_ts)

    assert [a for a in bus.alarms("c03") if a["kind"] == "spo2_low"] == []
    raised = [a for a in bus.alarms("c04") if a["kind"] == "spo2_low"]
    assert raised[0]["state"] == "active"
    assert raised[0]["ts"] == _rfc3339(at(20) + 15)  # after the 15 s condition delay
    assert raised[-1]["state"] == "latched"  # high priority, nobody acknowledged


async def test_missed_window_gives_recovery_overdue_then_recovered_late(
    start_service: StartService, bus: Bus
) -> None:
    await start_service()

    def bp(minute: float) -> tuple[float, float]:
        if minute < 10:
            return 120.0, 80.0
        return (150.0, 100.0) if minute < 50 + 25 else (124.0, 82.0)  # back only at 25+ min

    session = ScriptedSession("c05", bp=bp, end_min=95)
    await bus.send(session.messages())
    await bus.settled("c05", session.last_ts + 1)

    recovery = bus.on("/recovery", "c05")
    statuses = [r["status"] for r in recovery]
    assert statuses.index("overdue") < statuses.index("recovered_late")
    assert "recovered" not in statuses
    overdue = next(r for r in recovery if r["status"] == "overdue")
    late = next(r for r in recovery if r["status"] == "recovered_late")
    assert overdue["minutes_since_stop"] >= 20
    assert late["minutes_since_stop"] > 25
    assert all("minutes_since_stop" in r for r in recovery)
    kinds = [(a["kind"], a["state"], a["priority"]) for a in bus.alarms("c05")]
    assert ("recovery_overdue", "active", "medium") in kinds
    assert ("recovery_overdue", "cleared", "medium") in kinds


MONITOR = """
import json, sys, time
import paho.mqtt.client as mqtt
port, device_topic, vitals_topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bedside-c06")
client.will_set(device_topic, json.dumps({"state": "offline", "device": "bedside-c06"}), 1, True)
client.connect("127.0.0.1", port, keepalive=5)
client.loop_start()
online = {"ts": time.time(), "state": "online", "device": "bedside-c06"}
client.publish(device_topic, json.dumps(online), 1, True).wait_for_publish()
reading = {"ts": time.time(), "hr": 70, "spo2": 98}
client.publish(vitals_topic, json.dumps(reading), 1).wait_for_publish()
print("ready", flush=True)
time.sleep(120)
"""


async def test_monitor_that_drops_off_gets_monitor_offline_within_2_seconds(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    service = await start_service()
    port = service.settings.broker_address().port
    await bus.publish(
        topic("c06", "session"), {"ts": time.time(), "command": "admit", "patient": "P-6"}
    )
    script = tmp_path / "monitor.py"
    script.write_text(MONITOR)
    monitor = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(port), topic("c06", "device"), topic("c06", "vitals"),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert monitor.stdout is not None
    assert (await asyncio.wait_for(monitor.stdout.readline(), 10)).strip() == b"ready"
    await bus.wait_for(
        lambda: any(s["device"]["state"] == "online" for s in bus.on("/state", "c06")),
        what="monitor online",
    )

    monitor.kill()  # no DISCONNECT: the broker sends the Last Will
    killed_at = time.time()
    await monitor.wait()
    alarm = await bus.wait_for(
        lambda: [a for a in bus.alarms("c06") if a["kind"] == "monitor_offline"],
        within_s=5,
        what="monitor_offline",
    )
    arrived = next(r.at for r in bus.seen if r.topic.endswith("c06/alarm"))
    assert arrived - killed_at < 2.0
    assert alarm[0]["class"] == "technical"
    assert alarm[0]["state"] == "active"


async def test_malformed_payloads_between_good_readings_are_counted_and_never_stop_it(
    start_service: StartService, bus: Bus
) -> None:
    service = await start_service()
    vitals = topic("c07", "vitals")
    bad: list[tuple[str, bytes | str]] = [
        (vitals, b"{not json"),
        (vitals, json.dumps({"ts": T0, "hr": "fast"})),
        (vitals, json.dumps({"hr": 70})),
        (vitals, b"\xff\xfe\x00"),
        (vitals, b"[" * 10_000 + b"]" * 10_000),
        (vitals, b"x" * 70_000),
        (topic("c07", "session"), json.dumps({"ts": T0, "command": "teleport"})),
        (topic("c07", "command"), json.dumps({"ts": T0, "command": "acknowledge"})),
        ("clinic/t1/chair/bad chair!/vitals", json.dumps({"ts": T0, "hr": 70})),
    ]
    await bus.publish(topic("c07", "session"), {"ts": T0, "command": "admit", "patient": "P-7"})
    good_sbp = [120, 122, 186, 121]
    for index, (where, payload) in enumerate(bad):
        await bus.publish(where, payload)
        sbp = good_sbp[index % len(good_sbp)]
        reading = {"ts": T0 + 60 * (index + 1), "hr": 70, "spo2": 98, "nibp": {"sys": sbp, "dia": 80},
                   "firmware": "9.1", "unknown_extra": {"nested": True}}  # fmt: skip
        await bus.publish(vitals, reading)
    state = await bus.settled("c07", T0 + 60 * len(bad))

    assert state["vitals"]["sbp"]["value"] == good_sbp[(len(bad) - 1) % len(good_sbp)]
    assert any(a["kind"] == "sbp_high" for a in bus.alarms("c07"))
    counted = sum(
        service.metrics.count(service.metrics.messages, kind, outcome)
        for kind in ("vitals", "session", "command", "unknown")
        for outcome in ("malformed", "oversized", "bad_topic")
    )
    assert counted == len(bad)
    assert service.metrics.count(service.metrics.messages, "vitals", "accepted") == len(bad)
    await _until_stored(service, len(bad) * 2 + 1)
    outcomes = [m for m in service.recorder.messages() if m.outcome != "accepted"]
    assert len(outcomes) == len(bad)
    assert all(m.reason for m in outcomes)


async def test_replaying_a_recorded_session_twice_gives_the_same_alarms_as_live(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    service = await start_service()

    def bp(minute: float) -> tuple[float, float]:
        return (
            (120.0, 80.0) if minute < 10 else (185.0, 115.0) if 20 <= minute < 30 else (140.0, 95.0)
        )

    def spo2(minute: float) -> float:
        return 86.0 if 35 <= minute < 36 else 97.0

    session = ScriptedSession("c08", bp=bp, spo2=spo2, every_s=2, end_min=80)
    messages = session.messages()
    await bus.publish(topic("c08", "command"), {"ts": at(26), "command": "acknowledge",
                                                "alarm": "sbp_high", "by": "nurse.kim"})  # fmt: skip
    await bus.send(messages[: len(messages) // 2])
    await bus.publish(topic("c08", "command"), {"ts": at(40), "command": "acknowledge",
                                                "alarm": "sbp_high", "by": "nurse.kim"})  # fmt: skip
    await bus.send(messages[len(messages) // 2 :])
    await bus.settled("c08", session.last_ts + 1)
    await _until_stored(service, len(messages) + 2)
    live = [(a["alarm"], a["kind"], a["state"], a["ts"]) for a in bus.alarms("c08")]
    assert len(live) >= 4

    settings = load_settings(None, site=SITE, db="memory://", http="off")
    db = service.settings.db
    first = replay(read_journal(db), settings)
    second = replay(read_journal(db), settings)
    assert first == second
    assert [(a.alarm, a.kind, a.state, _rfc3339(a.ts)) for a in first] == live


async def _until_stored(service: object, rows: int, within_s: float = 10.0) -> None:
    from monitor.app import Service

    assert isinstance(service, Service)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if len(service.recorder.messages()) >= rows:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"store did not reach {rows} messages")


def _rfc3339(ts: float) -> str:
    from monitor.wire.payloads import format_event_time

    return format_event_time(ts)
