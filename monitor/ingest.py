"""From an MQTT message to what the service publishes and stores: topic, payload, chair, core.

Synchronous and clock-free like the core (the wall time is an argument), so the async adapter
around it stays thin. A chair's retained state is published at once when something happened
(an alarm transition, a phase change, a rejection) and otherwise coalesced: new values go out
with the next clock tick, so a burst of readings costs one state message per chair per tick. Bad input never raises out of here: each bad message is counted, logged
(at most once a minute per topic and reason), stored with its reason, and dropped.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from monitor.domain.chair import Chair, ChairState
from monitor.domain.clinic import Clinic, UnknownChair
from monitor.domain.events import (
    AlarmTransition,
    ArtefactRecorded,
    CommandRejected,
    Event,
    ReadingRejected,
    RecoveryUpdate,
)
from monitor.domain.vitals import Reading
from monitor.metrics import Metrics, QuietLog
from monitor.store import Row
from monitor.wire.outbound import (
    Outgoing,
    ServiceStatusOut,
    alarm_out,
    chair_state,
    recovery_out,
)
from monitor.wire.payloads import MAX_PAYLOAD_BYTES, PayloadError, decode, validate
from monitor.wire.topics import Inbound, Outbound, TopicError, chair_topic, parse_inbound
from monitor.wire.topics import status_topic as service_status_topic

log = logging.getLogger(__name__)
CHAIR_STATE = TypeAdapter(ChairState)
STORED_PAYLOAD_LIMIT = 4096  # what is kept of an oversized payload


@dataclass(slots=True)
class Result:
    outgoing: list[Outgoing] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def extend(self, other: Result) -> None:
        self.outgoing += other.outgoing
        self.rows += other.rows


class Ingest:
    def __init__(
        self,
        clinic: Clinic,
        *,
        site: str,
        root: str,
        metrics: Metrics,
        heartbeat_s: float = 15.0,
        snapshot_s: float = 5.0,
    ) -> None:
        self.clinic, self.site, self.root, self.metrics = clinic, site, root, metrics
        self.heartbeat_s, self.snapshot_s = heartbeat_s, snapshot_s
        self.quiet = QuietLog(log)
        self._published: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._snapshot_due: dict[str, float] = {}
        self._dirty: set[str] = set()  # chairs with new values not yet published

    def status(self, online: bool, wall: float | None) -> Outgoing:
        payload = ServiceStatusOut(ts=wall, state="online" if online else "offline", site=self.site)
        return Outgoing(service_status_topic(self.root, self.site), payload.to_json(), retain=True)

    def message(self, topic: str, payload: bytes, wall: float) -> Result:
        """Handle one inbound message that arrived at wall time `wall`."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            reason = f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
            return self._refuse(topic, payload, wall, "oversized", reason)
        try:
            where = parse_inbound(topic, root=self.root)
        except TopicError as exc:
            return self._refuse(topic, payload, wall, "bad_topic", str(exc))
        if where.site != self.site:
            return self._refuse(topic, payload, wall, "other_site", f"not site {self.site}")
        if where.chair is None:
            return self._pager_reply(topic, payload, wall)
        try:
            item = decode(where.kind, payload)
            chair = self.clinic.chair(where.chair)
        except PayloadError as exc:
            return self._refuse(topic, payload, wall, "malformed", str(exc), kind=where.kind)
        except UnknownChair as exc:
            return self._refuse(topic, payload, wall, "unknown_chair", str(exc), kind=where.kind)
        events = chair.handle(item, wall=wall)
        rejected = [e.reason for e in events if isinstance(e, CommandRejected | ReadingRejected)]
        outcome = "rejected" if rejected else "accepted"
        if rejected:
            self.quiet.warning(wall, topic=topic, category="rejected", reason=rejected[0])
        self.metrics.messages.labels(where.kind.value, outcome).inc()
        result = Result(
            rows=[self._message_row(topic, payload, wall, where.kind, outcome, rejected)]
        )
        if isinstance(item, Reading) and not rejected:
            result.rows.append(self._reading_row(chair, item, wall))
        result.extend(self._events(chair, events, wall))
        if any(not isinstance(e, ArtefactRecorded) for e in events) or rejected:
            result.outgoing.append(self._state(chair, wall))  # something happened: show it now
        else:
            self._dirty.add(chair.name)  # new values: coalesced into the next tick
        return result

    def tick(self, wall: float) -> Result:
        """Let wall time act on every chair; publish what changed, heartbeats, snapshots due."""
        result = Result()
        for chair in self.clinic:
            events = chair.tick(wall)
            result.extend(self._events(chair, events, wall))
            published = self._published.get(chair.name)
            if (
                published is None
                or chair.name in self._dirty
                or published[0] != _signature(chair)
                or wall - published[1] >= self.heartbeat_s
            ):
                result.outgoing.append(self._state(chair, wall))
            due = self._snapshot_due.get(chair.name)
            if due is not None and wall >= due:
                result.rows.append(self._snapshot(chair, wall))
        return result

    def states(self, wall: float) -> list[Outgoing]:
        """Every chair's state, as published on (re)connection."""
        return [self._state(chair, wall) for chair in self.clinic]

    def final_snapshots(self, wall: float) -> list[Row]:
        return [self._snapshot(chair, wall) for chair in self.clinic]

    # Pieces ------------------------------------------------------------------------------

    def _refuse(
        self,
        topic: str,
        payload: bytes,
        wall: float,
        outcome: str,
        reason: str,
        *,
        kind: Inbound | None = None,
    ) -> Result:
        self.metrics.messages.labels(kind.value if kind else "unknown", outcome).inc()
        self.quiet.warning(wall, topic=topic, category=outcome, reason=reason)
        return Result(rows=[self._message_row(topic, payload, wall, kind, outcome, [reason])])

    def _pager_reply(self, topic: str, payload: bytes, wall: float) -> Result:
        try:
            validate(Inbound.PAGER_REPLY, payload)
        except PayloadError as exc:
            return self._refuse(
                topic, payload, wall, "malformed", str(exc), kind=Inbound.PAGER_REPLY
            )
        reason = "no page of this service matches (paging is not configured)"
        return self._refuse(topic, payload, wall, "unmatched", reason, kind=Inbound.PAGER_REPLY)

    def _events(self, chair: Chair, events: list[Event], wall: float) -> Result:
        result = Result()
        session = chair.session
        patient = session.patient if session else None
        for event in events:
            result.rows.append(self._event_row(chair, event))
            if isinstance(event, AlarmTransition):
                self.metrics.alarm_transitions.labels(event.kind, event.state).inc()
                out = alarm_out(event, site=self.site, chair=chair.name, patient=patient)
                topic = chair_topic(self.root, self.site, chair.name, Outbound.ALARM)
                result.outgoing.append(Outgoing(topic, out.to_json()))
            elif isinstance(event, RecoveryUpdate):
                out_r = recovery_out(event, site=self.site, chair=chair.name, session=session)
                topic = chair_topic(self.root, self.site, chair.name, Outbound.RECOVERY)
                result.outgoing.append(Outgoing(topic, out_r.to_json()))
            elif isinstance(event, ArtefactRecorded):
                self.metrics.artefacts.labels(event.vital).inc()
        if any(not isinstance(e, ArtefactRecorded) for e in events):
            result.rows.append(self._snapshot(chair, wall))
            if session is not None:
                result.rows.append(self._session_row(chair))
        elif chair.name not in self._snapshot_due:
            self._snapshot_due[chair.name] = wall + self.snapshot_s
        return result

    def _state(self, chair: Chair, wall: float) -> Outgoing:
        self._published[chair.name] = (_signature(chair), wall)
        self._dirty.discard(chair.name)
        state = chair_state(chair, site=self.site, wall=wall)
        topic = chair_topic(self.root, self.site, chair.name, Outbound.STATE)
        return Outgoing(topic, state.to_json(), retain=True)

    def _snapshot(self, chair: Chair, wall: float) -> Row:
        self._snapshot_due.pop(chair.name, None)
        values = {
            "site": self.site,
            "chair": chair.name,
            "saved_at": wall,
            "state": CHAIR_STATE.dump_json(chair.state).decode(),
        }
        return Row("chair_snapshots", values, upsert_key=("site", "chair"))

    def _session_row(self, chair: Chair) -> Row:
        session = chair.session
        assert session is not None
        values = {
            "id": session.id,
            "site": self.site,
            "chair": chair.name,
            "patient": session.patient,
            "admitted_at": session.admitted_at,
            "phase": session.phase.value,
            "closed_at": session.closed_at,
            "recovery_status": session.recovery.audited_status.value if session.recovery else None,
        }
        return Row("sessions", values, upsert_key=("id",))

    def _message_row(
        self,
        topic: str,
        payload: bytes,
        wall: float,
        kind: Inbound | None,
        outcome: str,
        reasons: list[str],
    ) -> Row:
        where = _chair_of(topic, self.root)
        text = payload[:STORED_PAYLOAD_LIMIT].decode("utf-8", errors="replace")
        values = {
            "received_at": wall,
            "topic": topic,
            "site": self.site,
            "chair": where,
            "kind": kind.value if kind else None,
            "outcome": outcome,
            "reason": "; ".join(reasons) or None,
            "payload": text,
        }
        return Row("messages", values)

    def _reading_row(self, chair: Chair, reading: Reading, wall: float) -> Row:
        values = {
            "site": self.site,
            "chair": chair.name,
            "session": chair.session_ref,
            "ts": reading.ts,
            "chair_ts": chair.state.placed_ts,
            "received_at": wall,
            "seq": reading.seq,
            "hr": reading.hr,
            "pr": reading.pr,
            "spo2": reading.spo2,
            "sbp": reading.sbp,
            "dbp": reading.dbp,
            "map": reading.map,
            "technical": ",".join(sorted(reading.technical)) or None,
        }
        return Row("readings", values)

    def _event_row(self, chair: Chair, event: Event) -> Row:
        data = dataclasses.asdict(event)
        values: dict[str, Any]
        if isinstance(event, AlarmTransition):
            values = {
                "alarm": event.alarm,
                "site": self.site,
                "chair": chair.name,
                "session": event.session,
                "ts": event.ts,
                "kind": event.kind,
                "class": event.alarm_class,
                "priority": event.priority,
                "state": event.state,
                "value": event.value,
                "limit": event.limit,
                "text": event.text,
                "acknowledged_by": event.acknowledged_by,
                "acknowledged_at": event.acknowledged_at,
                "note": event.note,
                "suppressed_by": event.suppressed_by,
            }
            return Row("alarm_transitions", values)
        session = data.get("session")
        values = {
            "site": self.site,
            "chair": chair.name,
            "session": session if isinstance(session, str) else chair.session_ref,
            "ts": event.ts,
            "type": type(event).__name__,
            "data": data,
        }
        return Row("events", values)


def _signature(chair: Chair) -> tuple[Any, ...]:
    """What, if changed, makes a chair's state worth publishing again outside a message."""
    state = chair.state
    alarms = tuple(
        (a.id, a.state, a.priority, a.suppressed_by) for a in state.board.alarms.values()
    )
    recovery = chair.session.recovery.status if chair.session and chair.session.recovery else None
    return (chair.phase, state.device_online, state.audio_paused_until, alarms, recovery)


def _chair_of(topic: str, root: str) -> str | None:
    parts = topic.removeprefix(root + "/").split("/")
    if len(parts) >= 3 and parts[1] == "chair":
        return parts[2][:64]
    return None


def restore_chair(clinic: Clinic, snapshot_json: str) -> Chair:
    """Put a chair back from its stored snapshot."""
    return clinic.restore(CHAIR_STATE.validate_json(snapshot_json))
