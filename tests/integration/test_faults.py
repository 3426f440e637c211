"""Faults around the core: the service or the broker restarting, the service dying without a word,
messages for a chair the clinic does not have, and commands the session state machine refuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import pytest

from monitor.app import Service, restart_pause
from monitor.broker import Mosquitto
from monitor.cli import build_service
from monitor.record import open_recorder
from monitor.settings import load_settings
from monitor.wire.payloads import parse_event_time
from tests.integration.conftest import ROOT, SITE, Bus, StartService
from tests.integration.processes import serve_process
from tests.integration.sessions import T0, ScriptedSession, at, topic

T = TypeVar("T")

pytestmark = pytest.mark.integration

STATUS = f"{ROOT}/{SITE}/monitor/status"
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _hypertensive(minute: float) -> tuple[float, float]:
    """120/80 before the infusion (minute 10), a cuff of 190/100 after it."""
    return (120.0, 80.0) if minute < 10 else (190.0, 100.0)


# Service restart ---------------------------------------------------------------------------


async def test_restart_keeps_the_open_session_and_its_active_alarm(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    session = ScriptedSession("c01", bp=_hypertensive, end_min=15, every_s=30, discharge=False)
    first = await _launch(mosquitto.port, db)
    try:
        await bus.send(session.messages())
        before = await bus.settled("c01", session.last_ts)
        raised = await bus.wait_for(lambda: _alarms_of(bus, "sbp_high"), what="sbp_high")
    finally:
        await first.stop()
    assert before["phase"] == "infusing"
    assert raised[0]["state"] == "active"
    alarm = raised[0]["alarm"]
    said_offline = [s for s in _statuses(bus) if s["state"] == "offline"]
    assert said_offline[-1]["ts"] is not None  # said by the service itself, not its Last Will

    mark = len(bus.seen)
    second = await _launch(mosquitto.port, db)
    try:
        republished = await bus.wait_for(
            lambda: [r.payload for r in bus.seen[mark:] if r.topic == topic("c01", "state")],
            what="c01 state after the restart",
        )
        retained = await _retained(mosquitto.port, topic("c01", "state"))
        for state in (republished[0], retained):
            assert state["session"] == before["session"]
            assert state["patient"] == "P-0042"
            assert state["phase"] == "infusing"
            assert _board(state, "sbp_high") == [(alarm, "active")]

        await bus.publish(
            topic("c01", "command"),
            {"ts": session.last_ts + 30, "command": "acknowledge", "alarm": alarm,
             "by": "nurse.lee"},
        )  # fmt: skip
        acknowledged = await bus.wait_for(
            lambda: [a for a in _alarms_of(bus, "sbp_high") if a["state"] == "acknowledged"],
            what="sbp_high acknowledged after the restart",
        )
    finally:
        await second.stop()
    assert acknowledged[0]["alarm"] == alarm
    assert acknowledged[0]["kind"] == "sbp_high"
    assert acknowledged[0]["acknowledged_by"] == "nurse.lee"
    assert acknowledged[0]["session"] == before["session"]


async def test_restart_after_a_crash_picks_up_what_the_store_had_written(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    session = ScriptedSession("c01", bp=_hypertensive, end_min=15, every_s=30, discharge=False)
    async with _serve(mosquitto.port, tmp_path, "crashed") as crashed:
        await bus.wait_for(
            lambda: [s for s in _statuses(bus) if s["state"] == "online"],
            within_s=20,
            what="the service subprocess online",
        )
        await bus.send(session.messages())
        before = await bus.settled("c01", session.last_ts)
        raised = await bus.wait_for(lambda: _alarms_of(bus, "sbp_high"), what="sbp_high")
        await _until(
            lambda: _alarms_written(tmp_path / "crashed.db") > 0,
            within_s=10,
            what="the alarm in the store",
        )
        crashed.kill()  # no final snapshot: only what was written as it happened
        await asyncio.wait_for(crashed.wait(), 10)

    mark = len(bus.seen)
    restarted = await _launch(mosquitto.port, tmp_path / "crashed.db")
    try:
        republished = await bus.wait_for(
            lambda: [r.payload for r in bus.seen[mark:] if r.topic == topic("c01", "state")],
            what="c01 state after the restart",
        )
    finally:
        await restarted.stop()
    assert republished[0]["session"] == before["session"]
    assert republished[0]["phase"] == "infusing"
    assert _board(republished[0], "sbp_high") == [(raised[0]["alarm"], "active")]


# Broker restart ----------------------------------------------------------------------------


async def test_service_reconnects_by_itself_after_the_broker_restarts(
    mosquitto: Mosquitto, start_service: StartService
) -> None:
    service = await start_service()
    infusing = ScriptedSession("c01", end_min=12, every_s=30, discharge=False)
    waiting = ScriptedSession("c02", patient="P-0043", end_min=4, every_s=30, discharge=False)
    async with _listen(mosquitto.port, "before-restart") as before:
        await before.send(infusing.messages())
        await before.send(waiting.messages())
        c01 = await before.settled("c01", infusing.last_ts)
        c02 = await before.settled("c02", waiting.last_ts)
    assert c01["phase"] == "infusing"
    assert c02["phase"] == "baseline"

    await mosquitto.stop()
    await _until(
        lambda: not service.health(time.time())["broker"]["connected"],
        within_s=5,
        what="the service to notice the broker is gone",
    )
    assert service.health(time.time())["ready"] is False

    await mosquitto.start()  # same port; no persistence, so nothing retained survived
    async with _listen(mosquitto.port, "after-restart") as after:
        online = await after.wait_for(
            lambda: [s for s in _statuses(after) if s["state"] == "online"],
            within_s=15,
            what="service status online after the broker restart",
        )
        await after.wait_for(
            lambda: after.on("/state", "c01") and after.on("/state", "c02"),
            within_s=5,
            what="every chair's state republished",
        )
        assert online[0]["site"] == SITE
        assert service.health(time.time())["broker"]["connected"] is True
        status = await _retained(mosquitto.port, STATUS)
        assert status["state"] == "online"
        for chair, phase, patient in (("c01", "infusing", "P-0042"), ("c02", "baseline", "P-0043")):
            state = await _retained(mosquitto.port, topic(chair, "state"))
            assert state["phase"] == phase
            assert state["patient"] == patient

        reading = {"ts": infusing.last_ts + 60, "hr": 72, "spo2": 98,
                   "nibp": {"sys": 190, "dia": 100}}  # fmt: skip
        await after.publish(topic("c01", "vitals"), reading)
        high = await after.wait_for(
            lambda: [a for a in after.alarms("c01") if a["kind"] == "sbp_high"],
            within_s=5,
            what="sbp_high from a reading sent after the restart",
        )
    assert high[0]["state"] == "active"
    assert high[0]["value"] == 190
    assert high[0]["session"] == c01["session"]


# The service's Last Will -------------------------------------------------------------------


async def test_killed_service_leaves_its_will_and_a_stopped_one_says_offline_itself(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with _listen(mosquitto.port, "status-watch") as watch:
        async with _serve(mosquitto.port, tmp_path, "killed") as killed:
            await watch.wait_for(
                lambda: [s for s in _statuses(watch) if s["state"] == "online"],
                within_s=20,
                what="the service subprocess online",
            )
            assert (await _retained(mosquitto.port, STATUS))["state"] == "online"
            mark = len(watch.seen)
            killed.kill()  # no DISCONNECT: the broker publishes the Last Will
            await asyncio.wait_for(killed.wait(), 10)
            will = await watch.wait_for(
                lambda: [s for s in _statuses(watch, mark) if s["state"] == "offline"],
                within_s=15,
                what="the Last Will (offline)",
            )
        assert will[0]["ts"] is None  # the Will, set at connect time, carries no time
        retained = await _retained(mosquitto.port, STATUS)
        assert retained["state"] == "offline"

        mark = len(watch.seen)
        async with _serve(mosquitto.port, tmp_path, "stopped") as stopped:
            await watch.wait_for(
                lambda: [s for s in _statuses(watch, mark) if s["state"] == "online"],
                within_s=20,
                what="the second service subprocess online",
            )
            stopped.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(stopped.wait(), 15)
        assert code == 0
        offline = await watch.wait_for(
            lambda: [s for s in _statuses(watch, mark) if s["state"] == "offline"],
            within_s=5,
            what="offline said by the stopped service",
        )
        assert offline[0]["ts"] is not None
        retained = await _retained(mosquitto.port, STATUS)
        assert retained["state"] == "offline"
        assert retained["ts"] is not None  # a clean disconnect: no Will after it


# Unknown chair -----------------------------------------------------------------------------


async def test_reading_for_an_unconfigured_chair_is_counted_stored_and_harmless(
    start_service: StartService, bus: Bus
) -> None:
    service = await start_service(chairs=["c01", "c02"])
    await bus.publish(topic("c09", "vitals"), {"ts": T0, "hr": 70, "spo2": 98})
    session = ScriptedSession("c01", end_min=4, every_s=30, discharge=False)
    await bus.send(session.messages())
    # A configured chair's empty state goes out at start-up stamped with wall time, later than
    # the scripted event times: wait for the state that carries the last reading.
    last = await bus.wait_for(
        lambda: [s for s in bus.on("/state", "c01") if _hr_at(s) == session.last_ts],
        what="c01 state with its last reading",
    )
    state = last[-1]

    assert state["phase"] == "baseline"
    assert state["patient"] == "P-0042"
    assert state["vitals"]["sbp"]["value"] == 120
    assert service.metrics.count(service.metrics.messages, "vitals", "unknown_chair") == 1
    assert service.metrics.count(service.metrics.messages, "vitals", "accepted") == 8
    assert bus.on("/state", "c09") == []
    assert "c09" not in service.clinic
    rows = await _stored(lambda: service.recorder.messages(outcome="unknown_chair"))
    assert len(rows) == 1
    assert rows[0].topic == topic("c09", "vitals")
    assert rows[0].chair == "c09"
    assert "c09" in (rows[0].reason or "")
    # The service says so on its status within a tick or two, for stations to warn.
    said = await bus.wait_for(
        lambda: [s for s in _statuses(bus) if s.get("refused_chairs")], what="refused_chairs"
    )
    refused = said[-1]["refused_chairs"]
    assert (refused["chairs"], refused["messages"], refused["latest"]) == (1, 1, "c09")
    assert refused["reason"] == "unknown_chair"


# A task that fails ----------------------------------------------------------------------------


def _failing_first(times: int, run: Callable[[], Any]) -> Callable[[], Any]:
    """`run`, after failing `times` times with an error nobody foresaw."""
    failures = 0

    async def flaky() -> None:
        nonlocal failures
        if failures < times:
            failures += 1
            raise RuntimeError(f"a bug nobody foresaw ({failures})")
        await run()

    return flaky


async def test_a_task_that_fails_is_started_again_and_the_alarms_never_stop(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    settings = load_settings(None, broker=f"mqtt://127.0.0.1:{mosquitto.port}", site=SITE,
                             db=f"sqlite:///{tmp_path / 'audit.db'}", http="127.0.0.1:0",
                             tick_s=0.1)  # fmt: skip
    service = build_service(settings)
    assert service.station is not None
    service.station.run = _failing_first(2, service.station.run)  # type: ignore[method-assign]
    service.writer.run = _failing_first(1, service.writer.run)  # type: ignore[method-assign]
    running = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.link.connected.wait(), 10)
        await bus.publish(
            topic("c01", "vitals"), {"ts": T0, "seq": 1, "nibp": {"sys": 210, "dia": 90}}
        )
        await bus.wait_for(lambda: _alarms_of(bus, "sbp_high"), what="sbp_high")
        restarts = service.metrics.task_restarts
        await bus.wait_for(lambda: service.metrics.count(restarts, "station") == 2, what="restarts")
        assert service.metrics.count(restarts, "record-writer") == 1
        assert not running.done()
        rows = await _stored(lambda: service.recorder.messages(chair="c01"))
        assert len(rows) == 1  # the restarted writer wrote it
    finally:
        service.stop()
        await asyncio.wait_for(running, 15)


def test_a_failed_task_waits_longer_each_time_up_to_5_s() -> None:
    assert [restart_pause(n) for n in (1, 2, 3, 6, 7, 50)] == [0.1, 0.2, 0.4, 3.2, 5.0, 5.0]


# Illegal commands --------------------------------------------------------------------------


async def test_illegal_commands_are_rejected_with_a_reason_and_change_nothing(
    start_service: StartService, bus: Bus, mosquitto: Mosquitto
) -> None:
    service = await start_service()

    stop_ts = T0 - 60
    await bus.publish(topic("c01", "infusion"), {"ts": stop_ts, "event": "stop"})
    empty = await bus.settled("c01", stop_ts)
    assert empty["phase"] == "empty"
    assert empty["session"] is None

    session = ScriptedSession("c01", end_min=11, every_s=30, discharge=False)
    await bus.send(session.messages())
    infusing = await bus.wait_for(
        lambda: _newest_state(bus, "c01", phase="infusing", since=session.last_ts),
        what="the chair infusing",
    )

    illegal: list[tuple[str, dict[str, Any]]] = [
        (topic("c01", "infusion"), {"ts": at(11.5), "event": "resume"}),
        (topic("c01", "session"), {"ts": at(12), "command": "admit", "patient": "P-0099"}),
        (topic("c01", "command"), {"ts": at(12.5), "command": "acknowledge",
                                   "alarm": "01NOSUCHALARM", "by": "nurse.lee"}),
    ]  # fmt: skip
    for where, payload in illegal:
        seen = len(bus.on("/state", "c01"))
        await bus.publish(where, payload)
        # A rejection publishes the chair's state at once; it moves no clock.
        await bus.wait_for(lambda n=seen: len(bus.on("/state", "c01")) > n, what="a new state")
        state = bus.on("/state", "c01")[-1]
        assert parse_event_time(state["ts"]) < payload["ts"]
        assert state["phase"] == "infusing"
        assert state["session"] == infusing["session"]
        assert state["patient"] == "P-0042"

    retained = await _retained(mosquitto.port, topic("c01", "state"))
    assert retained["phase"] == "infusing"
    assert retained["session"] == infusing["session"]
    assert retained["infusion"]["started_at"] == infusing["infusion"]["started_at"]
    assert service.metrics.count(service.metrics.messages, "infusion", "rejected") == 2
    assert service.metrics.count(service.metrics.messages, "session", "rejected") == 1
    assert service.metrics.count(service.metrics.messages, "command", "rejected") == 1
    rows = await _stored(lambda: service.recorder.messages(outcome="rejected"), count=4)
    assert [r.kind for r in rows] == ["infusion", "infusion", "session", "command"]
    assert "stop" in (rows[0].reason or "")
    assert "resume" in (rows[1].reason or "")
    assert "admit" in (rows[2].reason or "")
    assert "01NOSUCHALARM" in (rows[3].reason or "")


# Helpers -----------------------------------------------------------------------------------


@dataclass
class _Running:
    service: Service
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.service.stop()
        await asyncio.wait_for(self.task, 15)


async def _launch(port: int, db: Path) -> _Running:
    """A service of our own (the fixture's cannot be stopped and started again mid-test)."""
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{port}", site=SITE, db=f"sqlite:///{db}", http="off",
        tick_s=0.1,
    )  # fmt: skip
    service = build_service(settings)
    running = _Running(service, asyncio.create_task(service.run(), name="service-under-test"))
    try:
        await asyncio.wait_for(service.link.connected.wait(), 10)
    except BaseException:
        await running.stop()
        raise
    return running


