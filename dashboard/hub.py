"""The dashboard's view of the clinic, learnt from the monitor's MQTT outputs, and its fan-out
to the browsers.

How this works: the hub subscribes to every chair's retained `state`, the `alarm` and `recovery`
events and the service's `monitor/status`. It keeps each chair's latest state, a history of its
vitals for the session view and trend lines, the session's alarm transitions and its latest
recovery event (which alone says who discharged before recovery was confirmed). Each browser is
a `Viewer` with its own outbox: chair updates are coalesced per chair (a newer state replaces one
not yet sent), events wait in a bounded queue, and a browser that cannot keep up (its queue
overflows, or one send takes longer than `SEND_TIMEOUT_S`) is dropped and reconnects, without
slowing anyone else. Nurse actions go back as contract commands, validated before they leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from monitor.mqtt import MqttLink
from monitor.wire.address import BrokerAddress
from monitor.wire.outbound import Outgoing
from monitor.wire.payloads import PayloadError, parse_event_time, validate
from monitor.wire.topics import Inbound, check_name, status_topic

log = logging.getLogger(__name__)

TREND_S = 1800.0  # what a tile's trend line shows
HISTORY_STEP_S = 5.0  # history keeps one point per vital per this many seconds
HISTORY_POINTS = 6 * 3600 // 5  # six hours of a session
ALARM_LOG = 500
VIEWER_EVENTS = 256
SEND_TIMEOUT_S = 5.0
SERVICE_SILENT_S = 5.0  # the service says it is alive every 2 s
VITALS = ("hr", "spo2", "sbp", "dbp")


class MessageKind(StrEnum):
    """The `type` of a message the hub sends a browser."""

    ALARM = "alarm"
    CHAIR = "chair"
    LINK = "link"
    PING = "ping"


class ServiceState(StrEnum):
    """What the browsers are told of the monitoring service."""

    ONLINE = "online"
    OFFLINE = "offline"
    SILENT = "silent"  # it said online, then nothing for SERVICE_SILENT_S
    UNKNOWN = "unknown"  # no word from it yet, or a state it does not have

    @classmethod
    def reported(cls, state: object) -> ServiceState:
        """The state a status message reports."""
        return next((member for member in cls if member.value == state), cls.UNKNOWN)


SERVICE_DETAIL: dict[ServiceState, str] = {
    ServiceState.ONLINE: "monitoring service running",
    ServiceState.OFFLINE: "the monitoring service is not running: alarms are not being raised",
    ServiceState.SILENT: "the monitoring service has stopped reporting: alarms may not be raised",
    ServiceState.UNKNOWN: "no word from the monitoring service yet",
}
PING = json.dumps({"type": MessageKind.PING}, separators=(",", ":"))


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(eq=False)  # each browser is itself: kept in a set by identity
class Viewer:
    """One browser: its own bounded outbox, drained by `run`."""

    socket: Socket
    name: str
    chairs: dict[str, str] = field(default_factory=dict)  # chair -> newest message, coalesced
    events: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: str | None = None

    def offer_chair(self, chair: str, message: str) -> None:
        self.chairs[chair] = message
        self.wake.set()

    def offer_event(self, message: str) -> None:
        if len(self.events) >= VIEWER_EVENTS:
            self.dropped = "too slow: its event queue is full"
            self.chairs.clear()
            self.events.clear()
        else:
            self.events.append(message)
        self.wake.set()

    async def run(self) -> None:
        """Send until the browser is dropped or goes away (then raise or return)."""
        while self.dropped is None:
            await self.wake.wait()
            self.wake.clear()
            while self.dropped is None and (self.events or self.chairs):
                if self.events:
                    message = self.events.popleft()
                else:
                    message = self.chairs.pop(next(iter(self.chairs)))
                try:
                    await asyncio.wait_for(self.socket.send_text(message), SEND_TIMEOUT_S)
                except TimeoutError:
                    self.dropped = (
                        self.dropped or f"too slow: a send took over {SEND_TIMEOUT_S:g} s"
                    )
        log.warning("dropping browser of %s: %s", self.name, self.dropped)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code=1013, reason="too slow"), 1.0)


@dataclass
class ChairView:
    state: dict[str, Any] | None = None
    session: str | None = None
    history: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    alarms: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ALARM_LOG))
    recovery: dict[str, Any] | None = None  # the latest `recovery` event, of whichever session

    def take_state(self, state: dict[str, Any]) -> None:
        if state.get("session") != self.session:
            self.session = state.get("session")
            self.history = {}
            self.alarms.clear()
        self.state = state
        for vital in VITALS:
            seen = (state.get("vitals") or {}).get(vital)
            if seen:
                self._remember(vital, parse_event_time(seen["ts"]), float(seen["value"]))

    def _remember(self, vital: str, ts: float, value: float) -> None:
        points = self.history.setdefault(vital, deque(maxlen=HISTORY_POINTS))
        if points and ts < points[-1][0] + HISTORY_STEP_S and vital not in ("sbp", "dbp"):
            return
        if points and ts <= points[-1][0]:
            return
        points.append((ts, value))

    def trend(self, now: float) -> dict[str, list[tuple[float, float]]]:
        return {v: [p for p in pts if p[0] >= now - TREND_S] for v, pts in self.history.items()}

    def session_recovery(self) -> dict[str, Any] | None:
        """The latest recovery event when it belongs to the session the state shows."""
        if self.recovery is None or self.state is None:
            return None
        return self.recovery if self.recovery.get("session") == self.state.get("session") else None


class Hub:
    def __init__(self, *, broker: BrokerAddress, root: str, site: str) -> None:
        self.root, self.site = root, site
        self.chairs: dict[str, ChairView] = {}
        self.viewers: set[Viewer] = set()
        self.service_state = ServiceState.UNKNOWN
        self.service_seen: float | None = None
        base = f"{root}/{site}"
        self.broker_link = MqttLink(
            broker,
            client_id=f"infusion-dashboard-{site}-{secrets.token_hex(3)}",
            subscriptions=[
                *(f"{base}/chair/+/{leaf}" for leaf in ("state", "alarm", "recovery")),
                status_topic(root, site),
            ],
            on_message=self._message,
            on_change=lambda connected: self.announce_link(),
            keepalive_s=5,
        )

    @property
    def broker_connected(self) -> bool:
        return self.broker_link.connected.is_set()

    # Reading the clinic ------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the broker forever (the service's own link: reconnects, backoff, resubscribe)."""
        await self.broker_link.run()

    def close(self) -> None:
        """Before cancelling `run`: never reconnect after this."""
        self.broker_link.closing = True

    async def _message(self, topic: str, payload: bytes, wall: float, retained: bool) -> None:
        self.take(topic, payload, wall)

    def take(self, topic: str, payload: bytes, wall: float) -> None:
        """One message from the service: remember it and tell the browsers."""
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            log.warning("dashboard: not JSON on %s", topic)
            return
        if not isinstance(data, dict):
            return
        if topic == status_topic(self.root, self.site):
            self._status(data, wall)
            return
        self.service_seen = wall
        parts = topic.split("/")
        chair, leaf = parts[-2], parts[-1]
        if leaf == "state":
            view = self.chairs.setdefault(chair, ChairView())
            view.take_state(data)
            self._broadcast_chair(chair, wall)
        elif leaf == "alarm":
            self.chairs.setdefault(chair, ChairView()).alarms.append(data)
            self._broadcast_event({"type": MessageKind.ALARM, "alarm": data})
        elif leaf == "recovery":
            self.chairs.setdefault(chair, ChairView()).recovery = data
            self._broadcast_chair(chair, wall)

    def _status(self, data: dict[str, Any], wall: float) -> None:
        self.service_state = ServiceState.reported(data.get("state"))
        self.service_seen = wall
        self.announce_link()

    # Telling the browsers ----------------------------------------------------------------

    def link(self, wall: float) -> dict[str, Any]:
        service = self.service_state
        if service is ServiceState.ONLINE and (
            self.service_seen is None or wall - self.service_seen > SERVICE_SILENT_S
        ):
            service = ServiceState.SILENT
        return {
            "type": MessageKind.LINK,
            "broker": self.broker_connected,
            "service": service,
            "detail": SERVICE_DETAIL[service],
        }

    def announce_link(self, wall: float | None = None) -> None:
        self._broadcast_event(self.link(wall if wall is not None else time.time()))

    def chair_message(self, chair: str, wall: float) -> str | None:
        view = self.chairs.get(chair)
        if view is None or view.state is None:
            return None
        now = parse_event_time(view.state["ts"]) if view.state.get("ts") else wall
        trend = view.trend(now)
        recovery = view.session_recovery()
        return json.dumps(
            {"type": MessageKind.CHAIR, "chair": view.state, "trend": trend, "recovery": recovery}
        )

    def _broadcast_chair(self, chair: str, wall: float) -> None:
        if not self.viewers:
            return
        message = self.chair_message(chair, wall)
        if message is not None:
            for viewer in self.viewers:
                viewer.offer_chair(chair, message)

    def _broadcast_event(self, event: dict[str, Any]) -> None:
        message = json.dumps(event)
        for viewer in self.viewers:
            viewer.offer_event(message)

    def welcome(self, viewer: Viewer, hello: dict[str, Any]) -> None:
        """A new browser: hello, the link, then every chair."""
        viewer.offer_event(json.dumps(hello))
        viewer.offer_event(json.dumps(self.link(time.time())))
        for chair in sorted(self.chairs):
            message = self.chair_message(chair, time.time())
            if message is not None:
                viewer.offer_chair(chair, message)

    async def heartbeat(self) -> None:
        """Every 2 s: a ping to every browser, and the link (a silent service shows up here)."""
        while True:
            await asyncio.sleep(2.0)
            wall = time.time()
            link = self.link(wall)
            for viewer in list(self.viewers):
                viewer.offer_event(json.dumps(link))
                viewer.offer_event(PING)

    # Acting ------------------------------------------------------------------------------

    async def command(self, chair: str, kind: Inbound, payload: dict[str, Any]) -> None:
        """Publish a nurse's command; raise ValueError with the reason when it cannot go."""
        check_name(chair, "chair")
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            validate(kind, body)
        except PayloadError as exc:
            raise ValueError(str(exc)) from None
        if not self.broker_connected:
            raise ValueError("the dashboard cannot reach the broker: nothing was sent")
        topic = f"{self.root}/{self.site}/chair/{chair}/{kind.value}"
        self.broker_link.publish(Outgoing(topic, body))
