"""`audit show`: one session in words: who did what, who acknowledged and how fast."""

from __future__ import annotations

import pytest
from audit_day import Day

from monitor.audit import SessionNotFound
from monitor.audit.show import show_session
from monitor.record import Recorder


def _field(text: str, name: str) -> str:
    """The summary's line `name`."""
    [found] = [line for line in text.splitlines() if line.startswith(f"  {name} ")]
    return found


def _line(text: str, *words: str) -> str:
    """The one line of `text` holding all of `words`."""
    [found] = [line for line in text.splitlines() if all(w in line for w in words)]
    return found


def test_the_summary_says_who_admitted_and_discharged_and_how_it_ended(
    recorder: Recorder, day: Day
) -> None:
    text = show_session(recorder, day.first)

    assert text.startswith(f"Session {day.first} at site north, chair c01\n")
    assert _field(text, "patient").split() == ["patient", "P-0042"]
    assert _field(text, "admitted").split() == [
        "admitted",
        "2026-11-19",
        "10:00:00",
        "by",
        "nurse.kim",
    ]
    assert "2026-11-19 11:01:00 by nurse.kim, after 1:01:00" in _field(text, "ended")
    assert (
        "recovered: back to baseline at 2026-11-19 10:55:00, 5 min after the infusion stopped at 2026-11-19 10:50:00"
        in _field(text, "outcome")
    )
    assert _field(text, "readings").split()[1:6] == ["122:", "122", "with", "HR,", "122"]
    assert "14 cuffs" in _field(text, "readings")


def test_the_timeline_names_the_person_of_each_action(recorder: Recorder, day: Day) -> None:
    text = show_session(recorder, day.first)

    assert _line(text, "start: baseline -> infusing").endswith("nurse.kim")
    assert _line(text, "stop: infusing -> recovery").endswith("nurse.kim")
    assert _line(text, "acknowledged sbp_high").split()[:2] == ["2026-11-19", "10:16:00"]
    assert _line(text, "acknowledged sbp_high").endswith("nurse.ana")
    assert _line(text, "discharged: recovered").endswith("nurse.kim")
    assert "alarm sbp_high raised (high): SBP 186 > 180 mmHg" in text
    times = [
        line.split()[1] for line in text.split("Timeline\n")[1].split("Alarms")[0].splitlines()[1:]
    ]
    assert times == sorted(times)


def test_the_alarm_table_says_who_acknowledged_and_after_how_many_seconds(
    recorder: Recorder, day: Day
) -> None:
    text = show_session(recorder, day.first)

    assert "Alarms (2)" in text
    row = _line(text, "sbp_high", "SBP 186 > 180 mmHg", "/ 180")
    assert row.split()[:10] == [
        "2026-11-19",
        "10:15:00",
        "sbp_high",
        "high",
        "186",
        "/",
        "180",
        "nurse.ana",
        "at",
        "10:16:00",
    ]
    assert row.split()[10:12] == ["60", "10:16:00"]  # seconds to acknowledge, then cleared


def test_a_patient_discharged_before_recovery_is_said_so_with_who(
    recorder: Recorder, day: Day
) -> None:
    text = show_session(recorder, day.second)

    outcome = _field(text, "outcome")
    assert outcome.split()[1:5] == ["not", "recovered", "in", "the"]
    assert "discharged before recovery was confirmed, by nurse.lee" in outcome
    assert _line(text, "recovery_overdue", "20 / 20").split()[7:9] == [
        "-",
        "-",
    ]  # nobody acknowledged it


def test_an_open_session_says_it_is_open(recorder: Recorder, day: Day) -> None:
    text = show_session(recorder, day.third)

    assert "still open (phase baseline)" in _field(text, "ended")
    assert text.endswith("Alarms (0)\n  none\n")


def test_an_unknown_session_is_named_in_the_error(recorder: Recorder) -> None:
    with pytest.raises(SessionNotFound, match="no session 'NOPE'"):
        show_session(recorder, "NOPE")
