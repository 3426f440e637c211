"""A note on a session and alarm limits changed during it: both need an open session, both are
recorded with who did it, and new limits act through the normal alarm path from the next
reading (one alarm per chair and kind; a high-priority alarm latches until acknowledged)."""

from __future__ import annotations

import pytest
from builders import Bedside, admitted, infusing, of_type, transitions

from monitor.domain.alarms import AlarmKind, AlarmState
from monitor.domain.commands import AddNote, SetLimits
from monitor.domain.events import (
    CommandAccepted,
    CommandName,
    CommandRejected,
    LimitsChanged,
    NoteAdded,
)
from monitor.domain.limits import DEFAULT_LIMITS


def _note(side: Bedside, text: str = "patient anxious, dimmed lights") -> list[object]:
    return list(side.send(AddNote(side.now, text, "nurse.kim")))


def _limits(side: Bedside, **limits: float) -> list[object]:
    return list(side.send(SetLimits(side.now, dict(limits), "dr.lee")))


# Notes ------------------------------------------------------------------------------------------


def test_a_note_on_an_open_session_is_recorded_with_its_writer() -> None:
    side = admitted()

    events = _note(side)

    (note,) = [e for e in events if isinstance(e, NoteAdded)]
    assert (note.session, note.text, note.by) == (
        side.chair.session_ref,
        "patient anxious, dimmed lights",
        "nurse.kim",
    )
    accepted = [e for e in events if isinstance(e, CommandAccepted)]
    assert [(a.command, a.by) for a in accepted] == [(CommandName.NOTE, "nurse.kim")]


def test_a_note_on_an_empty_chair_is_refused_with_the_reason() -> None:
    side = Bedside()

    events = _note(side)

    (rejected,) = events
    assert isinstance(rejected, CommandRejected)
    assert rejected.command is CommandName.NOTE
    assert "open session" in rejected.reason


def test_a_note_after_the_discharge_is_refused() -> None:
    side = admitted()
    side.discharge()

    events = _note(side)

    assert [type(e) for e in events] == [CommandRejected]
    assert not of_type(side.log, NoteAdded)


# Limits -----------------------------------------------------------------------------------------


def test_a_limit_change_is_recorded_with_old_and_new_values_and_who() -> None:
    side = admitted()

    events = _limits(side, sbp_high=170, hr_high=110)

    (changed,) = [e for e in events if isinstance(e, LimitsChanged)]
    assert changed.changes == {"hr_high": (120.0, 110.0), "sbp_high": (180.0, 170.0)}
    assert (changed.by, changed.session) == ("dr.lee", side.chair.session_ref)
    assert side.chair.limits.sbp_high == 170
    accepted = [e for e in events if isinstance(e, CommandAccepted)]
    assert [(a.command, a.by) for a in accepted] == [(CommandName.SET_LIMITS, "dr.lee")]


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"sbp_high": 300}, "sbp_high 300 is outside its clinical range 140-240 mmHg"),
        ({"spo2_low": 99}, "spo2_low 99 is outside its clinical range 80-97 %"),
        ({"sbp_hi": 170}, "unknown limit sbp_hi"),
        ({"hr_low": 60, "hr_high": 100}, None),  # both in range, and still low below high
        ({"recovery_readings": 2.5}, "recovery_readings must be a whole number"),
    ],
)
def test_a_limit_outside_its_range_or_unknown_is_refused_naming_it(
    limits: dict[str, float], named: str | None
) -> None:
    side = admitted()

    events = _limits(side, **limits)

    if named is None:
        assert of_type(events, LimitsChanged)
        return
    (rejected,) = events
    assert isinstance(rejected, CommandRejected)
    assert rejected.command is CommandName.SET_LIMITS
    assert named in rejected.reason
    assert side.chair.limits == DEFAULT_LIMITS  # nothing changed


def test_a_low_limit_may_not_pass_its_high_one() -> None:
    side = admitted()

    (rejected,) = _limits(side, spo2_critical=92, spo2_low=90)

    assert isinstance(rejected, CommandRejected)
    assert "spo2_critical must be below spo2_low" in rejected.reason


def test_a_change_that_changes_nothing_is_refused() -> None:
    side = admitted()

    (rejected,) = _limits(side, sbp_high=180)

    assert isinstance(rejected, CommandRejected)
    assert "no limit changes" in rejected.reason


def test_limits_without_an_open_session_are_refused_and_the_clinic_limits_stay() -> None:
    side = Bedside()

    (rejected,) = _limits(side, sbp_high=170)

    assert isinstance(rejected, CommandRejected)
    assert "open session" in rejected.reason
    assert side.chair.limits == DEFAULT_LIMITS


def test_a_narrowed_limit_alarms_on_the_next_reading_that_breaches_it() -> None:
    side = infusing()
    assert not transitions(side.read(bp=(175, 85)), AlarmKind.SBP_HIGH)  # under 180

    _limits(side, sbp_high=170)
    side.wait(300)
    raised = transitions(side.read(bp=(175, 85)), AlarmKind.SBP_HIGH)

    assert [t.state for t in raised] == [AlarmState.ACTIVE]
    assert raised[0].limit == 170


def test_a_widened_limit_ends_the_alarm_on_the_next_reading_and_a_high_one_latches() -> None:
    side = infusing()
    (raised,) = transitions(side.read(bp=(186, 90)), AlarmKind.SBP_HIGH)
    assert raised.state is AlarmState.ACTIVE

    _limits(side, sbp_high=200)
    assert side.alarm("sbp_high").state is AlarmState.ACTIVE  # nothing until a reading says so
    side.wait(300)
    ended = transitions(side.read(bp=(186, 90)), AlarmKind.SBP_HIGH)

    assert [t.state for t in ended] == [AlarmState.LATCHED]  # unacknowledged: it stays shown
    assert ended[0].alarm == raised.alarm  # the same alarm, not a new one
    cleared = transitions(side.ack("sbp_high"), AlarmKind.SBP_HIGH)
    assert [t.state for t in cleared] == [AlarmState.CLEARED]


def test_a_widened_limit_does_not_alarm_where_the_old_one_did() -> None:
    side = infusing()
    _limits(side, hr_high=140)

    events = side.hold(30, hr=130, spo2=97)

    assert not transitions(events, AlarmKind.HR_HIGH)


def test_the_changed_limits_end_with_the_discharge() -> None:
    side = admitted()
    _limits(side, sbp_high=170)

    side.discharge()

    assert side.chair.limits == DEFAULT_LIMITS