@contextlib.asynccontextmanager
async def _listen(port: int, name: str) -> AsyncIterator[Bus]:
    """A test client of our own; unlike the `bus` fixture it may outlive or predate a broker."""
    client = aiomqtt.Client("127.0.0.1", port, identifier=name, socket_options=NODELAY)
    async with client:
        await client.subscribe(f"{ROOT}/{SITE}/#", qos=1)
        bus = Bus(client)
        task = asyncio.create_task(bus.collect(), name=f"{name}-collect")
        try:
            yield bus
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


async def _retained(port: int, where: str, *, within_s: float = 5.0) -> dict[str, Any]:
    """What a new subscriber to `where` gets first: its retained message."""
    name = f"retained-{secrets.token_hex(3)}"
    async with aiomqtt.Client("127.0.0.1", port, identifier=name) as client:
        await client.subscribe(where, qos=1)
        async with asyncio.timeout(within_s):
            async for message in client.messages:
                if message.retain:
                    assert isinstance(message.payload, bytes)
                    payload: dict[str, Any] = json.loads(message.payload)
                    return payload
    raise AssertionError(f"no retained message on {where}")


def _serve(port: int, tmp_path: Path, name: str) -> Any:
    """`infusion-monitor serve` as a subprocess, recording to `{name}.db`."""
    return serve_process(port, f"sqlite:///{tmp_path / name}.db", log=tmp_path / f"{name}.log")


