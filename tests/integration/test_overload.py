"""Overload and a failing disk are a degraded mode, never a blinded monitor: through a real
Mosquitto, a burst of readings with the record locked, a database locked by another connection,
a file system that is full, a stop while the record is locked, and a start on a full disk. In
each, alarms go on at once, the service's retained status says `record: failing` within 5 s and
`ok` once the record writes again, and nothing accepted is lost (the journal is counted)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.app import Service
from monitor.broker import Mosquitto
from monitor.cli import build_service
from monitor.record import open_recorder
from monitor.settings import load_settings
from tests.integration.conftest import ROOT, SITE, Bus, StartService
from tests.integration.processes import serve_process
from tests.integration.sessions import T0, topic

pytestmark = pytest.mark.integration

STATUS = f"{ROOT}/{SITE}/monitor/status"
STATION_ALARM_S = 5.0  # a record that cannot write is at the station within this


def reading(n: int, **vitals: Any) -> dict[str, Any]:
    return {"ts": T0 + n, "seq": n, "hr": 72, "spo2": 98, **vitals}


def statuses(bus: Bus, since: int = 0) -> list[dict[str, Any]]:
    return [r.payload for r in bus.seen[since:] if r.topic == STATUS]


def record_state(bus: Bus, since: int = 0) -> str | None:
    """The record's state in the newest status seen since `since`."""
    seen = [s for s in statuses(bus, since) if s.get("record")]
    return seen[-1]["record"]["state"] if seen else None


