"""The recording player and the pager simulator against a Mosquitto of their own: a real MIMIC-II
record played into the service, and pages answered (or not) by each rule."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.app import Service
from monitor.broker import Mosquitto, free_port
from monitor.record import AlarmEntry
from monitor.wire.payloads import PagerReplyIn, format_event_time, validate
from monitor.wire.topics import Inbound
from simulators.pager import parse_rule, run_pagers
from simulators.player import play
from tests.integration.conftest import ROOT, SITE, Bus, StartService

pytestmark = pytest.mark.integration

MIMIC = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mimic2-numerics"
T0 = 1_795_000_000.0
PAGE: dict[str, Any] = {
    "page": "pg-1",
    "ts": "2026-11-18T11:06:40.000Z",
    "alarm": "al-1",
    "chair": "c03",
    "priority": "high",
    "text": "SBP 186 > 180 mmHg",
}


def _record(name: str) -> Path:
    path = MIMIC / name
    if not path.is_file():
        pytest.fail(f"the MIMIC-II numerics are missing: expected {path.resolve()}")
    return path


# The player into the service -------------------------------------------------------------


async def _stored(service: Service, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after 10 s waiting for {what}")
        await asyncio.sleep(0.05)


def _alarms_of(service: Service, kind: str) -> list[AlarmEntry]:
    return service.recorder.alarms(kind=kind)


async def test_a_real_record_played_into_the_service_sets_zeros_aside_and_alarms_on_doubt(
    mosquitto: Mosquitto, start_service: StartService
) -> None:
    service = await start_service()
    published = await play(
        _record("s25047.csv"), host="127.0.0.1", port=mosquitto.port, root=ROOT, site=SITE,
        chair="c01", speed=0, start_epoch=T0,
    )  # fmt: skip
    await _stored(
        service,
        lambda: bool(_alarms_of(service, "monitor_offline")),
        "the monitor_offline alarm the player's offline at the end of the record raises",
    )
    messages = Counter((m.kind, m.outcome) for m in service.recorder.messages(chair="c01"))
    outcomes = [{"kind": k, "outcome": o, "n": n} for (k, o), n in sorted(messages.items())]
    cuff_24 = [
        {"sbp": r.sbp, "dbp": r.dbp, "map": r.map}
        for r in service.recorder.readings(chair="c01")
        if r.ts == T0 + 24 * 60
    ]
    artefacts = {
        vital: service.metrics.count(service.metrics.artefacts, vital)
        for vital in ("hr", "pr", "spo2", "sbp", "dbp", "map")
    }
    alarms = [
        {"kind": a.kind, "state": a.state, "value": a.value, "note": a.note}
        for a in service.recorder.alarms(chair="c01")
    ]
    raised: dict[str, dict[str, Any]] = {}  # each kind as it first became active
    for alarm in alarms:
        if alarm["state"] == "active":
            raised.setdefault(alarm["kind"], alarm)

    assert published == 72
    assert outcomes == [
        {"kind": "device", "outcome": "accepted", "n": 2},  # online, then offline at the end
        {"kind": "vitals", "outcome": "accepted", "n": 72},
    ]
    assert cuff_24 == [{"sbp": 147.0, "dbp": 118.0, "map": 131.0}]  # stored as recorded
    # Only the monitor's 0s ("no valid value") are set aside: HR at minutes 6 and 45-71, PULSE
    # (sent as pr) 8 times, SpO2 11 times. Every cuff is something a patient could show.
    assert artefacts == {"hr": 28, "pr": 8, "spo2": 11, "sbp": 0, "dbp": 0, "map": 0}
    # Doubt raises, never discards (CLINICAL.md, safety rule 1): the narrow 147/118 raises
    # dbp_high and SpO2 42.9 spo2_low, each with the advice; at minute 40 the oximeter's pulse
    # rate (102) is far from the ECG's HR (73.2), so SpO2 71.1 is marked as possible motion.
    assert raised["dbp_high"]["value"] == 118
    assert raised["dbp_high"]["note"].startswith("questionable: repeat the cuff")
    assert raised["spo2_low"]["note"].startswith("questionable: check the probe")
    assert raised["spo2_critical"]["value"] == 71.1
    assert raised["spo2_critical"]["note"] == "possible motion artefact"
    assert all(a["value"] != 0 for a in alarms if a["value"] is not None)


async def test_play_keeps_the_recorded_pace(mosquitto: Mosquitto, bus: Bus, tmp_path: Path) -> None:
    record = tmp_path / "three.csv"
    record.write_text("minute,HR,SpO2\n0,70,98\n1,71,97\n2,72,96\n")
    started = time.monotonic()

    published = await play(
        record, host="127.0.0.1", port=mosquitto.port, root=ROOT, site=SITE, chair="c02",
        speed=240, start_epoch=T0,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    readings = await bus.wait_for(
        lambda: len(bus.on("/vitals", "c02")) == 3 and bus.on("/vitals", "c02"), what="3 readings"
    )

    assert published == 3
    assert 0.5 <= elapsed < 5  # 120 recorded seconds at 240 per second
    assert [r["ts"] for r in readings] == [format_event_time(T0 + m * 60) for m in range(3)]


async def test_play_without_a_broker_raises() -> None:
    with pytest.raises(aiomqtt.MqttError):
        await play(_record("s25047.csv"), host="127.0.0.1", port=free_port(), site=SITE,
                   chair="c01", speed=0)  # fmt: skip


# The pager simulator ---------------------------------------------------------------------


def _reply_topic(pager: str) -> str:
    return f"{ROOT}/{SITE}/pager/{pager}/reply"


def _replies(bus: Bus, pager: str = "p1") -> list[dict[str, Any]]:
    return [r.payload for r in bus.seen if r.topic == _reply_topic(pager)]


async def _page(bus: Bus, pager: str = "p1", **changes: Any) -> float:
    sent = time.time()
    await bus.publish(f"{ROOT}/{SITE}/pager/{pager}", {**PAGE, **changes})
    return sent


async def _printed(out: io.StringIO, text: str) -> None:
    deadline = time.monotonic() + 5
    while text not in out.getvalue():
        if time.monotonic() > deadline:
            raise AssertionError(f"the pager did not print {text!r}; it printed:\n{out.getvalue()}")
        await asyncio.sleep(0.02)


class Nurse:
    """Lines typed at the pager in manual mode."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str] = asyncio.Queue(maxsize=10)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            yield await self.lines.get()


