"""`audit sessions`: which sessions the record holds, picked by the auditor's filters.

Filters (all optional, all must hold): admitted in a range (`since` inclusive, `before`
exclusive: `times.parse_bound` turns `--from`/`--to` into them), at a chair, a patient label
containing a text (case-insensitive), an outcome among those asked for (`outcome.Outcome`), at a
site. The record's sessions come in admission order; each picked one costs one more read, of its
alarm transitions, to count its alarms (each alarm once, whatever its transitions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.audit.layout import table
from monitor.audit.outcome import OUTCOME_WORDS, Outcome, outcome_of
from monitor.audit.times import duration, local, local_zone, utc
from monitor.record import Recorder, SessionEntry

__all__ = ["SessionFilter", "SessionRow", "find_sessions", "sessions_json", "sessions_table"]


@dataclass(frozen=True, slots=True)
class SessionFilter:
    since: float | None = None
    before: float | None = None
    chair: str | None = None
    patient: str | None = None
    outcomes: frozenset[Outcome] = field(default_factory=frozenset)
    site: str | None = None

    def picks(self, session: SessionEntry) -> bool:
        return (
            (self.since is None or session.admitted_at >= self.since)
            and (self.before is None or session.admitted_at < self.before)
            and (self.chair is None or session.chair == self.chair)
            and (self.patient is None or self.patient.casefold() in session.patient.casefold())
            and (not self.outcomes or outcome_of(session) in self.outcomes)
        )


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: SessionEntry
    outcome: Outcome
    alarms: int  # distinct alarms, whatever their transitions

    @property
    def duration_s(self) -> float | None:
        closed = self.session.closed_at
        return None if closed is None else closed - self.session.admitted_at


def find_sessions(recorder: Recorder, picked: SessionFilter) -> list[SessionRow]:
    """The sessions `picked` picks, in admission order, each with its outcome and alarms."""
    return [
        SessionRow(
            entry, outcome_of(entry), len({a.alarm for a in recorder.alarms(session=entry.id)})
        )
        for entry in recorder.sessions(picked.site)
        if picked.picks(entry)
    ]


def sessions_table(rows: Sequence[SessionRow]) -> str:
    """An aligned table, one session a line, and a last line saying how many and in which zone."""
    cells = [
        [
            row.session.id,
            row.session.site,
            row.session.chair,
            row.session.patient,
            local(row.session.admitted_at),
            local(row.session.closed_at) if row.session.closed_at is not None else "-",
            duration(row.duration_s) if row.duration_s is not None else "-",
            OUTCOME_WORDS[row.outcome],
            str(row.alarms),
        ]
        for row in rows
    ]
    if not rows:
        return "no sessions match\n"
    headers = [
        "id",
        "site",
        "chair",
        "patient",
        "admitted",
        "ended",
        "duration",
        "outcome",
        "alarms",
    ]
    zone = local_zone(rows[0].session.admitted_at)
    count = f"{len(rows)} session{'' if len(rows) == 1 else 's'}; times in {zone}"
    return "\n".join([*table(headers, cells, right=frozenset({6, 8})), count]) + "\n"


def sessions_json(rows: Sequence[SessionRow]) -> str:
    """The rows as a JSON array; times in ISO-8601 UTC, the duration in seconds."""
    return json.dumps([_row_json(row) for row in rows], indent=2, ensure_ascii=False) + "\n"


def _row_json(row: SessionRow) -> dict[str, Any]:
    session = row.session
    return {
        "id": session.id,
        "site": session.site,
        "chair": session.chair,
        "patient": session.patient,
        "admitted_at": utc(session.admitted_at),
        "closed_at": utc(session.closed_at) if session.closed_at is not None else None,
        "duration_s": row.duration_s,
        "phase": session.phase,
        "recovery_status": session.recovery_status,
        "outcome": row.outcome.value,
        "outcome_text": OUTCOME_WORDS[row.outcome],
        "alarms": row.alarms,
    }