def journal(service: Service, chair_prefix: str) -> int:
    return sum(1 for m in service.recorder.messages() if (m.chair or "").startswith(chair_prefix))


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another connection holds the database with BEGIN EXCLUSIVE (as a backup tool or a
    careless sqlite3 shell would), on a thread of its own, until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(db, timeout=30, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        holding.set()
        release.wait(120)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(30), "could not lock the database for the test"
    try:
        yield
    finally:
        release.set()
        thread.join(30)


@contextlib.contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[Path]:
    """A file system of `size` mounted at `where` (tmpfs), to fill. Never skipped: a test that
    cannot mount one fails and says why."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a small tmpfs at {where} to fill ({done.stderr.strip()}): this test "
            "needs root (or CAP_SYS_ADMIN) to show what a full disk does; run it where it can"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte with one file; return it (delete it to free the disk)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        for block in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while file.write(b"\0" * block):
                    pass
    return filler


async def publish_burst(port: int, count: int, *, chairs: int = 40) -> None:
    """`count` readings as fast as Mosquitto's own client sends them (QoS 1), spread over
    `chairs` chairs: one `mosquitto_pub -l` per chair, all at once."""
    per_chair = count // chairs
    processes = []
    for chair in range(chairs):
        lines = "".join(json.dumps(reading(n)) + "\n" for n in range(per_chair)).encode()
        process = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l",
            "-t", topic(f"b{chair:02d}", "vitals"), "-i", f"burst-{chair}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        processes.append((process, lines))
    results = await asyncio.gather(*(p.communicate(lines) for p, lines in processes))
    for (process, _), (_, error) in zip(processes, results, strict=True):
        assert process.returncode == 0, f"mosquitto_pub failed: {error.decode()}"


async def until(check: Any, *, within_s: float, what: str) -> float:
    """Wait for `check()`; return the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def sbp_high(bus: Bus, chair: str) -> list[dict[str, Any]]:
    return [a for a in bus.alarms(chair) if a["kind"] == "sbp_high" and a["state"] == "active"]


@contextlib.asynccontextmanager
async def alarms_and_status(port: int) -> AsyncIterator[Bus]:
    """A station's view: alarms and the service's status only (a client that also takes the
    burst's 20,000 readings would measure its own backlog, not the service's)."""
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    async with aiomqtt.Client("127.0.0.1", port, identifier="station-view",
                              socket_options=nodelay) as client:  # fmt: skip
        await client.subscribe(f"{ROOT}/{SITE}/chair/+/alarm", qos=1)
        await client.subscribe(STATUS, qos=1)
        view = Bus(client)
        task = asyncio.create_task(view.collect(), name="station-view")
        try:
            yield view
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# A burst ------------------------------------------------------------------------------------


async def test_a_burst_with_the_record_locked_never_delays_an_alarm(
    start_service: StartService, bus: Bus, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """20,000 readings (40,000 entries: twice the writer's queue) arrive while the record is
    locked: past what the queue held when the record started failing, they spill, and an SBP
    210 after them raises `sbp_high`
    within 1 s (the old writer made the message path wait for room: no alarm within 15 s).
    Readings still wait behind those before them on the broker (one FIFO per subscription):
    the alarm of a reading sent in the middle of the burst comes when the service reaches
    it, at its intake rate (about 5,000 readings a second here)."""
    service = await start_service()
    await bus.publish(topic("good", "vitals"), reading(0))
    await until(lambda: journal(service, "good") == 1, within_s=10, what="the first reading stored")

    async with alarms_and_status(mosquitto.port) as station:
        alarm_s = await _burst_then_sbp(service, bus, station, mosquitto.port, tmp_path)
    assert alarm_s < 1.0, f"sbp_high took {alarm_s:.2f} s with the record locked and full"

    await until(lambda: record_state(bus) == "ok" and not service.writer.backlog, within_s=60,
                what="the record written again, spill drained")  # fmt: skip
    assert journal(service, "b") == 20_000
    assert journal(service, "good") == 2
    assert service.writer.lost == 0


async def _burst_then_sbp(
    service: Service, bus: Bus, station: Bus, port: int, tmp_path: Path
) -> float:
    with locked(tmp_path / "audit.db"):
        await publish_burst(port, 20_000)
        await until(lambda: service.writer.backlog >= 40_000, within_s=60,
                    what="the burst taken in")  # fmt: skip
        # failing: what the writer's queue (20,000) could not hold went to the spill
        assert len(service.writer.spill) >= 40_000 - service.writer.queue.maxsize
        await bus.publish(topic("good", "vitals"), reading(1, nibp={"sys": 210, "dia": 90}))
        published = time.monotonic()
        await station.wait_for(lambda: sbp_high(station, "good"), within_s=15, what="sbp_high")
        alarm_s = time.monotonic() - published
        assert record_state(station) == "failing"
    return alarm_s


# A locked database --------------------------------------------------------------------------


async def test_a_locked_database_is_at_the_station_in_5_s_and_nothing_is_lost(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    service = await start_service()
    await bus.publish(topic("c01", "vitals"), reading(0))
    await until(lambda: journal(service, "c01") == 1, within_s=10, what="the first reading stored")

    mark = len(bus.seen)
    with locked(tmp_path / "audit.db"):
        locked_at = time.monotonic()
        sender = asyncio.create_task(_steady(bus, "c01", start=1, count=60, every_s=0.1))
        seen_s = await until(lambda: record_state(bus, mark) == "failing",
                             within_s=STATION_ALARM_S + 1, what="record failing")  # fmt: skip
        assert seen_s <= STATION_ALARM_S, f"record failing at the station after {seen_s:.1f} s"
        await sender
        await bus.publish(topic("c01", "vitals"), reading(500, nibp={"sys": 210, "dia": 90}))
        await bus.wait_for(lambda: sbp_high(bus, "c01"), within_s=1, what="sbp_high while locked")
        # First a write that has not come back, then SQLite's own word once its wait runs out.
        await until(lambda: _failing_says(bus, mark, "locked"), within_s=10, what="why")
        assert time.monotonic() - locked_at < 30

    await until(lambda: record_state(bus) == "ok", within_s=30, what="record ok again")
    await until(lambda: not service.writer.backlog, within_s=30, what="the spill drained")
    assert journal(service, "c01") == 62
    messages = [m for m in service.recorder.messages(chair="c01")]
    assert [json.loads(m.payload)["seq"] for m in messages] == [0, *range(1, 61), 500]  # in order
    assert service.writer.lost == 0


def _failing_says(bus: Bus, mark: int, word: str) -> bool:
    failing = [s for s in statuses(bus, mark) if s["record"] and s["record"]["state"] == "failing"]
    return any(word in (s["record"]["reason"] or "") for s in failing)


async def _steady(bus: Bus, chair: str, *, start: int, count: int, every_s: float) -> None:
    for n in range(start, start + count):
        await bus.publish(topic(chair, "vitals"), reading(n))
        await asyncio.sleep(every_s)


# A full disk --------------------------------------------------------------------------------


async def test_a_full_disk_is_at_the_station_in_5_s_and_nothing_is_lost_once_freed(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        service = await start_service(db=f"sqlite:///{disk / 'audit.db'}")
        await bus.publish(topic("c01", "vitals"), reading(0))
        await until(lambda: journal(service, "c01") == 1, within_s=10, what="the first reading")

        mark = len(bus.seen)
        filler = fill(disk)
        await _steady(bus, "c01", start=1, count=200, every_s=0.005)
        seen_s = await until(lambda: record_state(bus, mark) == "failing",
                             within_s=STATION_ALARM_S, what="record failing (disk full)")  # fmt: skip
        await bus.publish(topic("c01", "vitals"), reading(500, nibp={"sys": 210, "dia": 90}))
        await bus.wait_for(lambda: sbp_high(bus, "c01"), within_s=1, what="sbp_high, disk full")
        assert seen_s <= STATION_ALARM_S

        filler.unlink()
        await until(lambda: record_state(bus) == "ok" and not service.writer.backlog,
                    within_s=60, what="record ok again, spill drained")  # fmt: skip
        assert journal(service, "c01") == 202
        assert service.writer.lost == 0
        service.stop()
        await asyncio.sleep(0)


async def test_a_read_only_database_is_at_the_station_in_5_s_and_nothing_is_lost(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    """The folder of an existing database bound read-only over itself (a remount gone wrong):
    the service cannot open its record, monitors anyway, and writes everything once it can."""
    folder = tmp_path / "records"
    folder.mkdir()
    open_recorder(f"sqlite:///{folder / 'audit.db'}").close()
    with read_only(folder):
        service = await start_service(db=f"sqlite:///{folder / 'audit.db'}")
        seen_s = await until(lambda: record_state(bus) == "failing",
                             within_s=STATION_ALARM_S, what="record failing (read-only)")  # fmt: skip
        assert seen_s <= STATION_ALARM_S
        await _steady(bus, "c01", start=0, count=100, every_s=0.01)
        await bus.publish(topic("c01", "vitals"), reading(500, nibp={"sys": 210, "dia": 90}))
        await bus.wait_for(lambda: sbp_high(bus, "c01"), within_s=1, what="sbp_high, read-only")
        reason = [s for s in statuses(bus) if s.get("record")][-1]["record"]["reason"]
        assert "readonly" in reason or "read-only" in reason or "unable" in reason, reason

    await until(lambda: record_state(bus) == "ok" and not service.writer.backlog,
                within_s=60, what="record ok again, nothing waiting")  # fmt: skip
    assert journal(service, "c01") == 101
    assert service.writer.lost == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` bound read-only over itself until the block ends; never skipped."""
    for command in (["mount", "--bind", str(folder), str(folder)],
                    ["mount", "-o", "remount,bind,ro", str(folder)]):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True, check=False)
            pytest.fail(f"cannot make {folder} read-only ({done.stderr.strip()}): this test "
                        "needs root (or CAP_SYS_ADMIN) to bind-mount; run it where it can")  # fmt: skip
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# Stopping and starting as a process ---------------------------------------------------------


def serve(port: int, db: str, log: Path) -> Any:
    return serve_process(port, db, log=log)


async def test_sigterm_with_the_database_locked_stops_within_10_s_and_keeps_the_rest(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    db = tmp_path / "audit.db"
    async with serve(mosquitto.port, f"sqlite:///{db}", tmp_path / "serve.log") as process:
        await bus.wait_for(lambda: record_state(bus) == "ok", within_s=20, what="service online")
        with locked(db):
            await _steady(bus, "c01", start=0, count=50, every_s=0.02)
            await bus.wait_for(lambda: record_state(bus) == "failing", within_s=STATION_ALARM_S,
                               what="record failing")  # fmt: skip
            mark = len(bus.seen)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = await asyncio.wait_for(process.wait(), 15)
            stopped_s = time.monotonic() - started
        assert stopped_s < 10.0, f"took {stopped_s:.1f} s to stop"
        assert code == 0, (tmp_path / "serve.log").read_text()
        assert [s["state"] for s in statuses(bus, mark)][-1:] == ["offline"]

    assert _size(f"{db}.spill.jsonl") > 0  # what the locked record could not take
    # The next start writes it: all 50 readings in the journal.
    async with serve(mosquitto.port, f"sqlite:///{db}", tmp_path / "again.log"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            recorder = open_recorder(f"sqlite:///{db}")
            try:
                count = len(recorder.messages(chair="c01"))
            finally:
                recorder.close()
            if count >= 50:
                break
            await asyncio.sleep(0.2)
        assert count == 50
    # c01 was first seen while the record was locked: its snapshot was only in the spill.
    assert "restored 1 chairs from the store: c01" in _text(tmp_path / "again.log")


def _text(path: Path) -> str:
    return path.read_text()


def _size(path: str) -> int:
    return os.path.getsize(path)


async def test_serve_on_a_full_disk_monitors_anyway_and_says_so(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        filler = fill(disk)
        log = tmp_path / "serve.log"
        async with serve(mosquitto.port, f"sqlite:///{disk / 'audit.db'}", log) as process:
            await bus.wait_for(lambda: record_state(bus) == "failing", within_s=20,
                               what="online with the record failing")  # fmt: skip
            await bus.publish(topic("c01", "vitals"), reading(0, nibp={"sys": 210, "dia": 90}))
            await bus.wait_for(lambda: sbp_high(bus, "c01"), within_s=2, what="sbp_high")
            assert "RECORD FAILING" in log.read_text()

            filler.unlink()
            await bus.wait_for(lambda: record_state(bus) == "ok", within_s=30, what="record ok")
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 10) == 0
        recorder = open_recorder(f"sqlite:///{disk / 'audit.db'}")
        try:
            assert len(recorder.messages(chair="c01")) == 1
        finally:
            recorder.close()


# A crash ------------------------------------------------------------------------------------


async def test_a_task_that_fails_is_started_again_and_a_stop_still_says_offline_and_keeps_the_record(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    settings = load_settings(None, broker=f"mqtt://127.0.0.1:{mosquitto.port}", site=SITE,
                             db=f"sqlite:///{tmp_path / 'audit.db'}", http="off", tick_s=0.1)  # fmt: skip
    service = build_service(settings)
    running = asyncio.create_task(service.run())
    await bus.wait_for(lambda: record_state(bus) == "ok", within_s=10, what="online")
    await bus.publish(topic("c01", "vitals"), reading(0))
    await until(lambda: journal(service, "c01") == 1, within_s=10, what="the reading stored")
    mark = len(bus.seen)

    def broken() -> None:
        raise OSError("the spill's disk went away")

    service.writer.spill.sync = broken  # type: ignore[method-assign]  # the fault to inject
    service.writer.spill._unsynced = True  # as after a line spilled
    restarts = service.metrics.task_restarts
    await until(lambda: service.metrics.count(restarts, "record-writer") >= 1, within_s=10,
                what="the writer started again")  # fmt: skip
    await bus.publish(topic("c01", "vitals"), reading(1, nibp={"sys": 210, "dia": 90}))
    await bus.wait_for(lambda: sbp_high(bus, "c01"), within_s=2, what="sbp_high after the failure")
    await until(lambda: journal(service, "c01") == 2, within_s=10, what="the reading stored")
    assert not running.done()

    service.stop()
    await asyncio.wait_for(running, 10)
    offline = await bus.wait_for(lambda: [s for s in statuses(bus, mark) if s["state"] == "offline"],
                                 within_s=5, what="offline at the stop")  # fmt: skip
    assert offline[0]["ts"] is not None  # said by the service, not its Last Will
