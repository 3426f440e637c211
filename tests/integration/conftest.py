"""Integration fixtures: a Mosquitto of our own on a free port, the service, and a test client
that publishes like the clinic's devices and records everything the service publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.app import Service
from monitor.broker import Mosquitto
from monitor.cli import build_service
from monitor.settings import load_settings

SITE = "t1"
ROOT = "clinic"

pytestmark = pytest.mark.integration


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    broker = Mosquitto()
    await broker.start()
    yield broker
    await broker.stop()
    broker.close()


StartService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_service(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[StartService]:
    running: list[tuple[Service, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> Service:
        options: dict[str, Any] = {
            "broker": f"mqtt://127.0.0.1:{mosquitto.port}",
            "site": SITE,
            "db": f"sqlite:///{tmp_path / 'audit.db'}",
            "http": "off",
            "tick_s": 0.1,
            **overrides,
        }
        service = build_service(load_settings(None, **options))
        task = asyncio.create_task(service.run(), name="service-under-test")
        await asyncio.wait_for(service.link.connected.wait(), 10)
        running.append((service, task))
        return service

    yield start
    for service, task in running:
        if not task.done():
            service.stop()
            await asyncio.wait_for(task, 15)


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]
    at: float  # wall time received


@dataclass
class Bus:
    """A test client: publishes as devices do and keeps everything it sees under the site."""

    client: aiomqtt.Client
    seen: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self) -> None:
        async for message in self.client.messages:
            raw = message.payload
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            try:
                payload = json.loads(text)
            except (ValueError, RecursionError):  # the tests' own junk comes back here too
                payload = {"raw": text[:100]}
            self.seen.append(Received(message.topic.value, payload, time.time()))
            self.changed.set()

    async def publish(
        self, topic: str, payload: dict[str, Any] | bytes | str, *, retain: bool = False
    ) -> None:
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        await self.client.publish(topic, body, qos=1, retain=retain)

    async def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, payload in messages:
            await self.publish(topic, payload)

    def on(self, leaf: str, chair: str | None = None) -> list[dict[str, Any]]:
        """Payloads seen on chair topics ending in `leaf` (alarm, recovery, state)."""
        prefix = f"{ROOT}/{SITE}/chair/{chair}/" if chair else f"{ROOT}/{SITE}/chair/"
        return [
            r.payload for r in self.seen if r.topic.startswith(prefix) and r.topic.endswith(leaf)
        ]

    def alarms(self, chair: str | None = None) -> list[dict[str, Any]]:
        return self.on("/alarm", chair)

    async def wait_for(
        self, found: Callable[[], Any], *, within_s: float = 10.0, what: str = "a condition"
    ) -> Any:
        deadline = time.monotonic() + within_s
        while True:
            result = found()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within_s} s waiting for {what}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.2))

    async def settled(self, chair: str, ts: float, *, within_s: float = 20.0) -> dict[str, Any]:
        """Wait until the chair's published state has caught up with event time `ts`."""

        def caught_up() -> dict[str, Any] | None:
            for state in reversed(self.on("/state", chair)):
                if _epoch(state["ts"]) >= ts - 1e-3:
                    return state
            return None

        result: dict[str, Any] = await self.wait_for(
            caught_up, within_s=within_s, what=f"state of {chair} at {ts}"
        )
        return result


async def until(check: Callable[[], Any], *, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.05)


def transitions(bus: Bus, chair: str, **match: Any) -> list[dict[str, Any]]:
    """The alarm transitions published for `chair` whose fields have the values in `match`."""
    return [a for a in bus.alarms(chair) if all(a.get(k) == v for k, v in match.items())]


def _epoch(value: str) -> float:
    from monitor.wire.payloads import parse_event_time

    return parse_event_time(value)


@pytest.fixture
async def bus(mosquitto: Mosquitto) -> AsyncIterator[Bus]:
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    client = aiomqtt.Client(
        "127.0.0.1", mosquitto.port, identifier="test-bus", socket_options=nodelay
    )
    async with client:
        await client.subscribe(f"{ROOT}/{SITE}/#", qos=1)
        bus = Bus(client)
        task = asyncio.create_task(bus.collect(), name="test-bus-collect")
        yield bus
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