@contextlib.asynccontextmanager
async def pagers(
    port: int, rule: str, names: tuple[str, ...] | None = ("p1",), nurse: Nurse | None = None
) -> AsyncIterator[io.StringIO]:
    out, stop, ready = io.StringIO(), asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(
        run_pagers(
            host="127.0.0.1", port=port, root=ROOT, site=SITE, pagers=None if names is None else list(names),
            rule=parse_rule(rule), out=out, stop=stop, ready=ready, answers=nurse,
        ),
        name="pagers-under-test",
    )  # fmt: skip
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield out
        assert not running.done(), "the pagers stopped by themselves"
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_accept_answers_after_its_delay_naming_the_page(
    mosquitto: Mosquitto, bus: Bus
) -> None:
    async with pagers(mosquitto.port, "accept:0.2") as out:
        sent = await _page(bus, patient="Jane Doe")
        replies = await bus.wait_for(lambda: _replies(bus), what="a reply from p1")
        answered = next(r.at for r in bus.seen if r.topic == _reply_topic("p1"))

    reply = validate(Inbound.PAGER_REPLY, json.dumps(replies[0]).encode())
    assert isinstance(reply, PagerReplyIn)
    assert (reply.page, reply.reply) == ("pg-1", "accept")
    assert answered - sent >= 0.2
    assert len(replies) == 1
    assert "HIGH    chair c03  SBP 186 > 180 mmHg  [page pg-1]" in out.getvalue()
    assert "Jane" not in out.getvalue()


async def test_ignore_never_answers(mosquitto: Mosquitto, bus: Bus) -> None:
    async with pagers(mosquitto.port, "ignore") as out:
        await _page(bus)
        await _printed(out, "[page pg-1]")  # it did get the page
        await asyncio.sleep(1.0)

    assert _replies(bus) == []


async def test_decline_declines(mosquitto: Mosquitto, bus: Bus) -> None:
    async with pagers(mosquitto.port, "decline") as _:
        await _page(bus)
        replies = await bus.wait_for(lambda: _replies(bus), what="a reply from p1")

    assert [(r["page"], r["reply"]) for r in replies] == [("pg-1", "decline")]
    assert validate(Inbound.PAGER_REPLY, json.dumps(replies[0]).encode())