def _statuses(bus: Bus, since: int = 0) -> list[dict[str, Any]]:
    return [r.payload for r in bus.seen[since:] if r.topic == STATUS]


def _alarms_of(bus: Bus, kind: str) -> list[dict[str, Any]]:
    return [a for a in bus.alarms("c01") if a["kind"] == kind]


def _board(state: dict[str, Any], kind: str) -> list[tuple[str, str]]:
    return [(a["alarm"], a["state"]) for a in state["alarms"] if a["kind"] == kind]


def _alarms_written(db: Path) -> int:
    """Alarm transitions in the record, read as another process would (the service writes in
    WAL mode); none before the service has made the file."""
    if not db.exists():
        return 0
    recorder = open_recorder(f"sqlite:///{db}")
    try:
        return len(recorder.alarms())
    finally:
        recorder.close()


def _hr_at(state: dict[str, Any]) -> float | None:
    hr = state["vitals"].get("hr")
    return None if hr is None else parse_event_time(hr["ts"])


async def _until(found: Callable[[], bool], *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not found():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def _stored(
    read: Callable[[], list[T]], *, count: int = 1, within_s: float = 10.0
) -> list[T]:
    """What `read` finds once it finds at least `count` (the record is written in the
    background)."""
    deadline = time.monotonic() + within_s
    while True:
        rows = read()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


def _newest_state(bus: Bus, chair: str, *, phase: str, since: float) -> dict[str, Any] | None:
    states = bus.on("/state", chair)
    newest = states[-1] if states else None
    if newest is None or newest["phase"] != phase or parse_event_time(newest["ts"]) < since - 1e-3:
        return None
    return newest


# Retained commands ----------------------------------------------------------------------------


async def test_a_retained_acknowledgement_is_refused_and_never_replayed_at_a_reconnection(
    start_service: StartService, bus: Bus
) -> None:
    service = await start_service()
    # Left on the broker by a client before there is anything to acknowledge (MQTT 3.1.1 hands
    # it on live without its retain flag: the chair refuses it, there is no such alarm).
    ghost = {"ts": at(1), "command": "acknowledge", "alarm": "sbp_high", "by": "ghost"}
    await bus.publish(topic("c01", "command"), ghost, retain=True)
    session = ScriptedSession("c01", bp=_hypertensive, end_min=15, every_s=30, discharge=False)
    await bus.send(session.messages())
    await bus.wait_for(lambda: _alarms_of(bus, "sbp_high"), what="sbp_high")

    service.stop()  # a restart: the broker hands the new connection its retained message
    await bus.wait_for(
        lambda: [s for s in _statuses(bus) if s["state"] == "offline"],
        what="the service saying offline as it stops",
    )
    service = await start_service()
    refused = await _stored(lambda: service.recorder.messages(outcome="retained"), within_s=15)

    assert [(m.kind, m.topic) for m in refused] == [("command", topic("c01", "command"))]
    assert "retained" in (refused[0].reason or "")
    assert [a for a in bus.alarms("c01") if a.get("acknowledged_by") == "ghost"] == []
    assert service.clinic.chair("c01").state.board.alarms["sbp_high"].state == "active"
    assert service.metrics.count(service.metrics.messages, "command", "retained") == 1
