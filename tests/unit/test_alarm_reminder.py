"""Reminders: an acknowledged alarm whose condition persists sounds again at the station after
its priority's reminder time, measured from the acknowledgement; low alarms never do."""

from __future__ import annotations

import pytest
from builders import infusing, transitions

from monitor.domain.alarms import AlarmBoard, AlarmClass, AlarmKind, AlarmPriority, Finding
from monitor.domain.clinic import Clinic
from monitor.domain.commands import Acknowledge, Admit
from monitor.domain.limits import DEFAULT_REMINDERS, LimitsError, Reminders
from monitor.domain.vitals import Reading

TS = 1_795_000_000.0


def _low_finding() -> Finding:
    return Finding(
        kind=AlarmKind.NIBP_FAILED,
        alarm_class=AlarmClass.TECHNICAL,
        priority=AlarmPriority.LOW,
        value=None,
        limit=None,
        text="NIBP measurement failed",
    )


def test_the_defaults_are_three_minutes_high_ten_medium_and_never_low() -> None:
    assert DEFAULT_REMINDERS.after(AlarmPriority.HIGH) == 180
    assert DEFAULT_REMINDERS.after(AlarmPriority.MEDIUM) == 600
    assert DEFAULT_REMINDERS.after(AlarmPriority.LOW) is None


def test_an_acknowledged_high_alarm_still_present_sounds_again_after_3_min_not_before() -> None:
    side = infusing()
    side.read(bp=(186, 95))
    side.ack("sbp_high")
    acked_at = side.now

    early = transitions(side.tick(after=179.9), "sbp_high")
    [again] = transitions(side.tick(after=180), "sbp_high")

    assert early == []
    assert (again.state, again.previous_state, again.reason) == (
        "active",
        "acknowledged",
        "reminder",
    )
    assert again.note == "reminder: still SBP 186 > 180 mmHg after 3 min acknowledged"
    assert again.ts == acked_at + 180
    assert side.alarm("sbp_high").sounding
    assert transitions(side.tick(after=400), "sbp_high") == []  # active now: no second reminder


def test_a_medium_alarm_reminds_after_10_min() -> None:
    side = infusing()  # baseline 120/80: 165 is a rise of 45 over it
    side.read(bp=(165, 85))
    side.ack("sbp_rise")

    assert transitions(side.tick(after=599), "sbp_rise") == []
    [again] = transitions(side.tick(after=600), "sbp_rise")
    assert (again.priority, again.reason) == ("medium", "reminder")
    assert "after 10 min acknowledged" in (again.note or "")


def test_a_low_alarm_is_never_reminded() -> None:
    board = AlarmBoard(chair="c01")
    board.present(_low_finding(), ts=TS, session="S1")
    board.acknowledge("nibp_failed", by="nurse-ana", ts=TS + 1)

    assert board.remind(TS + 86_400) == []


def test_acknowledging_again_starts_the_reminder_time_again() -> None:
    side = infusing()
    side.read(bp=(186, 95))
    side.ack("sbp_high")
    side.wait(180)
    side.tick()
    side.wait(60)
    side.ack("sbp_high")

    assert transitions(side.tick(after=179), "sbp_high") == []
    [again] = transitions(side.tick(after=180), "sbp_high")
    assert again.reason == "reminder"


def test_an_alarm_whose_condition_ended_is_not_reminded() -> None:
    side = infusing()
    side.read(bp=(186, 95))
    side.ack("sbp_high")
    side.wait(60)
    side.read(bp=(150, 85))  # clears: it was acknowledged, so it does not latch

    assert "sbp_high" not in {k.value for k in side.alarms}
    assert transitions(side.tick(after=600), "sbp_high") == []


def test_a_suppressed_alarm_is_not_reminded_on_its_own() -> None:
    side = infusing()
    side.read(bp=(186, 95))  # sbp_high, and sbp_rise shown under it
    side.ack("sbp_high")  # acknowledges sbp_rise with it

    events = side.tick(after=600)

    assert [t.reason for t in transitions(events, "sbp_high")] == ["reminder"]
    assert transitions(events, "sbp_rise") == []


def test_the_clinic_passes_its_reminder_times_to_every_chair() -> None:
    clinic = Clinic(reminders=Reminders(high_s=120))
    clinic.handle("c01", Admit(TS, "P-1"), wall=TS)
    clinic.handle("c01", Reading(ts=TS + 1, seq=1, sbp=190, dbp=95), wall=TS + 1)
    clinic.handle("c01", Acknowledge(TS + 2, "sbp_high", "nurse-ana"), wall=TS + 2)

    before = [t for r in clinic.tick(TS + 121) for t in transitions(r.events, "sbp_high")]
    after = [t for r in clinic.tick(TS + 122) for t in transitions(r.events, "sbp_high")]

    assert before == []
    assert [t.reason for t in after] == ["reminder"]


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ({"high_s": 10}, "reminder high_s 10 is outside its range 60-900 s"),
        ({"medium_s": 7200}, "reminder medium_s 7200 is outside its range 60-1800 s"),
        ({"high_s": float("nan")}, "reminder high_s nan"),
    ],
)
def test_a_reminder_time_outside_its_range_is_refused_with_the_range(
    times: dict[str, float], message: str
) -> None:
    with pytest.raises(LimitsError, match=message):
        Reminders(**times)
