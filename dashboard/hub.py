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

Everything the hub reads back is validated against the contract's outbound models (strictly: a
number is a number) before it is kept; a message that does not validate, or whose `site` or
`chair` disagrees with its topic, is refused: counted in `refused`, logged at most once a minute
per topic, and never raised, so one bad retained message cannot keep the station down. What is
kept, and what the browsers get, is the message as it came.
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

from pydantic import ValidationError

from monitor.mqtt import MqttLink
from monitor.quiet import QuietLog, shown
from monitor.wire.address import BrokerAddress
from monitor.wire.outbound import (
    AlarmOut,
    ChairStateOut,
    CoverageOut,
    OutboundModel,
    Outgoing,
    PagingHealthOut,
    RecordStatusOut,
    RecoveryOut,
    RefusedChairsOut,
    ServiceStatusOut,
)
from monitor.wire.payloads import PayloadError, format_event_time, parse_event_time, validate
from monitor.wire.topics import Inbound, check_name, coverage_topic, status_topic

log = logging.getLogger(__name__)

TREND_S = 1800.0  # what a tile's trend line shows
HISTORY_STEP_S = 5.0  # history keeps one point per vital per this many seconds
HISTORY_POINTS = 6 * 3600 // 5  # six hours of a session
ALARM_LOG = 500
VIEWER_EVENTS = 256
SEND_TIMEOUT_S = 5.0
SERVICE_SILENT_S = 5.0  # the service says it is alive every 2 s
VITALS = ("hr", "spo2", "sbp", "dbp")
REFUSAL_LOG_EVERY_S = 60.0  # a topic's refusals are logged at most this often
REFUSAL_TOPICS = 1024  # topics whose last refusal log is remembered
READ_BACK: dict[str, type[OutboundModel]] = {
    "state": ChairStateOut,
    "alarm": AlarmOut,
    "recovery": RecoveryOut,
}


