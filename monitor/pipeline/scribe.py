"""The core's reports as entries of the record.

Every inbound message becomes a journal entry with its outcome and reason, whatever became of
it (so `replay` sees what the service saw, and an auditor sees what was refused and why). An
accepted reading becomes a reading entry; an alarm transition an alarm entry; every other chair
event an event entry. A chair where something happened is snapshotted at once, with its
session's summary; a chair that only took new values is snapshotted within `snapshot_s`.

What the journal keeps of a message depends on what became of it. One a chair took (accepted,
or rejected by the core) is kept whole, so that `replay` reproduces it. One refused before any
chair saw it (malformed, oversized, a bad topic, an unknown chair, ...) is evidence, not input:
its topic, reason and payload are cut (the payload to `REFUSED_PAYLOAD_BYTES`), and beyond
`REFUSED_WHOLE_PER_MINUTE` of them a minute from one chair (or topic) with one outcome, only a
glimpse of the payload and its size are kept. So junk on the wire costs the record a line per
message, not its payload: `RefusalBudget` keeps the count, with the wall time given.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
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

REFUSED_PAYLOAD_BYTES = 1024  # of a refused message's payload, within the budget
REFUSED_GLIMPSE_BYTES = 16  # of one beyond the budget
REFUSED_WHOLE_PER_MINUTE = 5  # refused payloads kept a minute per chair (or topic) and outcome
REFUSED_TOPIC_CHARS = 256  # of a refused message's topic (a topic may be 65,535 bytes long)
REFUSED_REASON_CHARS = 1024
BUDGET_WINDOW_S = 60.0
BUDGET_SOURCES = 256  # (chair or topic, outcome) pairs counted at once; beyond, they share one
# What a chair took: kept whole, for replay.
KEPT_WHOLE = frozenset({Outcome.ACCEPTED, Outcome.REJECTED})


class RefusalBudget:
    """How many refused payloads the journal keeps, per source (a chair, or a topic) and outcome
    in a window of `window_s` of wall time. Bounded: at most `sources` windows are open at once;
    the refusals of sources beyond share one window per outcome."""

    def __init__(
        self,
        *,
        per_window: int = REFUSED_WHOLE_PER_MINUTE,
        window_s: float = BUDGET_WINDOW_S,
        sources: int = BUDGET_SOURCES,
    ) -> None:
        self.per_window, self.window_s, self.sources = per_window, window_s, sources
        # start, refusals counted; oldest window first, so closed ones go from the front at a
        # constant cost per refusal however many sources a flood brings
        self._windows: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def spend(self, source: str, outcome: Outcome, wall: float) -> bool:
        """Count one refusal at `wall`; True while the window still keeps payloads."""
        while self._windows:
            oldest, (start, _) = next(iter(self._windows.items()))
            if self._open(start, wall):
                break
            del self._windows[oldest]
        key = (source, outcome.value)
        if key not in self._windows and len(self._windows) >= self.sources:
            key = ("*", outcome.value)
        start, count = self._windows.get(key, (wall, 0))
        if not self._open(start, wall):
            start, count = wall, 0
        if count == 0:
            self._windows.pop(key, None)  # a new window goes to the back, in start order
        self._windows[key] = (start, count + 1)
        return count < self.per_window

    def __len__(self) -> int:
        """Windows held (open or not yet swept)."""
        return len(self._windows)

    def _open(self, start: float, wall: float) -> bool:
        return 0 <= wall - start < self.window_s  # a clock stepped back opens a new window


def cut_text(text: str, limit: int) -> str:
    """`text` whole if it is at most `limit` characters long, else its start and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{limit} of {len(text):,} characters kept]"


def kept_payload(payload: bytes, limit: int) -> str:
    """What the journal keeps of a refused payload: the first `limit` bytes, and its size."""
    text = payload[:limit].decode("utf-8", errors="replace")
    if len(payload) <= limit:
        return text
    return f"{text}...[{limit} of {len(payload):,} bytes kept]"


def _recordable(text: str) -> str:
    """`text` as UTF-8 can hold it: a lone surrogate (from a sender's topic) becomes '?'."""
    return text.encode("utf-8", errors="replace").decode("utf-8")


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
        self.budget = RefusalBudget()
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
        """The journal entry of one message: whole when a chair took it, cut when refused."""
        reason = "; ".join(reasons) or None
        if outcome in KEPT_WHOLE:
            text = payload.decode("utf-8", errors="replace")
        else:
            topic = cut_text(topic, REFUSED_TOPIC_CHARS)
            reason = cut_text(reason, REFUSED_REASON_CHARS) if reason else reason
            whole = self.budget.spend(chair or topic, outcome, wall)
            text = kept_payload(payload, REFUSED_PAYLOAD_BYTES if whole else REFUSED_GLIMPSE_BYTES)
        return MessageEntry(
            received_at=wall,
            topic=_recordable(topic),
            payload=text,
            outcome=outcome.value,
            site=self.site,
            chair=_recordable(chair) if chair else chair,
            kind=kind.value if kind else None,
            reason=_recordable(reason) if reason else reason,
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
            if report.chair is None:
                entries += self._site(report)
                continue
            if report.chair not in self.clinic:
                continue  # a chair's refusal is in the journal entry of its message
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

    def _site(self, report: Report) -> list[Entry]:
        """The site's own events (paging: pages, replies, escalations, hand-overs, the
        technical alarm paging_failed), each with the chair and session it is about if any;
        a refusal is in the journal entry of its message."""
        entries: list[Entry] = []
        for event in report.events:
            if isinstance(event, InputRefused):
                continue
            chair = getattr(event, "chair", None)
            about = (
                self.clinic.chair(chair)
                if isinstance(chair, str) and chair in self.clinic
                else None
            )
            entries.append(self._event(about, event))
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

    def _alarm(self, chair: str, event: AlarmTransition) -> AlarmEntry:
        return AlarmEntry(
            alarm=event.alarm,
            site=self.site,
            chair=chair,
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

    def _event(self, chair: Chair | None, event: Event) -> Entry:
        """The entry of one event, at its chair (None: the site's own)."""
        if isinstance(event, AlarmTransition):
            return self._alarm(chair.name if chair else "", event)
        data = dataclasses.asdict(event)
        session = data.get("session")
        return EventEntry(
            site=self.site,
            chair=chair.name if chair else "",
            session=session if isinstance(session, str) else (chair.session_ref if chair else None),
            ts=event.ts,
            type=type(event).__name__,
            data=data,
        )
