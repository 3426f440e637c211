"""Publishing simulated messages over MQTT, paced by a speed factor, like the real devices do.

Each chair's monitor has its own connection with a Last Will (`offline`, retained, on its device
topic): unplugging it drops the socket without a DISCONNECT, so the broker itself publishes the
Will, exactly as when a real monitor loses its network. When the simulator stops, every
monitor says `offline` (retained) before it disconnects: a retained `online` left behind would be
a monitor that no longer exists. Pumps and the nurse's station share one more connection.
Simulation time runs `speed` times faster than wall time.

On a broker with identities (docs/mosquitto/), the station's connection is the `broker` address's
user and each monitor may have a user of its own (`monitors`: the chair's address, e.g. user
`monitor-c01`), as the shipped ACL wants: a monitor may publish only its own chair's readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable

import aiomqtt

from monitor.mqtt import broker_client
from monitor.wire.address import BrokerAddress
from simulators.story import Link, SimMessage, device_name, encode

log = logging.getLogger(__name__)
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
SWITCH_OFF_TIMEOUT_S = 2.0  # for all the monitors' `offline`, when the broker may be gone


class _Monitors:
    """The chairs' monitor connections, opened and dropped as the story says."""

    def __init__(self, broker: Callable[[str], BrokerAddress]) -> None:
        self.broker = broker
        self.clients: dict[str, aiomqtt.Client] = {}
        self.topics: dict[str, str] = {}  # each chair's device topic

    async def link(self, message: SimMessage) -> None:
        if message.link is Link.CONNECT:
            await self._connect(message)
        elif message.link is Link.DROP:
            await self._drop(message.chair)

    def client(self, chair: str) -> aiomqtt.Client | None:
        return self.clients.get(chair)

    async def _connect(self, message: SimMessage) -> None:
        await self._close(message.chair)
        will = aiomqtt.Will(message.topic, _offline(message.chair), qos=1, retain=True)
        client = broker_client(
            self.broker(message.chair), identifier=device_name(message.chair), will=will,
            keepalive=10, socket_options=NODELAY,
        )  # fmt: skip
        await client.__aenter__()
        self.clients[message.chair] = client
        self.topics[message.chair] = message.topic

    async def _drop(self, chair: str) -> None:
        """Pull the cable: close the socket under the client, no DISCONNECT."""
        client = self.clients.pop(chair, None)
        if client is None:
            return
        sock = client._client.socket()  # paho's socket: the one thing a cable pull touches
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await client.__aexit__(None, None, None)

    async def _close(self, chair: str) -> None:
        client = self.clients.pop(chair, None)
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def switch_off_all(self) -> None:
        """Every monitor says `offline` (retained, as its Will would), all at once and for at
        most SWITCH_OFF_TIMEOUT_S in all, then disconnects."""
        offline = [
            client.publish(self.topics[chair], _offline(chair), qos=1, retain=True)
            for chair, client in self.clients.items()
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SWITCH_OFF_TIMEOUT_S):
                await asyncio.gather(*offline, return_exceptions=True)  # a broker gone: no matter
        for chair in list(self.clients):
            await self._close(chair)


def _honour_cancellation() -> None:
    """aiomqtt's connect can swallow a cancellation on Python 3.11 (the monitors connect while
    the simulator runs): a stop asked for must still stop the loop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _offline(chair: str) -> bytes:
    """What the monitor's Last Will says, and what it says itself when switched off."""
    return encode({"state": "offline", "device": device_name(chair)})


async def publish(
    messages: Iterable[SimMessage],
    *,
    broker: BrokerAddress | None = None,
    host: str = "127.0.0.1",
    port: int = 1883,
    monitors: Callable[[str], BrokerAddress] | None = None,
    speed: float = 1.0,
    catch_up_s: float = 0.0,
) -> int:
    """Publish `messages` (in time order), `speed` simulation seconds per wall second (0 or
    less: as fast as possible). Messages before simulation time `catch_up_s` go out as fast as
    possible (a clinic that was already running). Returns the number of messages published.

    Args:
        broker: the broker, and the station's (and pumps') user; left out, `host` and `port`
            with no user and no TLS.
        monitors: each chair's monitor's address (its own user); default `broker`.
    """
    count = 0
    station_at = broker or BrokerAddress(host, port)
    async with contextlib.AsyncExitStack() as stack:
        station = await stack.enter_async_context(
            broker_client(station_at, identifier="clinic-station", socket_options=NODELAY)
        )
        bedside = _Monitors(monitors or (lambda chair: station_at))
        stack.push_async_callback(bedside.switch_off_all)
        wall0, sim0 = time.monotonic(), None
        for message in messages:
            _honour_cancellation()
            if message.at_s < catch_up_s:
                wall0 = time.monotonic()
            else:
                sim0 = message.at_s if sim0 is None else sim0
            if speed > 0 and sim0 is not None:
                delay = wall0 + (message.at_s - sim0) / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if message.link is not None:
                await bedside.link(message)
                continue
            client = station if not message.topic.endswith(("/vitals", "/device")) else None
            client = client or bedside.client(message.chair) or station
            await client.publish(message.topic, message.payload, qos=1, retain=message.retain)
            count += 1
    return count
