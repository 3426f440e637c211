"""The core's reports as entries of the record.

Every inbound message becomes a journal entry with its outcome and reason, whatever became of
it (so `replay` sees what the service saw, and an auditor sees what was refused and why). An
accepted reading becomes a reading entry; an alarm transition an alarm entry; every other chair
event an event entry. A chair where something happened is snapshotted at once, with its
session's summary; a chair that only took new values is snapshotted within `snapshot_s`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from pydantic import TypeAdapter

from monitor.domain.chair import Chair, ChairState
from monitor.domain.clinic import Clinic, InputRefused, Report
from monitor.domain.events import AlarmTransition, ArtefactRecorded, Event
from monitor.domain.vitals import Reading
from monitor.pipeline.router import Outcome
from monitor.record.base import (
    AlarmEntry,
    Entry,
    EventEntry,
    MessageEntry,
    ReadingEntry,
    SessionEntry,
    SnapshotEntry,
)
from monitor.wire.topics import Inbound

_CHAIR_STATE = TypeAdapter(ChairState)


def _dump_v1(state: ChairState) -> str:
    return _CHAIR_STATE.dump_json(state).decode()


class Scribe:
    def __init__(
        self,
        clinic: Clinic,
        *,
        site: str,
        snapshot_s: float = 5.0,
        dump: Callable[[ChairState], str] = _dump_v1,
    ) -> None:
        self.clinic, self.site, self.snapshot_s, self.dump = clinic, site, snapshot_s, dump
        self._snapshot_due: dict[str, float] = {}

    def message(
        self,
        topic: str,
        payload: bytes,
        wall: float,
        *,
        outcome: Outcome,
        kind: Inbound | None,
        chair: str | None,
        reasons: Sequence[str] = (),
    ) -> MessageEntry:
        return MessageEntry(
            received_at=wall,
            topic=topic,
            payload=payload.decode("utf-8", errors="replace"),
            outcome=outcome.value,
            site=self.site,
            chair=chair,
            kind=kind.value if kind else None,
            reason="; ".join(reasons) or None,
        )

    def reading(self, chair: Chair, reading: Reading, wall: float) -> ReadingEntry:
        """An accepted reading, with where it landed on the chair's timeline."""
        placed = chair.state.placed_ts
        return ReadingEntry(
            site=self.site,
            chair=chair.name,
            session=chair.session_ref,
            ts=reading.ts,
            chair_ts=placed if placed is not None else reading.ts,
            received_at=wall,
            seq=reading.seq,
            hr=reading.hr,
            pr=reading.pr,
            spo2=reading.spo2,
            sbp=reading.sbp,
            dbp=reading.dbp,
            map=reading.map,
            technical=tuple(sorted(reading.technical)),
        )

    def reports(self, reports: Sequence[Report], wall: float) -> list[Entry]:
        """The entries of what happened; snapshots of the chairs where it happened."""
        entries: list[Entry] = []
        for report in reports:
            if report.chair is None or report.chair not in self.clinic:
                continue  # site refusals are in the journal entry of their message
            chair = self.clinic.chair(report.chair)
            events = [e for e in report.events if not isinstance(e, InputRefused)]
            entries += [self._event(chair, event) for event in events]
            if any(not isinstance(e, ArtefactRecorded) for e in events):
                entries.append(self.snapshot(chair, wall))
                if chair.session is not None:
                    entries.append(self._session(chair))
            elif chair.name not in self._snapshot_due:
                self._snapshot_due[chair.name] = wall + self.snapshot_s
        return entries

    def due(self, wall: float) -> list[Entry]:
        """Snapshots of chairs that took new values and have not been saved since."""
        due = [name for name, at in self._snapshot_due.items() if wall >= at]
        return [self.snapshot(self.clinic.chair(name), wall) for name in due]

    def final(self, wall: float) -> list[Entry]:
        """Every chair's snapshot (at shutdown)."""
        return [self.snapshot(chair, wall) for chair in self.clinic]

    def snapshot(self, chair: Chair, wall: float) -> SnapshotEntry:
        self._snapshot_due.pop(chair.name, None)
        return SnapshotEntry(self.site, chair.name, wall, self.dump(chair.state))

    def _session(self, chair: Chair) -> SessionEntry:
        session = chair.session
        assert session is not None
        recovery = session.recovery.audited_status.value if session.recovery else None
        return SessionEntry(
            id=session.id,
            site=self.site,
            chair=chair.name,
            patient=session.patient,
            admitted_at=session.admitted_at,
            phase=session.phase.value,
            closed_at=session.closed_at,
            recovery_status=recovery,
        )

    def _event(self, chair: Chair, event: Event) -> Entry:
        if isinstance(event, AlarmTransition):
            return AlarmEntry(
                alarm=event.alarm,
                site=self.site,
                chair=chair.name,
                session=event.session,
                ts=event.ts,
                kind=event.kind,
                alarm_class=event.alarm_class,
                priority=event.priority,
                state=event.state,
                text=event.text,
                value=event.value,
                limit=event.limit,
                acknowledged_by=event.acknowledged_by,
                acknowledged_at=event.acknowledged_at,
                note=event.note,
                suppressed_by=event.suppressed_by,
            )
        data = dataclasses.asdict(event)
        session = data.get("session")
        return EventEntry(
            site=self.site,
            chair=chair.name,
            session=session if isinstance(session, str) else chair.session_ref,
            ts=event.ts,
            type=type(event).__name__,
            data=data,
        )
