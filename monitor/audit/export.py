"""`audit export`: one session whole, as JSON Lines, CSV or a FHIR Bundle (`fhir`).

JSON Lines: one object per line, each with `record` (`session`, `reading`, `alarm` for an
alarm transition, `event`) and `time` (ISO-8601 UTC on the chair's timeline), then the entry's
own fields exactly as the record holds them (epoch seconds included), so a line reads back
into its entry. The session's line comes first; then every other line in time order, and at
the same time events, then readings, then alarm transitions, each kind in the order recorded
(a reading comes before the alarm it raised).

CSV (one table per export, `Table`): `readings` (default), one row per reading in the chair's
time order, columns `READING_COLUMNS`: `time` is the device's own time and `chair_ts` the same
moment on the chair's timeline (the time alarms and events use; they differ when a device's
clock is off), both ISO-8601 UTC; vitals as the monitor sent them (HR and PR per minute, SpO2
%, BP mmHg), empty when not measured; `technical` the device's conditions joined by `;`.
`alarms`: one row per alarm transition. `events`: one row per other event, its fields as JSON.
Lines end with LF; the same record always exports to the same bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from monitor.audit.record import AuditedSession, read_session
from monitor.audit.times import utc
from monitor.record import AlarmEntry, EventEntry, ReadingEntry, Recorder

__all__ = [
    "ALARM_COLUMNS",
    "EVENT_COLUMNS",
    "READING_COLUMNS",
    "Format",
    "Table",
    "export",
    "jsonl",
    "table_csv",
]


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    FHIR = "fhir"


class Table(StrEnum):
    READINGS = "readings"
    ALARMS = "alarms"
    EVENTS = "events"


READING_COLUMNS = ("time", "chair_ts", "hr", "pr", "spo2", "sbp", "dbp", "map", "technical")
ALARM_COLUMNS = (
    "time", "alarm", "kind", "class", "priority", "state", "value", "limit",
    "acknowledged_by", "acknowledged_at", "note", "suppressed_by", "text",
)  # fmt: skip
EVENT_COLUMNS = ("time", "type", "by", "data")


def export(
    recorder: Recorder, session: str, *, format: Format, table: Table = Table.READINGS
) -> str:
    """The session in `format` (`table` for CSV).

    Raises:
        SessionNotFound: the record holds no session `session`.
    """
    audited = read_session(recorder, session)
    if format is Format.JSONL:
        return jsonl(audited)
    if format is Format.CSV:
        return table_csv(audited, table)
    from monitor.audit.fhir import fhir_bundle_json  # the FHIR models: loaded when asked for

    return fhir_bundle_json(audited)


def jsonl(audited: AuditedSession) -> str:
    session = audited.session
    lines = [_line("session", session.admitted_at, session)]
    timed: list[tuple[float, int, dict[str, Any]]] = []
    timed += [(e.ts, 0, _line("event", e.ts, e)) for e in audited.events]
    timed += [(r.chair_ts, 1, _line("reading", r.chair_ts, r)) for r in audited.readings]
    timed += [(a.ts, 2, _line("alarm", a.ts, a)) for a in audited.alarms]
    timed.sort(key=lambda item: (item[0], item[1]))  # stable: each kind stays in its order
    lines += [line for _, _, line in timed]
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def _line(record: str, ts: float, entry: Any) -> dict[str, Any]:
    return {"record": record, "time": utc(ts), **dataclasses.asdict(entry)}


def table_csv(audited: AuditedSession, table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if table is Table.READINGS:
        writer.writerow(READING_COLUMNS)
        writer.writerows(_reading_row(r) for r in audited.readings)
    elif table is Table.ALARMS:
        writer.writerow(ALARM_COLUMNS)
        writer.writerows(_alarm_row(a) for a in audited.alarms)
    else:
        writer.writerow(EVENT_COLUMNS)
        writer.writerows(_event_row(e) for e in audited.events)
    return out.getvalue()


def _reading_row(r: ReadingEntry) -> Sequence[str]:
    vitals = (r.hr, r.pr, r.spo2, r.sbp, r.dbp, r.map)
    return [utc(r.ts), utc(r.chair_ts), *map(_number, vitals), ";".join(r.technical)]


def _alarm_row(a: AlarmEntry) -> Sequence[str]:
    acknowledged = utc(a.acknowledged_at) if a.acknowledged_at is not None else ""
    return [
        utc(a.ts), a.alarm, str(a.kind), str(a.alarm_class), str(a.priority), str(a.state),
        _number(a.value), _number(a.limit), a.acknowledged_by or "", acknowledged,
        a.note or "", str(a.suppressed_by or ""), a.text,
    ]  # fmt: skip


def _event_row(e: EventEntry) -> Sequence[str]:
    by = e.data.get("by")
    return [
        utc(e.ts),
        e.type,
        by if isinstance(by, str) else "",
        json.dumps(e.data, ensure_ascii=False),
    ]


def _number(value: float | None) -> str:
    """A number as the monitor sent it: 72 for 72.0, 97.5 as is, empty for none."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
