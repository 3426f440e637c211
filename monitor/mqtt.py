"""The broker link: connect with a Last Will, subscribe, receive, publish, and reconnect.

How this works: `MqttLink.run` loops around `async with aiomqtt.Client(...)` (the client is
reusable but not re-entrant). On every connection it publishes the service status `online`
(retained; the Last Will says `offline`), subscribes again, and calls `on_connect` for what must
be republished (every chair's retained state). Inside a connection, one task receives and one
publishes from a bounded outbox. A lost connection backs off with full jitter, capped, and tries
again forever; cancellation is never swallowed. TCP_NODELAY is set on the socket: without it an
alarm published right after the PUBACK of the reading that caused it waits for Nagle. With an
`mqtts://` address the link speaks TLS and checks the broker's certificate (`broker_client`,
which the simulators use too).

Nothing acknowledged is lost (a link with a `ledger`, the service's): the broker session is
persistent (a fixed client id, clean session off, QoS 1 subscriptions), so the broker keeps what
arrives while the service is down or reconnecting, and each QoS 1 message is acknowledged only
once what it became is kept (`Ledger.kept`: in the record, or in the record's spill file), in
the order the messages arrived. Handling a message does not wait for that: its alarms go out
first, and the acknowledgements follow each write of the record. aiomqtt acknowledges on
receipt and has no switch for it (its issue #345), so the link turns paho's manual
acknowledgement on in the client aiomqtt wraps (`manual_ack_set`) and acknowledges with paho's
`ack(mid, qos)` (the workaround described in that issue); docs/architecture.md says why. A
message the broker sends again after a reconnection (it was not acknowledged yet) is handled
again: the core refuses a reading it has seen, and a command a second time changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiomqtt

from monitor.wire.address import BrokerAddress, BrokerTls
from monitor.wire.outbound import Outgoing

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 10.0
OUTBOX_SIZE = 10_000
# The intake: past its high-water mark (messages or bytes of payload and topic) the link stops
# reading its socket, so the broker holds the rest (its queue limits are set for this: see
# docs/mosquitto) until the intake is down to half; nothing is dropped here. A pause is short
# (the intake drains thousands a second), well inside the keepalive. Past INTAKE_SIZE, which
# only a link that cannot pause reaches, aiomqtt drops and we count.
INTAKE_HIGH = 5_000
INTAKE_HIGH_BYTES = 64 * 1024 * 1024
INTAKE_SIZE = 50_000
SEND_BATCH = 64
RECEIVE_BATCH = 16  # messages taken from the intake between two turns of the event loop


class LinkMeter(Protocol):
    """What the link reports for counting (the service's Prometheus metrics, say)."""

    def link_connected(self, connected: bool) -> None: ...
    def link_published(self, count: int) -> None: ...
    def link_publish_dropped(self) -> None: ...
    def link_inbound_dropped(self) -> None: ...
    def link_outbox(self, depth: int) -> None: ...


class Ledger(Protocol):
    """Where handled messages end up (the record's `Writer`): positions in what it was offered,
    and how many of the first are kept for good."""

    @property
    def offered(self) -> int: ...
    @property
    def kept(self) -> int: ...


class Unmetered:
    """A meter that counts nothing (a station's link, a test's)."""

    def link_connected(self, connected: bool) -> None:
        pass

    def link_published(self, count: int) -> None:
        pass

    def link_publish_dropped(self) -> None:
        pass

    def link_inbound_dropped(self) -> None:
        pass

    def link_outbox(self, depth: int) -> None:
        pass


class MqttLink:
    def __init__(
        self,
        broker: BrokerAddress,
        *,
        client_id: str,
        subscriptions: list[str],
        on_message: Callable[[str, bytes, float, bool], Awaitable[None]],
        will: Outgoing | None = None,
        on_connect: Callable[[], list[Outgoing]] = list,
        on_change: Callable[[bool], None] = lambda connected: None,
        meter: LinkMeter | None = None,
        keepalive_s: int = 10,
        ledger: Ledger | None = None,
    ) -> None:
        """With a `ledger` the broker session is persistent and each message is acknowledged
        once the ledger keeps what it became (see the module's docstring); `client_id` must
        then be the same at every start, and not another client's."""
        self.broker, self.client_id, self.subscriptions = broker, client_id, subscriptions
        self.will, self.on_message, self.on_connect = will, on_message, on_connect
        self.on_change, self.keepalive_s = on_change, keepalive_s
        self.meter: LinkMeter = meter or Unmetered()
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._retry: deque[Outgoing] = deque()
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self.closing = False  # set before the link is cancelled: never reconnect after it
        self.ledger = ledger
        # Messages handled and not yet acknowledged, in arrival order: (ledger position after
        # the message, its packet id), and how to acknowledge on the current connection.
        self._unacked: deque[tuple[int, int]] = deque()
        self._ack: Callable[[int, int], object] | None = None

    def publish(self, message: Outgoing) -> None:
        """Queue a message; when the outbox is full the oldest goes, counted and logged."""
        if self.outbox.full():
            dropped = self.outbox.get_nowait()
            self.meter.link_publish_dropped()
            log.error("outbox full (%d): dropped a message for %s", OUTBOX_SIZE, dropped.topic)
        self.outbox.put_nowait(message)
        self.meter.link_outbox(self.outbox.qsize())

    async def run(self) -> None:
        attempt = 0
        while not self.closing:
            try:
                await self._session()
            except* aiomqtt.MqttError as group:
                self.last_error = str(group.exceptions[0])
            self._disconnected()
            attempt += 1
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            log.warning(
                "broker %s unreachable (%s); retrying in %.1f s",
                self.broker.url,
                self.last_error,
                delay,
            )
            await asyncio.sleep(delay)
            if self.connected_since is not None:
                attempt = 0

    def release(self) -> None:
        """Acknowledge, in arrival order, every message whose entries the ledger now keeps."""
        if self.ledger is None or self._ack is None:
            return
        kept = self.ledger.kept
        while self._unacked and self._unacked[0][0] <= kept:
            self._ack(self._unacked.popleft()[1], 1)

    def _disconnected(self) -> None:
        self._unacked.clear()  # their ids belonged to that connection: the broker sends again
        self._ack = None
        was = self.connected.is_set()
        self.connected.clear()
        self.meter.link_connected(False)
        if was:
            self.on_change(False)

    async def _session(self) -> None:
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=True)
        client = broker_client(
            self.broker,
            identifier=self.client_id,
            will=will,
            clean_session=self.ledger is None,
            keepalive=self.keepalive_s,
            timeout=10,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            queue_type=_bounded_intake(self.meter),
        )
        client.pending_calls_threshold = SEND_BATCH + 1  # a full batch in flight is by design
        self.connected_since = None
        manual = self.ledger is not None and _manual_ack(client)
        async with client:
            _flow_control(client)
            _still_wanted(self)
            for topic in self.subscriptions:
                await client.subscribe(topic, qos=1)
            _still_wanted(self)
            for message in self.on_connect():
                self._retry.append(message)
            self.connected_since = time.time()
            self.connected.set()
            self.meter.link_connected(True)
            self.on_change(True)
            log.info(
                "connected to %s, subscribed to %s", self.broker.url, ", ".join(self.subscriptions)
            )
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._send(client), name="mqtt-send")
                tasks.create_task(self._receive(client, manual), name="mqtt-receive")

    async def _receive(self, client: aiomqtt.Client, manual: bool) -> None:
        """Hand each message on, in order. While messages wait, they are taken straight from
        the intake (aiomqtt's iterator makes a task per message to watch for a disconnection,
        which a waiting message does not need), with a pause every RECEIVE_BATCH so the
        sender and the clock tick run in a burst too. With `manual` acknowledgement each QoS 1
        message is noted, to be acknowledged once kept (`release`)."""
        ledger = self.ledger if manual else None
        if ledger is not None:
            self._ack = getattr(client, "_client").ack  # noqa: B009 (checked by _manual_ack)
        queue = getattr(client, "_queue", None)
        waiting = queue if isinstance(queue, Intake) else None
        messages = client.messages
        taken = 0
        while True:
            if waiting is not None and not waiting.empty():
                message = waiting.get_nowait()
                taken += 1
                if taken % RECEIVE_BATCH == 0:
                    await asyncio.sleep(0)
            else:
                message = await anext(messages)
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            await self.on_message(message.topic.value, data, time.time(), bool(message.retain))
            if ledger is not None and message.qos > 0:
                self._unacked.append((ledger.offered, message.mid))
                self.release()

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish in order, up to `SEND_BATCH` messages in flight at once (waiting for each
        PUBACK in turn would cap the link at one round trip per message)."""
        while True:
            batch = [self._retry.popleft() if self._retry else await self.outbox.get()]
            while len(batch) < SEND_BATCH and (self._retry or not self.outbox.empty()):
                batch.append(self._retry.popleft() if self._retry else self.outbox.get_nowait())
            self.meter.link_outbox(self.outbox.qsize())
            try:
                await asyncio.gather(
                    *(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in batch)
                )
            except aiomqtt.MqttError:
                self._retry.extendleft(reversed(batch))  # QoS 1: a repeat is allowed, a loss is not
                raise
            self.meter.link_published(len(batch))

    async def flush(self, within_s: float) -> None:
        """Wait until the outbox is empty (or `within_s`), e.g. before a clean shutdown."""
        deadline = time.monotonic() + within_s
        while (self.outbox.qsize() or self._retry) and time.monotonic() < deadline:
            if not self.connected.is_set():
                return
            await asyncio.sleep(0.01)


def broker_client(broker: BrokerAddress, **options: Any) -> aiomqtt.Client:
    """An aiomqtt client for `broker`: its user name, password and TLS, with `options` (the
    identifier, a Will, ...) as aiomqtt takes them. Every client of the project is made here."""
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        tls_params=tls_parameters(broker.tls),
        **options,
    )


def tls_parameters(tls: BrokerTls | None) -> aiomqtt.TLSParameters | None:
    """aiomqtt's TLS settings: verify the broker's certificate and its name, TLS 1.2 or later."""
    if tls is None:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=tls.ca,
        certfile=tls.cert,
        keyfile=tls.key,
        cert_reqs=ssl.CERT_REQUIRED,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )


def _still_wanted(link: MqttLink) -> None:
    """Stop when the link is closing, even if the cancellation that came with it was lost:
    asyncio.wait_for (inside aiomqtt's connect) on Python 3.11 can swallow one that arrives as
    the wait completes, and then stopping would hang."""
    if link.closing:
        raise asyncio.CancelledError


def _bounded_intake(meter: LinkMeter) -> type[Intake]:
    """aiomqtt's intake queue, with the link's high-water marks (see INTAKE_HIGH)."""

    class BoundedIntake(Intake):
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(meter, maxsize=maxsize or INTAKE_SIZE)

    return BoundedIntake


class Intake(asyncio.Queue[Any]):
    """Messages received and not yet handled, counted in messages and bytes. Past the
    high-water mark it asks the link to stop reading (`pause`), and once down to half to read
    again (`resume`); a message it cannot take at all is counted and refused."""

    def __init__(self, meter: LinkMeter, *, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.meter = meter
        self.bytes = 0
        self.paused = False
        self.pause: Callable[[], None] = lambda: None
        self.resume: Callable[[], None] = lambda: None

    def put_nowait(self, item: Any) -> None:
        if self.full():
            self.meter.link_inbound_dropped()
            raise asyncio.QueueFull
        super().put_nowait(item)
        self.bytes += _size(item)
        if not self.paused and (self.qsize() >= INTAKE_HIGH or self.bytes >= INTAKE_HIGH_BYTES):
            self.paused = True
            self.pause()

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        self.bytes -= _size(item)
        if (
            self.paused
            and self.qsize() <= INTAKE_HIGH // 2
            and self.bytes <= INTAKE_HIGH_BYTES // 2
        ):
            self.paused = False
            self.resume()
        return item


def _manual_ack(client: aiomqtt.Client) -> bool:
    """Turn on paho's manual acknowledgement in the client aiomqtt wraps; False (logged) when
    this aiomqtt has no paho client where expected, and messages are acknowledged on receipt."""
    paho = getattr(client, "_client", None)
    if paho is None or not callable(getattr(paho, "manual_ack_set", None)):
        log.error("this aiomqtt has no paho client to acknowledge through: messages are "
                  "acknowledged on receipt, and a crash can lose the ones not yet recorded")  # fmt: skip
        return False
    paho.manual_ack_set(True)
    return True


def _flow_control(client: aiomqtt.Client) -> None:
    """Let the intake pause and resume reading the connection's socket (TCP then holds the
    broker back, and the broker queues). aiomqtt registers its own reader on the socket; the
    link takes it over with one that does the same (read, and on an error end the connection)
    and can be removed and put back."""
    queue = getattr(client, "_queue", None)
    found = getattr(client, "_client", None)
    sock = found.socket() if found is not None else None
    if not isinstance(queue, Intake) or sock is None:
        return
    paho: Any = found
    loop = asyncio.get_running_loop()
    fileno = sock.fileno()

    def read() -> None:
        try:
            while True:
                paho.loop_read()
                pending = getattr(paho.socket(), "pending", None)  # TLS may hold decoded bytes
                if pending is None or pending() <= 0:
                    break
        except Exception as exc:  # a broken connection: end it, as aiomqtt would
            disconnected = getattr(client, "_disconnected", None)
            if isinstance(disconnected, asyncio.Future) and not disconnected.done():
                disconnected.set_exception(exc)

    said = [float("-inf")]

    def pause() -> None:
        loop.remove_reader(fileno)
        if time.monotonic() - said[0] >= 60:  # a flood pauses often: say so once a minute
            said[0] = time.monotonic()
            log.warning("intake at its high-water mark (%d messages, %d bytes): the broker "
                        "holds the rest until it is down to half", queue.qsize(), queue.bytes)  # fmt: skip

    def resume() -> None:
        if paho.socket() is not sock or sock.fileno() != fileno:
            return  # the connection closed meanwhile: its number may be another's by now
        with contextlib.suppress(OSError, ValueError):
            loop.add_reader(fileno, read)

    loop.remove_reader(fileno)
    loop.add_reader(fileno, read)
    queue.pause, queue.resume = pause, resume


def _size(message: Any) -> int:
    """About what a queued message holds: its payload and its topic."""
    payload = getattr(message, "payload", b"")
    topic = getattr(message, "topic", "")
    return (len(payload) if isinstance(payload, bytes | str) else 0) + len(str(topic))
