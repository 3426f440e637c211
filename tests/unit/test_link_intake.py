"""The broker link's intake queue: past its high-water mark (messages or bytes) it pauses the
link's reading, and resumes it at half; past its hard size it refuses and counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from monitor import mqtt
from monitor.mqtt import Intake, Unmetered
from monitor.wire.address import BrokerAddress

TOPIC = "clinic/t1/chair/c01/vitals"  # 26 characters


@dataclass
class Message:
    topic: str
    payload: bytes


class Counting(Unmetered):
    def __init__(self) -> None:
        self.dropped = 0

    def link_inbound_dropped(self) -> None:
        self.dropped += 1


def intake(size: int = 100) -> tuple[Intake, list[str], Counting]:
    meter = Counting()
    queue = Intake(meter, maxsize=size)
    said: list[str] = []
    queue.pause, queue.resume = (lambda: said.append("pause")), (lambda: said.append("resume"))
    return queue, said, meter


async def test_past_its_bytes_the_intake_pauses_reading_and_resumes_at_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mqtt, "INTAKE_HIGH_BYTES", 200_000)
    queue, said, meter = intake()
    big = Message(TOPIC, b"x" * 60_000)
    for _ in range(3):
        queue.put_nowait(big)
    assert said == []
    queue.put_nowait(big)  # past 200,000 bytes: stop reading, keep what came
    assert (said, queue.qsize(), queue.bytes) == (["pause"], 4, 4 * 60_026)

    await queue.get()
    assert said == ["pause"]  # 180,078 bytes: not yet half
    await queue.get()
    await queue.get()
    assert said == ["pause", "resume"]  # 60,026 bytes: under half, read again
    assert meter.dropped == 0


async def test_past_its_messages_the_intake_pauses_and_resumes_at_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mqtt, "INTAKE_HIGH", 4)
    queue, said, _ = intake()
    for n in range(4):
        queue.put_nowait(Message(TOPIC, str(n).encode()))
    assert said == ["pause"]
    queue.put_nowait(Message(TOPIC, b"late"))  # what was already read is kept
    assert (said, queue.qsize()) == (["pause"], 5)

    for _ in range(3):
        queue.get_nowait()
    assert said == ["pause", "resume"]


async def test_a_full_intake_refuses_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    queue, _, meter = intake(size=2)
    queue.put_nowait(Message(TOPIC, b"1"))
    queue.put_nowait(Message(TOPIC, b"2"))
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait(Message(TOPIC, b"3"))

    assert meter.dropped == 1
    assert queue.qsize() == 2


class Ledger:
    def __init__(self) -> None:
        self.offered = 0
        self.kept = 0


def test_a_message_is_acknowledged_only_once_kept_and_in_arrival_order() -> None:
    ledger, link, acked = _acking()
    for position, mid in ((2, 7), (5, 3), (5, 9), (8, 1)):  # packet ids are not in order
        link._unacked.append((position, mid))

    link.release()
    assert acked == []
    ledger.kept = 5
    link.release()
    assert acked == [7, 3, 9]
    ledger.kept = 100
    link.release()
    assert acked == [7, 3, 9, 1]


def test_a_lost_connection_forgets_what_it_had_not_acknowledged() -> None:
    ledger, link, acked = _acking()
    link._unacked.append((1, 4))
    link._disconnected()  # the broker sends it again on the next connection
    ledger.kept = 1
    link.release()
    assert acked == []


def _acking() -> tuple[Ledger, mqtt.MqttLink, list[int]]:
    """A link with a ledger, whose acknowledgements go to a list."""
    ledger = Ledger()
    link = mqtt.MqttLink(BrokerAddress("127.0.0.1", 1), client_id="t", subscriptions=[],
                         on_message=_ignore, ledger=ledger)  # fmt: skip
    acked: list[int] = []
    link._ack = lambda mid, qos: acked.append(mid)
    return ledger, link, acked


async def _ignore(topic: str, payload: bytes, wall: float, retained: bool) -> None:
    pass
