"""A session's record in the shape the dashboard's session view draws: the valid vitals against
the chair's time (artefacts left out, as the alarm engine left them out) and every alarm
transition with who acknowledged it. Read from the record, so it holds what came before a
restart too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.domain.vitals import Reading, Vital, screen
from monitor.record.base import AlarmEntry, ReadingEntry, Recorder
from monitor.wire.payloads import format_event_time

CHARTED = (Vital.HR, Vital.SPO2, Vital.SBP, Vital.DBP)


def session_chart(recorder: Recorder, session: str) -> dict[str, Any] | None:
    """The session's chart and alarm list, or None when the record holds nothing of it."""
    record = recorder.session(session)
    if not record.readings and not record.alarms:
        return None
    history = {vital.value: points for vital, points in valid_series(record.readings).items()}
    return {"history": history, "alarms": [_alarm(a) for a in record.alarms]}


def valid_series(
    readings: Sequence[ReadingEntry], vitals: Sequence[Vital] = CHARTED
) -> dict[Vital, list[tuple[float, float]]]:
    """Each of `vitals` as (chair time, value) points, artefacts left out as the alarm engine
    left them out."""
    series: dict[Vital, list[tuple[float, float]]] = {vital: [] for vital in vitals}
    for entry in readings:
        valid = screen(_reading(entry)).values
        for vital in vitals:
            if vital in valid:
                series[vital].append((entry.chair_ts, valid[vital]))
    return series


def _reading(entry: ReadingEntry) -> Reading:
    return Reading(
        ts=entry.chair_ts, seq=entry.seq, hr=entry.hr, spo2=entry.spo2, sbp=entry.sbp,
        dbp=entry.dbp, map=entry.map, technical=frozenset(entry.technical), pr=entry.pr,
    )  # fmt: skip


def _alarm(entry: AlarmEntry) -> dict[str, Any]:
    """An alarm transition as the contract's `alarm` message shows it."""
    acknowledged_at = entry.acknowledged_at
    return {
        "alarm": entry.alarm,
        "ts": format_event_time(entry.ts),
        "site": entry.site,
        "chair": entry.chair,
        "session": entry.session,
        "kind": entry.kind,
        "class": entry.alarm_class,
        "priority": entry.priority,
        "state": entry.state,
        "value": entry.value,
        "limit": entry.limit,
        "text": entry.text,
        "acknowledged_by": entry.acknowledged_by,
        "acknowledged_at": format_event_time(acknowledged_at) if acknowledged_at else None,
        "note": entry.note,
        "suppressed_by": entry.suppressed_by,
    }
