"""`audit sessions`: the filters pick the right sessions, each with its outcome and alarms."""

from __future__ import annotations

import json
import time

import pytest
from audit_day import Day

from monitor.audit.outcome import Outcome, parse_outcome
from monitor.audit.sessions import SessionFilter, find_sessions, sessions_json, sessions_table
from monitor.audit.times import parse_bound
from monitor.record import Recorder


def _ids(recorder: Recorder, **filters: object) -> list[str]:
    return [row.session.id for row in find_sessions(recorder, SessionFilter(**filters))]  # type: ignore[arg-type]


def test_every_session_is_listed_with_its_outcome_and_alarms(recorder: Recorder, day: Day) -> None:
    rows = find_sessions(recorder, SessionFilter())

    assert [r.session.id for r in rows] == [day.first, day.second, day.third]
    assert [r.outcome for r in rows] == [Outcome.RECOVERED, Outcome.OVERDUE, Outcome.OPEN]
    assert [r.alarms for r in rows] == [
        2,
        4,
        0,
    ]  # sbp_high and sbp_rise; then sbp_rise again and recovery_overdue
    assert [r.duration_s for r in rows] == [3660.0, 4800.0, None]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"chair": "c01"}, ["first", "third"]),
        ({"chair": "c09"}, []),
        ({"patient": "p-0042"}, ["first", "third"]),  # a part of the label, any case
        ({"patient": "0100"}, ["second"]),
        ({"outcomes": frozenset({Outcome.OVERDUE})}, ["second"]),
        ({"outcomes": frozenset({Outcome.OPEN, Outcome.RECOVERED})}, ["first", "third"]),
        ({"outcomes": frozenset({Outcome.DISCHARGED_UNCONFIRMED})}, []),
        ({"site": "north", "chair": "c02"}, ["second"]),
        ({"site": "south"}, []),
        ({"chair": "c01", "outcomes": frozenset({Outcome.OPEN})}, ["third"]),
    ],
)
def test_filters_pick_the_sessions(
    recorder: Recorder, day: Day, filters: dict[str, object], expected: list[str]
) -> None:
    assert _ids(recorder, **filters) == [getattr(day, name) for name in expected]


def test_a_date_range_is_on_admission_and_a_closing_date_counts_its_whole_day(
    recorder: Recorder, day: Day
) -> None:
    since, before = parse_bound("2026-11-20", end=False), parse_bound("2026-11-20", end=True)

    assert _ids(recorder, since=since, before=before) == [day.second]
    assert _ids(recorder, since=parse_bound("2026-11-20T10:00:00Z", end=False)) == [
        day.second,
        day.third,
    ]
    assert _ids(recorder, since=parse_bound("2026-11-20T10:00:01Z", end=False)) == [day.third]
    assert _ids(recorder, before=parse_bound("2026-11-19T10:00:00+00:00", end=True)) == []


def test_a_date_without_a_zone_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()

    assert parse_bound("2026-11-20", end=False) == parse_bound("2026-11-19T15:00:00Z", end=False)
    assert parse_bound("2026-11-20", end=True) == parse_bound("2026-11-20T15:00:00Z", end=False)
    assert parse_bound("2026-11-20T10:00", end=False) == parse_bound("2026-11-20T01:00Z", end=False)


@pytest.mark.parametrize(("text", "end"), [("9999-12-31", True), ("0001-01-01T00:00", False)])
def test_a_bound_past_what_the_clock_holds_is_refused_with_a_reason(text: str, end: bool) -> None:
    with pytest.raises(ValueError, match="out of the range of dates"):
        parse_bound(text, end=end)


@pytest.mark.parametrize("text", ["2026-11-31", "yesterday", "11/20/2026"])
def test_a_bound_that_is_no_date_says_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="ISO date"):
        parse_bound(text, end=False)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("overdue", Outcome.OVERDUE),
        ("not recovered", Outcome.OVERDUE),
        ("Recovered late", Outcome.RECOVERED_LATE),
        ("recovered-late", Outcome.RECOVERED_LATE),
        ("cannot assess", Outcome.CANNOT_ASSESS),
        ("still open", Outcome.OPEN),
    ],
)
def test_outcomes_as_an_auditor_types_them(text: str, outcome: Outcome) -> None:
    assert parse_outcome(text) is outcome


def test_an_unknown_outcome_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="recovered_late, overdue"):
        parse_outcome("fine")


def test_the_table_is_aligned_and_says_the_zone(recorder: Recorder, day: Day) -> None:
    lines = sessions_table(find_sessions(recorder, SessionFilter())).splitlines()

    assert (
        " ".join(lines[0].split()) == "id site chair patient admitted ended duration outcome alarms"
    )
    assert lines[1].split()[:8] == [
        day.first,
        "north",
        "c01",
        "P-0042",
        "2026-11-19",
        "10:00:00",
        "2026-11-19",
        "11:01:00",
    ]
    assert "1:01:00  recovered" in lines[1]
    assert lines[1].endswith(" 2")
    assert "not recovered in the window" in lines[2]
    assert lines[2].endswith(" 4")
    assert "still open" in lines[3]
    assert lines[3].split()[6:8] == ["-", "-"]
    column = lines[0].index("admitted")
    assert [line[column : column + 10] for line in lines[1:4]] == [
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
    ]
    assert lines[-1] == "3 sessions; times in UTC (UTC+00:00)"
    assert sessions_table([]) == "no sessions match\n"


def test_json_gives_times_in_utc_and_the_outcome(recorder: Recorder, day: Day) -> None:
    rows = json.loads(sessions_json(find_sessions(recorder, SessionFilter(chair="c02"))))

    assert rows == [
        {
            "id": day.second, "site": "north", "chair": "c02", "patient": "Q-0100",
            "admitted_at": "2026-11-20T10:00:00.000Z", "closed_at": "2026-11-20T11:20:00.000Z",
            "duration_s": 4800.0, "phase": "discharged", "recovery_status": "overdue",
            "outcome": "overdue", "outcome_text": "not recovered in the window", "alarms": 4,
        }
    ]  # fmt: skip
