"""Nothing acknowledged is lost: the service killed with SIGKILL at a random moment under 200
QoS 1 readings a second, and started again. The broker keeps the service's persistent session
while it is down, and the service acknowledges a message only once the record keeps it, so every
reading the devices published is in the record exactly once, and alarms flow again within 5 s of
the restart."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import time
from pathlib import Path

import aiomqtt
import pytest

from monitor.broker import Mosquitto
from monitor.record import open_recorder
from tests.integration.conftest import ROOT, SITE, Bus
from tests.integration.processes import serve_process
from tests.integration.sessions import topic

pytestmark = pytest.mark.integration

CHAIRS = [f"c{n:02d}" for n in range(1, 11)]
RATE = 200  # readings a second, over all chairs
STATUS = f"{ROOT}/{SITE}/monitor/status"
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


async def test_sigkill_under_load_loses_no_reading_and_alarms_resume_within_5_s(
    mosquitto: Mosquitto, bus: Bus, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    kill_after_s = random.Random(seed).uniform(1.0, 4.0)
    db, log = tmp_path / "record.db", tmp_path / "service.log"
    published: list[tuple[str, int]] = []
    stop = asyncio.Event()

    async def devices() -> None:
        """Every chair's monitor, publishing at RATE in all; a reading counts as published
        once the broker has acknowledged it."""
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, identifier="monitors", socket_options=NODELAY
        ) as client:
            n, started = 0, time.monotonic()
            while not stop.is_set():
                chair, seq = CHAIRS[n % len(CHAIRS)], n // len(CHAIRS) + 1
                payload = {"ts": time.time(), "seq": seq, "hr": 60 + seq % 30, "spo2": 97}
                await client.publish(topic(chair, "vitals"), json.dumps(payload), qos=1)
                published.append((chair, seq))
                n += 1
                await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))

    async with serve_process(mosquitto.port, f"sqlite:///{db}", log=log) as first:
        await bus.wait_for(_online(bus, 0), within_s=20, what="the service online")
        load = asyncio.create_task(devices(), name="devices")
        await asyncio.sleep(kill_after_s)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    killed_at = len(published)
    await asyncio.sleep(1.5)  # the devices go on publishing while the service is down

    mark = len(bus.seen)
    restarted = time.monotonic()
    async with serve_process(mosquitto.port, f"sqlite:///{db}", log=log) as second:
        # A high alarm for a reading sent as the service starts again.
        await bus.publish(topic("x1", "vitals"), {"ts": time.time(), "seq": 1, "hr": 72,
                                                  "nibp": {"sys": 210, "dia": 90}})  # fmt: skip
        await bus.wait_for(
            lambda: [a for a in bus.alarms("x1") if a["kind"] == "sbp_high"],
            within_s=10,
            what="sbp_high after the restart",
        )
        alarm_s = time.monotonic() - restarted
        await asyncio.sleep(2.0)
        stop.set()
        await load
        await _until_recorded(db, published, within_s=20)
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 15)

    assert killed_at > 200, f"only {killed_at} readings before the kill"
    assert len(published) - killed_at > 300, f"only {len(published) - killed_at} after it"
    recorded = _recorded(db)
    missing = [r for r in published if recorded.get(r, 0) == 0]
    twice = [r for r in published if recorded.get(r, 0) > 1]
    where = f"seed {seed}, killed after {kill_after_s:.2f} s; see {log}"
    assert not missing, (
        f"{len(missing)} of {len(published)} readings lost, e.g. {missing[:5]} ({where})"
    )
    assert not twice, f"{len(twice)} readings recorded twice, e.g. {twice[:5]} ({where})"
    assert alarm_s < 5.0, f"the first alarm after the restart took {alarm_s:.1f} s ({where})"
    assert bus.seen[mark:], "nothing published after the restart"


def _online(bus: Bus, since: int) -> object:
    return lambda: [
        r for r in bus.seen[since:] if r.topic == STATUS and r.payload.get("state") == "online"
    ]


def _recorded(db: Path) -> dict[tuple[str, int], int]:
    recorder = open_recorder(f"sqlite:///{db}")
    try:
        counts: dict[tuple[str, int], int] = {}
        for reading in recorder.readings():
            if reading.chair in CHAIRS and reading.seq is not None:
                key = (reading.chair, reading.seq)
                counts[key] = counts.get(key, 0) + 1
        return counts
    finally:
        recorder.close()


async def _until_recorded(db: Path, published: list[tuple[str, int]], *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        recorded = await asyncio.to_thread(_recorded, db)
        if all(r in recorded for r in published):
            return
        await asyncio.sleep(0.25)