async def test_decline_then_accept_accepts_the_alarms_second_page(
    mosquitto: Mosquitto, bus: Bus
) -> None:
    async with pagers(mosquitto.port, "decline-then-accept:0.1") as _:
        await _page(bus, page="pg-1")
        await bus.wait_for(lambda: len(_replies(bus)) == 1, what="the first reply")
        await _page(bus, page="pg-2")
        replies = await bus.wait_for(lambda: len(_replies(bus)) == 2 and _replies(bus), what="2")

    assert [(r["page"], r["reply"]) for r in replies] == [("pg-1", "decline"), ("pg-2", "accept")]


async def test_a_malformed_page_is_reported_and_the_next_one_answered(
    mosquitto: Mosquitto, bus: Bus
) -> None:
    async with pagers(mosquitto.port, "accept:0") as out:
        await bus.publish(f"{ROOT}/{SITE}/pager/p1", b"\x00not a page")
        await bus.publish(f"{ROOT}/{SITE}/pager/p1", {**PAGE, "priority": "urgent"})
        await _page(bus)
        replies = await bus.wait_for(lambda: _replies(bus), what="a reply to the good page")

    assert [(r["page"], r["reply"]) for r in replies] == [("pg-1", "accept")]
    assert out.getvalue().count("! malformed page on clinic/t1/pager/p1 skipped") == 2


async def test_every_pager_of_the_site_when_none_is_named(mosquitto: Mosquitto, bus: Bus) -> None:
    async with pagers(mosquitto.port, "accept:0", names=None) as _:
        await _page(bus, "p7", page="pg-7")
        await _page(bus, "nurse-lee", page="pg-8")
        await bus.wait_for(lambda: _replies(bus, "p7") and _replies(bus, "nurse-lee"), what="2")

    assert [r["page"] for r in _replies(bus, "p7")] == ["pg-7"]
    assert [r["page"] for r in _replies(bus, "nurse-lee")] == ["pg-8"]


async def test_a_named_pager_answers_only_its_own_pages(mosquitto: Mosquitto, bus: Bus) -> None:
    async with pagers(mosquitto.port, "accept:0", names=("p1",)) as _:
        await _page(bus, "p2", page="pg-2")
        await _page(bus, "p1", page="pg-1")
        await bus.wait_for(lambda: _replies(bus, "p1"), what="p1's reply")
        await asyncio.sleep(0.3)

    assert _replies(bus, "p2") == []


async def test_manual_answers_the_oldest_waiting_page(mosquitto: Mosquitto, bus: Bus) -> None:
    nurse = Nurse()
    async with pagers(mosquitto.port, "manual", nurse=nurse) as out:
        await _page(bus, page="pg-1")
        await _page(bus, page="pg-2")
        await _printed(out, "2 waiting")
        await nurse.lines.put("maybe\n")
        await nurse.lines.put("d\n")
        await nurse.lines.put("a\n")
        replies = await bus.wait_for(lambda: len(_replies(bus)) == 2 and _replies(bus), what="2")
        await nurse.lines.put("a\n")
        await _printed(out, "no page waiting")

    assert [(r["page"], r["reply"]) for r in replies] == [("pg-1", "decline"), ("pg-2", "accept")]
    assert "type a (accept) or d (decline)" in out.getvalue()


async def test_pagers_raise_when_the_broker_goes(mosquitto: Mosquitto) -> None:
    stop = asyncio.Event()
    ready = asyncio.Event()
    running = asyncio.create_task(
        run_pagers(host="127.0.0.1", port=mosquitto.port, root=ROOT, site=SITE, pagers=None,
                   rule=parse_rule("accept:0"), out=io.StringIO(), stop=stop, ready=ready)
    )  # fmt: skip
    await asyncio.wait_for(ready.wait(), 10)
    await mosquitto.stop()

    with pytest.raises(aiomqtt.MqttError):
        await asyncio.wait_for(running, 10)


async def test_pagers_without_a_broker_raise() -> None:
    with pytest.raises(aiomqtt.MqttError):
        await run_pagers(host="127.0.0.1", port=free_port(), root=ROOT, site=SITE, pagers=None,
                         rule=parse_rule("ignore"), out=io.StringIO())  # fmt: skip
