"""The demo's fallback broker (amqtt, in the event loop) carries the contract end to end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiomqtt
import pytest

from monitor.broker import EmbeddedBroker
from monitor.cli import build_service
from monitor.settings import load_settings

pytestmark = pytest.mark.integration


async def test_service_on_the_embedded_broker_raises_an_alarm_from_a_reading(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker()
    await broker.start()
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{broker.port}", site="x",
        db=f"sqlite:///{tmp_path / 'a.db'}", http="off",
    )  # fmt: skip
    service = build_service(settings)
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.link.connected.wait(), 10)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="embedded-test") as client:
            await client.subscribe("clinic/x/chair/+/alarm", qos=1)
            reading = {"ts": time.time(), "hr": 70, "spo2": 97, "nibp": {"sys": 190, "dia": 90}}
            await client.publish("clinic/x/chair/c1/vitals", json.dumps(reading), qos=1)
            async with asyncio.timeout(10):
                message = await anext(aiter(client.messages))
        alarm = json.loads(bytes(message.payload))  # type: ignore[arg-type]
        assert alarm["kind"] == "sbp_high"
        assert alarm["state"] == "active"
    finally:
        service.stop()
        await asyncio.wait_for(task, 15)
        await broker.stop()
