"""A session's stored record in the shape the dashboard's session view draws: the valid vitals
against time (artefacts left out, as the alarm engine left them out) and every alarm transition
with who acknowledged it. Read from the store, so it holds what came before a restart too."""

from __future__ import annotations

from typing import Any

from monitor.domain.vitals import Reading, Vital, screen
from monitor.store import Store
from monitor.wire.payloads import format_event_time

CHARTED = (Vital.HR, Vital.SPO2, Vital.SBP, Vital.DBP)


def session_record(store: Store, session: str) -> dict[str, Any] | None:
    readings, alarms = store.session_record(session)
    if not readings and not alarms:
        return None
    history: dict[str, list[tuple[float, float]]] = {v.value: [] for v in CHARTED}
    for row in readings:
        valid = screen(_reading(row)).values
        for vital in CHARTED:
            if vital in valid:
                history[vital.value].append((row["ts"], valid[vital]))
    return {"history": history, "alarms": [_alarm(row) for row in alarms]}


def _reading(row: dict[str, Any]) -> Reading:
    technical = frozenset((row["technical"] or "").split(",")) - {""}
    return Reading(
        ts=row["ts"], seq=row["seq"], hr=row["hr"], spo2=row["spo2"], sbp=row["sbp"],
        dbp=row["dbp"], map=row["map"], technical=technical, pr=row["pr"],
    )  # fmt: skip


def _alarm(row: dict[str, Any]) -> dict[str, Any]:
    acknowledged_at = row["acknowledged_at"]
    return {
        "alarm": row["alarm"],
        "ts": format_event_time(row["ts"]),
        "site": row["site"],
        "chair": row["chair"],
        "session": row["session"],
        "kind": row["kind"],
        "class": row["class"],
        "priority": row["priority"],
        "state": row["state"],
        "value": row["value"],
        "limit": row["limit"],
        "text": row["text"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": format_event_time(acknowledged_at) if acknowledged_at else None,
        "note": row.get("note"),
        "suppressed_by": row.get("suppressed_by"),
    }