class MessageKind(StrEnum):
    """The `type` of a message the hub sends a browser."""

    ALARM = "alarm"
    CHAIR = "chair"
    LINK = "link"
    PING = "ping"
    COVERAGE = "coverage"  # who covers which chairs (a site that pages)


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
CLOCK_SKEW_S = 2.0  # a clock this far from the service's is corrected; nearer, delivery jitter
PING = json.dumps({"type": MessageKind.PING}, separators=(",", ":"))


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a browser is dropped, and the close code that tells its page."""

    reason: str
    code: int


TOO_SLOW = 1013  # the page reconnects by itself
LOGGED_OUT = Ending("logged out", 4401)  # the page goes to the login


@dataclass(eq=False)  # each browser is itself: kept in a set by identity
class Viewer:
    """One browser: its own bounded outbox, drained by `run`."""

    socket: Socket
    name: str
    chairs: dict[str, str] = field(default_factory=dict)  # chair -> newest message, coalesced
    events: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: str | None = None
    ending: Ending | None = None

    def end(self, ending: Ending) -> None:
        """Stop sending and close the browser's socket with `ending`'s code."""
        self.ending = ending
        self.dropped = self.dropped or ending.reason
        self.chairs.clear()
        self.events.clear()
        self.wake.set()

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
        ending = self.ending or Ending("too slow", TOO_SLOW)
        level = logging.WARNING if ending.code == TOO_SLOW else logging.INFO
        log.log(level, "dropping browser of %s: %s", self.name, self.dropped)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code=ending.code, reason=ending.reason), 1.0)


@dataclass
class ChairView:
    state: dict[str, Any] | None = None
    session: str | None = None
    history: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    alarms: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ALARM_LOG))
    recovery: dict[str, Any] | None = None  # the latest `recovery` event, of whichever session

    def take_state(self, state: dict[str, Any], checked: ChairStateOut) -> None:
        """Keep `state` as it came; read its values from `checked`, its validated model."""
        if checked.session != self.session:
            self.session = checked.session
            self.history = {}
            self.alarms.clear()
        self.state = state
        for vital in VITALS:
            seen = checked.vitals.get(vital)
            if seen is not None:
                self._remember(vital, seen.ts, seen.value)

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


class Refusals:
    """Messages the hub would not keep: counted per topic, logged at most once a minute each."""

    def __init__(self) -> None:
        self.count = 0
        self.by_topic: dict[str, int] = {}
        self.quiet = QuietLog(log, every_s=REFUSAL_LOG_EVERY_S, remembered=REFUSAL_TOPICS)

    def refuse(self, topic: str, reason: str, wall: float) -> None:
        self.count += 1
        if topic not in self.by_topic and len(self.by_topic) >= REFUSAL_TOPICS:
            self.by_topic.pop(next(iter(self.by_topic)))
        self.by_topic[topic] = self.by_topic.get(topic, 0) + 1
        self.quiet.say(
            wall, topic, "refused", f"dashboard: refused a message on {shown(topic)}: {reason}"
        )


class Hub:
    def __init__(self, *, broker: BrokerAddress, root: str, site: str) -> None:
        self.root, self.site = root, site
        self.chairs: dict[str, ChairView] = {}
        self.refusals = Refusals()
        self.viewers: set[Viewer] = set()
        self.service_state = ServiceState.UNKNOWN
        self.service_seen: float | None = None
        self.record: RecordStatusOut | None = None  # the service's record, as it says
        self.refused_chairs: RefusedChairsOut | None = None  # chairs it refused, as it says
        self.paging: PagingHealthOut | None = None  # its paging path, as it says
        self.service_offset = 0.0  # the service's clock minus ours, from its last live status
        self.coverage: dict[str, Any] | None = None  # who covers which chairs, as it says
        base = f"{root}/{site}"
        self.broker_link = MqttLink(
            broker,
            client_id=f"infusion-dashboard-{site}-{secrets.token_hex(3)}",
            subscriptions=[
                *(f"{base}/chair/+/{leaf}" for leaf in ("state", "alarm", "recovery")),
                status_topic(root, site),
                coverage_topic(root, site),
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
        self.take(topic, payload, wall, retained=retained)

    def take(self, topic: str, payload: bytes, wall: float, *, retained: bool = False) -> None:
        """One message from the service: check it, remember it and tell the browsers. Never
        raises: what cannot be kept is refused (and counted in `refusals`)."""
        try:
            reason = self._take(topic, payload, wall, retained)
        except Exception:  # a bug on one message must not take the station down
            log.exception("dashboard: internal error on a message on %s", topic)
            reason = "internal error"
        if reason is not None:
            self.refusals.refuse(topic, reason, wall)

    def _take(self, topic: str, payload: bytes, wall: float, retained: bool = False) -> str | None:
        """Keep one message; the reason it was refused, or None."""
        if not payload and topic == coverage_topic(self.root, self.site):
            self.coverage = None  # its retained coverage cleared: the site no longer pages
            self._broadcast_event(self.coverage_message())
            return None
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            return "not JSON"
        if not isinstance(data, dict):
            return "not a JSON object"
        if topic == status_topic(self.root, self.site):
            return self._status(data, wall, retained)
        if topic == coverage_topic(self.root, self.site):
            return self._coverage(data)
        parts = topic.split("/")
        if len(parts) != 5 or parts[:3] != [self.root, self.site, "chair"]:
            return "not a topic the station follows"
        chair, leaf = parts[3], parts[4]
        model = READ_BACK.get(leaf)
        if model is None:
            return "not a topic the station follows"
        checked, reason = _checked(model, data, site=self.site, chair=chair)
        if checked is None:
            return reason
        self.service_seen = wall
        self._keep(chair, data, checked, wall)
        return None

    def _keep(self, chair: str, data: dict[str, Any], checked: OutboundModel, wall: float) -> None:
        view = self.chairs.setdefault(chair, ChairView())
        if isinstance(checked, ChairStateOut):
            view.take_state(data, checked)
            self._broadcast_chair(chair, wall)
        elif isinstance(checked, AlarmOut):
            view.alarms.append(data)
            self._broadcast_event({"type": MessageKind.ALARM, "alarm": data})
        else:
            view.recovery = data
            self._broadcast_chair(chair, wall)

    def _status(self, data: dict[str, Any], wall: float, retained: bool = False) -> str | None:
        checked, reason = _checked(ServiceStatusOut, data, site=self.site, chair=None)
        if not isinstance(checked, ServiceStatusOut):
            return reason
        if checked.ts is not None and not retained:  # a retained one may be hours old
            skew = checked.ts - wall  # with the delivery's delay in it: only a real skew counts
            self.service_offset = skew if abs(skew) > CLOCK_SKEW_S else 0.0
        self.service_state = ServiceState.reported(checked.state)
        self.record = checked.record if checked.state == "online" else None
        self.refused_chairs = checked.refused_chairs if checked.state == "online" else None
        self.paging = checked.paging if checked.state == "online" else None
        self.service_seen = wall
        self.announce_link()
        return None

    def _coverage(self, data: dict[str, Any]) -> str | None:
        checked, reason = _checked(CoverageOut, data, site=self.site, chair=None)
        if checked is None:
            return reason
        self.coverage = data
        self._broadcast_event(self.coverage_message())
        return None

    def coverage_message(self) -> dict[str, Any]:
        return {"type": MessageKind.COVERAGE, "coverage": self.coverage}

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
            "record": _record(self.record) if service is ServiceState.ONLINE else None,
            "refused_chairs": _refused(self.refused_chairs),
            "paging": _paging(self.paging) if service is ServiceState.ONLINE else None,
            # the service's wall clock now: stations count down to its times (a paging step
            # due) by it, whatever their own clocks say
            "service_now": round(wall + self.service_offset, 3),
        }

    def announce_link(self, wall: float | None = None) -> None:
        """Tell every browser the state of the path behind its screen."""
        self._broadcast_event(self.link(wall if wall is not None else time.time()))

    def chair_message(self, chair: str, wall: float) -> str | None:
        view = self.chairs.get(chair)
        if view is None or view.state is None:
            return None
        now = parse_event_time(view.state["ts"])  # validated when it came
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
        if self.coverage is not None:
            viewer.offer_event(json.dumps(self.coverage_message()))
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

    async def hand_over(self, pager: str, to: str, by: str) -> None:
        """Publish a nurse's hand-over of pager `pager`'s chairs to pager `to`; ValueError with
        the reason when it cannot go."""
        check_name(pager, "pager")
        body = json.dumps({"ts": format_event_time(time.time()), "to": to, "by": by},
                          separators=(",", ":")).encode()  # fmt: skip
        try:
            validate(Inbound.HANDOVER, body)
        except PayloadError as exc:
            raise ValueError(str(exc)) from None
        if not self.broker_connected:
            raise ValueError("the dashboard cannot reach the broker: nothing was sent")
        self.broker_link.publish(Outgoing(f"{self.root}/{self.site}/pager/{pager}/handover", body))


def _checked(
    model: type[OutboundModel], data: dict[str, Any], *, site: str, chair: str | None
) -> tuple[OutboundModel | None, str]:
    """`data` validated as `model` for this site (and chair), or None and the reason."""
    try:
        checked = model.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the message"
        return None, f"not a valid {model.__name__} ({where}: {first['msg']})"
    said_site, said_chair = getattr(checked, "site", site), getattr(checked, "chair", chair)
    if said_site != site:
        return None, f"its site {said_site!r} is not the topic's {site!r}"
    if said_chair != chair:
        return None, f"its chair {said_chair!r} is not the topic's {chair!r}"
    return checked, ""


def _record(record: RecordStatusOut | None) -> dict[str, Any] | None:
    """The service's record as the banner shows it: `failing` is the station-wide technical
    alarm `record_failing` (alarms go on; what happens is kept aside until it writes again)."""
    if record is None:
        return None
    return {"state": record.state, "since": record.since, "reason": record.reason,
            "backlog": record.backlog, "lost": record.lost}  # fmt: skip


def _refused(refused: RefusedChairsOut | None) -> dict[str, Any] | None:
    """Chairs the service refused, for the station's notice (a warning, not an alarm)."""
    if refused is None:
        return None
    return {"chairs": refused.chairs, "messages": refused.messages, "latest": refused.latest,
            "reason": refused.reason}  # fmt: skip


def _paging(paging: PagingHealthOut | None) -> dict[str, Any] | None:
    """The service's paging path as the banner shows it: `failing` is the station-wide
    technical alarm `paging_failed` (pages may not reach the nurses; the fail-safe group is
    paged by another route)."""
    if paging is None:
        return None
    return {"state": paging.state, "since": paging.since, "reason": paging.reason,
            "routes": dict(paging.routes)}  # fmt: skip
