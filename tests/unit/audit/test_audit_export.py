"""`audit export` as JSON Lines and CSV: everything of the session, in time order, read back."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from audit_day import Day

from monitor.audit import SessionNotFound
from monitor.audit.export import READING_COLUMNS, Format, Table, export
from monitor.record import (
    AlarmEntry,
    EventEntry,
    MemoryRecorder,
    ReadingEntry,
    Recorder,
    SessionEntry,
)

KINDS: dict[str, Any] = {
    "session": SessionEntry,
    "reading": ReadingEntry,
    "alarm": AlarmEntry,
    "event": EventEntry,
}


def _lines(recorder: Recorder, session: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in export(recorder, session, format=Format.JSONL).splitlines()
    ]


def _entry(line: dict[str, Any]) -> Any:
    fields = {k: v for k, v in line.items() if k not in ("record", "time")}
    if line["record"] == "reading":
        fields["technical"] = tuple(fields["technical"])
    return KINDS[line["record"]](**fields)


def test_jsonl_reads_back_into_the_records_entries(recorder: Recorder, day: Day) -> None:
    lines = _lines(recorder, day.first)
    entries = [_entry(line) for line in lines]

    assert entries[0] == recorder.session(day.first).session
    assert [e for e in entries if isinstance(e, ReadingEntry)] == recorder.readings(
        session=day.first
    )
    assert [e for e in entries if isinstance(e, AlarmEntry)] == recorder.alarms(session=day.first)
    assert [e for e in entries if isinstance(e, EventEntry)] == recorder.events(session=day.first)
    assert [line["record"] for line in lines].count("reading") == 122


def test_jsonl_is_in_time_order_a_reading_before_the_alarm_it_raised(
    recorder: Recorder, day: Day
) -> None:
    lines = _lines(recorder, day.first)

    assert lines[0]["record"] == "session"
    assert lines[0]["time"] == "2026-11-19T10:00:00.000Z"
    times = [line["time"] for line in lines]
    assert times == sorted(times)
    raised = next(n for n, line in enumerate(lines) if line["record"] == "alarm")
    assert lines[raised - 1]["record"] == "reading"
    assert lines[raised - 1]["sbp"] == 186
    assert lines[raised]["time"] == lines[raised - 1]["time"]


def test_csv_has_a_row_per_reading_with_its_values(recorder: Recorder, day: Day) -> None:
    rows = list(csv.reader(io.StringIO(export(recorder, day.first, format=Format.CSV))))

    assert tuple(rows[0]) == READING_COLUMNS
    assert len(rows) == 1 + len(recorder.readings(session=day.first))
    assert rows[1] == [
        "2026-11-19T10:00:00.000Z",
        "2026-11-19T10:00:00.000Z",
        "72",
        "71",
        "98",
        "120",
        "80",
        "93",
        "",
    ]
    assert rows[2][5:8] == ["", "", ""]  # no cuff in this reading
    [high] = [row for row in rows if row[5] == "186"]
    assert high == [
        "2026-11-19T10:15:00.000Z",
        "2026-11-19T10:15:00.000Z",
        "72",
        "71",
        "98",
        "186",
        "100",
        "129",
        "",
    ]


def test_csv_keeps_fractions_and_the_devices_conditions() -> None:
    recorder = MemoryRecorder()
    recorder.append([
        SessionEntry("S1", "north", "c01", "P-1", 100.0, "baseline"),
        ReadingEntry("north", "c01", "S1", ts=160.0, chair_ts=100.5, received_at=100.5, spo2=97.5,
                     technical=("leads_off", "spo2_motion")),
    ])  # fmt: skip

    [_, row] = list(csv.reader(io.StringIO(export(recorder, "S1", format=Format.CSV))))

    assert row == [
        "1970-01-01T00:02:40.000Z",
        "1970-01-01T00:01:40.500Z",
        "",
        "",
        "97.5",
        "",
        "",
        "",
        "leads_off;spo2_motion",
    ]


def test_csv_alarms_and_events_have_a_row_each(recorder: Recorder, day: Day) -> None:
    alarms = list(
        csv.DictReader(
            io.StringIO(export(recorder, day.first, format=Format.CSV, table=Table.ALARMS))
        )
    )
    events = list(
        csv.DictReader(
            io.StringIO(export(recorder, day.first, format=Format.CSV, table=Table.EVENTS))
        )
    )

    assert len(alarms) == len(recorder.alarms(session=day.first)) == 6
    [acknowledged] = [a for a in alarms if a["kind"] == "sbp_high" and a["state"] == "acknowledged"]
    assert (acknowledged["acknowledged_by"], acknowledged["acknowledged_at"]) == (
        "nurse.ana",
        "2026-11-19T10:16:00.000Z",
    )
    assert (acknowledged["value"], acknowledged["limit"], acknowledged["priority"]) == (
        "186",
        "180",
        "high",
    )
    assert len(events) == len(recorder.events(session=day.first))
    assert next((e["type"], e["by"]) for e in events if e["type"] == "CommandAccepted") == (
        "CommandAccepted",
        "nurse.kim",
    )
    assert json.loads(events[0]["data"])["patient"] == "P-0042"


@pytest.mark.parametrize("format", list(Format))
def test_an_export_is_the_same_bytes_every_time_and_from_every_backend(
    recorder: Recorder, day: Day, format: Format
) -> None:
    memory = MemoryRecorder()
    memory.append(day.entries)

    once = export(recorder, day.second, format=format)
    assert once == export(recorder, day.second, format=format)
    assert once == export(memory, day.second, format=format)


def test_an_unknown_session_exports_nothing(recorder: Recorder) -> None:
    with pytest.raises(SessionNotFound):
        export(recorder, "NOPE", format=Format.CSV)
