"""Benchmark: how fast and how big. Prints a Markdown table; docs/benchmarks.md keeps the figures.

    .venv/bin/python -m benchmarks.run            # everything (about a minute)
    .venv/bin/python -m benchmarks.run --quick    # smaller runs

1. core: readings through the pure core (Clinic.handle), no I/O.
2. intake: the same through the pure shell (router, core, projector, scribe), no I/O.
3. end to end: readings published to a Mosquitto of our own, through the service, until every
   one is processed; and latency from publishing a reading over the limit to receiving its alarm.
4. memory: Python heap held by the core for N chairs after an hour of 1 Hz readings each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import aiomqtt

from monitor.app import Service
from monitor.broker import Mosquitto
from monitor.domain.clinic import Clinic
from monitor.domain.commands import Admit, InfusionEvent
from monitor.domain.session import Step
from monitor.domain.vitals import Reading
from monitor.pipeline.intake import Intake
from monitor.settings import load_settings

T0 = 1_795_000_000.0
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def reading(chair_index: int, second: int) -> Reading:
    cuff = second % 300 == 0
    return Reading(
        ts=T0 + second,
        seq=second,
        hr=70 + (second + chair_index) % 7,
        spo2=97 + (second % 3 == 0),
        sbp=125.0 + chair_index % 10 if cuff else None,
        dbp=80.0 if cuff else None,
    )


def admit_all(clinic: Clinic, chairs: int, *, start: bool = True) -> None:
    for c in range(chairs):
        clinic.handle(f"c{c:03d}", Admit(T0, f"P-{c}"), wall=T0)
        if start:
            clinic.handle(f"c{c:03d}", InfusionEvent(T0 + 1, Step.START), wall=T0)


def bench_core(chairs: int, seconds: int) -> float:
    clinic = Clinic(max_chairs=chairs)
    admit_all(clinic, chairs)
    started = time.perf_counter()
    for second in range(2, seconds):
        for c in range(chairs):
            clinic.handle(f"c{c:03d}", reading(c, second), wall=T0 + second)
    return chairs * (seconds - 2) / (time.perf_counter() - started)


def bench_ingest(chairs: int, seconds: int) -> float:
    clinic = Clinic(max_chairs=chairs)
    admit_all(clinic, chairs)
    intake = Intake(clinic, site="b", root="clinic")
    payloads = {
        (c, s): json.dumps(_payload(reading(c, s))).encode()
        for c in range(chairs)
        for s in range(2, seconds)
    }
    started = time.perf_counter()
    for second in range(2, seconds):
        for c in range(chairs):
            intake.message(f"clinic/b/chair/c{c:03d}/vitals", payloads[(c, second)], T0 + second)
    return chairs * (seconds - 2) / (time.perf_counter() - started)


def _payload(r: Reading) -> dict[str, Any]:
    body: dict[str, Any] = {"ts": r.ts, "seq": r.seq, "hr": r.hr, "spo2": r.spo2}
    if r.sbp is not None:
        body["nibp"] = {"sys": r.sbp, "dia": r.dbp}
    return body


def bench_memory(chairs: int, seconds: int) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clinic = Clinic(max_chairs=chairs)
    admit_all(clinic, chairs, start=False)  # the baseline phase holds the most: its samples
    for second in range(2, seconds):
        for c in range(chairs):
            clinic.handle(f"c{c:03d}", reading(c, second), wall=T0 + second)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / chairs / 1024


async def bench_end_to_end(chairs: int, per_chair: int, alarms: int) -> dict[str, float]:
    broker = Mosquitto()
    await broker.start()
    db = tempfile.mkdtemp(prefix="infusion-bench-")
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{broker.port}", site="b", db=f"sqlite:///{db}/b.db",
        http="off",
    )  # fmt: skip
    service = Service(settings)
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.link.connected.wait(), 10)
    try:
        throughput = await _throughput(broker.port, service, chairs, per_chair)
        await service.link.flush(within_s=30)
        latencies = await _latency(broker.port, alarms)
    finally:
        service.stop()
        await task
        await broker.stop()
        broker.close()
    return {
        "msgs_per_s": throughput,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
    }


PUBLISHER = """
import json, sys, paho.mqtt.client as mqtt
port, chairs, per_chair, t0 = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                               float(sys.argv[4]))
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
client.max_inflight_messages_set(1000)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
infos = []
for second in range(2, per_chair + 2):
    for c in range(chairs):
        body = {"ts": t0 + second, "seq": second, "hr": 70 + (second + c) % 7, "spo2": 97}
        if second % 300 == 0:
            body["nibp"] = {"sys": 125 + c % 10, "dia": 80}
        infos.append(client.publish(f"clinic/b/chair/c{c:03d}/vitals", json.dumps(body), 1))
for info in infos:
    info.wait_for_publish()
client.loop_stop()
"""


async def _throughput(port: int, service: Service, chairs: int, per_chair: int) -> float:
    """Readings from a publisher in its own process, as fast as the broker takes them."""
    accepted = service.metrics.messages.labels("vitals", "accepted")
    started = time.perf_counter()
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PUBLISHER, str(port), str(chairs), str(per_chair), str(T0)
    )
    total = chairs * per_chair
    while accepted._value.get() < total:  # noqa: ASYNC110 - polling a counter, not an event
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    await publisher.wait()
    return total / elapsed


async def _latency(port: int, count: int) -> list[float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NODELAY) as client:
        await client.subscribe("clinic/b/chair/+/alarm", qos=1)

        async def receive() -> None:
            async for message in client.messages:
                alarm = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                if alarm["state"] == "active" and alarm["chair"] in sent:
                    latencies.append(time.perf_counter() - sent.pop(alarm["chair"]))

        receiver = asyncio.create_task(receive())
        for i in range(count):
            chair = f"L{i:04d}"
            body = {"ts": T0 + 10_000 + i, "hr": 70, "spo2": 98, "nibp": {"sys": 190, "dia": 90}}
            sent[chair] = time.perf_counter()
            await client.publish(f"clinic/b/chair/{chair}/vitals", json.dumps(body), qos=1)
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 10
        while sent and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        receiver.cancel()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    chairs, seconds = (30, 600) if quick else (30, 3600)
    rows = [
        ("core: readings/s (30 chairs, 1 h at 1 Hz)", f"{bench_core(chairs, seconds):,.0f}"),
        ("intake: messages/s (core + state JSON + entries)", f"{bench_ingest(chairs, seconds // 4):,.0f}"),
        ("memory: KiB per chair, 20 min of baseline phase at 1 Hz", f"{bench_memory(100 if quick else 300, 1200):,.1f}"),
    ]  # fmt: skip
    e2e = asyncio.run(bench_end_to_end(30, 200 if quick else 1000, 100 if quick else 300))
    rows += [
        ("end to end: readings/s through Mosquitto and the service", f"{e2e['msgs_per_s']:,.0f}"),
        ("end to end: reading over the limit to its alarm, p50 (ms)", f"{e2e['p50_ms']:.1f}"),
        ("end to end: reading over the limit to its alarm, p99 (ms)", f"{e2e['p99_ms']:.1f}"),
    ]
    print("| measure | figure |\n|---|---|")
    for name, figure in rows:
        print(f"| {name} | {figure} |")


if __name__ == "__main__":
    main()
