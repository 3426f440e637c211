"""Return to baseline after the infusion, and the 20-minute window it is audited against."""

from __future__ import annotations

import pytest
from builders import T0, recovering, transitions

from monitor.domain.alarms import AlarmKind, AlarmState
from monitor.domain.baseline import Baseline, BaselineSource
from monitor.domain.events import RecoveryUpdate, SessionClosed
from monitor.domain.limits import DEFAULT_LIMITS
from monitor.domain.recovery import CONTINUOUS_FRESH_S, RecoveryStatus, RecoveryTracker
from monitor.domain.vitals import Vital

STOP = T0 + 3600
BASELINE = Baseline(sbp=120, dbp=80, hr=70, spo2=98, source=BaselineSource.MEASURED)


def _tracker(baseline: Baseline = BASELINE) -> RecoveryTracker:
    return RecoveryTracker.start(
        session="S1", stopped_at=STOP, baseline=baseline, limits=DEFAULT_LIMITS
    )


def _cuff(
    tracker: RecoveryTracker,
    minutes: float,
    bp: tuple[float, float],
    continuous: dict[Vital, tuple[float, float]] | None = None,
) -> list[RecoveryUpdate]:
    sbp, dbp = bp
    return tracker.cuff_reading(STOP + minutes * 60, sbp=sbp, dbp=dbp, continuous=continuous or {})


def _statuses(updates: list[RecoveryUpdate]) -> list[str]:
    return [u.status for u in updates]


# The tracker on its own -----------------------------------------------------------------------


def test_the_tracker_starts_watching_with_the_clinic_s_policy() -> None:
    tracker = _tracker()

    update = tracker.update(STOP)

    assert tracker.status is RecoveryStatus.WATCHING
    assert (tracker.tolerance, tracker.window_s, tracker.readings_needed) == (0.2, 1200, 2)
    assert (update.status, update.minutes_since_stop, update.infusion_stopped_at) == (
        "watching",
        0.0,
        STOP,
    )
    assert update.baseline == {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98}


def test_two_consecutive_readings_within_tolerance_mean_recovered() -> None:
    tracker = _tracker()

    [first] = _cuff(tracker, 5, (130, 85))
    [second] = _cuff(tracker, 10, (125, 82))

    assert (first.status, first.consecutive_in_tolerance) == ("watching", 1)
    assert (second.status, second.consecutive_in_tolerance) == ("recovered", 2)
    assert second.minutes_since_stop == 10.0
    assert second.recovered_at == STOP + 600
    assert second.latest == {"sbp": 125, "dbp": 82}
    assert second.off_baseline == {"sbp": round(5 / 120, 4), "dbp": round(2 / 80, 4)}


def test_one_reading_out_of_tolerance_resets_the_count() -> None:
    tracker = _tracker()

    updates = [
        *_cuff(tracker, 3, (130, 85)),
        *_cuff(tracker, 6, (150, 85)),  # SBP 25 % above
        *_cuff(tracker, 9, (130, 85)),
        *_cuff(tracker, 12, (128, 84)),
    ]

    assert [u.consecutive_in_tolerance for u in updates] == [1, 0, 1, 2]
    assert _statuses(updates) == ["watching"] * 3 + ["recovered"]
    assert updates[1].off_baseline["sbp"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("bp", "within"),
    [
        ((144, 80), True),  # +20 %
        ((96, 64), True),  # -20 % both
        ((145, 80), False),
        ((95, 80), False),
        ((120, 97), False),
        ((120, 63), False),
    ],
)
def test_tolerance_is_twenty_percent_either_side(bp: tuple[float, float], within: bool) -> None:
    tracker = _tracker()

    [update] = _cuff(tracker, 5, bp)

    assert update.consecutive_in_tolerance == (1 if within else 0)


def test_a_fresh_continuous_value_out_of_tolerance_blocks_recovery() -> None:
    tracker = _tracker()
    ts = STOP + 300
    fast_hr = {Vital.HR: (ts - CONTINUOUS_FRESH_S, 90.0), Vital.SPO2: (ts - 1, 97.0)}

    [update] = tracker.cuff_reading(ts, sbp=120, dbp=80, continuous=fast_hr)

    assert update.consecutive_in_tolerance == 0
    assert update.latest == {"sbp": 120, "dbp": 80, "hr": 90, "spo2": 97}
    assert update.off_baseline["hr"] == pytest.approx(20 / 70, abs=1e-4)


def test_a_stale_continuous_value_is_not_assessed() -> None:
    tracker = _tracker()
    ts = STOP + 300
    old_hr = {Vital.HR: (ts - CONTINUOUS_FRESH_S - 1, 150.0)}

    [update] = tracker.cuff_reading(ts, sbp=120, dbp=80, continuous=old_hr)

    assert update.consecutive_in_tolerance == 1
    assert "hr" not in update.latest
    assert "hr" not in update.off_baseline


def test_without_a_bp_baseline_the_tracker_keeps_watching() -> None:
    tracker = _tracker(Baseline(hr=70, spo2=98))

    updates = [*_cuff(tracker, 5, (120, 80)), *_cuff(tracker, 10, (120, 80))]

    assert _statuses(updates) == ["watching", "watching"]
    assert tracker.recovered_at is None


@pytest.mark.parametrize(("needed", "recovered_on"), [(1, 1), (2, 2), (3, 3)])
def test_the_clinic_sets_how_many_readings_recovery_needs(needed: int, recovered_on: int) -> None:
    tracker = RecoveryTracker.start(
        session="S1",
        stopped_at=STOP,
        baseline=BASELINE,
        limits=DEFAULT_LIMITS.with_overrides({"recovery_readings": needed}),
    )

    statuses = [_statuses(_cuff(tracker, 3 * n, (125, 82))) for n in range(1, 5)]

    assert statuses[:recovered_on] == [["watching"]] * (recovered_on - 1) + [["recovered"]]
    assert statuses[recovered_on:] == [[]] * (4 - recovered_on)


def test_a_clinic_s_tolerance_and_window_apply() -> None:
    tracker = RecoveryTracker.start(
        session="S1",
        stopped_at=STOP,
        baseline=BASELINE,
        limits=DEFAULT_LIMITS.with_overrides({"recovery_tolerance": 0.1, "recovery_window_s": 600}),
    )

    assert [u.consecutive_in_tolerance for u in _cuff(tracker, 3, (134, 80))] == [0]  # +11.7 %
    assert tracker.clock(STOP + 600) is not None


def test_the_clock_makes_the_status_overdue_when_the_window_passes() -> None:
    tracker = _tracker()

    before = tracker.clock(STOP + 1199)
    at_window = tracker.clock(STOP + 1200)
    again = tracker.clock(STOP + 1300)

    assert before is None
    assert at_window is not None
    assert (at_window.status, at_window.minutes_since_stop) == ("overdue", 20.0)
    assert again is None  # overdue is said once
    assert tracker.status is RecoveryStatus.OVERDUE


def test_a_recovery_after_the_window_is_recovered_late() -> None:
    tracker = _tracker()
    _cuff(tracker, 15, (160, 100))
    tracker.clock(STOP + 1200)

    updates = [*_cuff(tracker, 25, (125, 82)), *_cuff(tracker, 30, (122, 81))]

    assert _statuses(updates) == ["overdue", "recovered_late"]
    assert updates[-1].recovered_at == STOP + 1800
    assert updates[-1].minutes_since_stop == 30.0


def test_a_first_reading_past_the_window_records_overdue_before_assessing() -> None:
    tracker = _tracker()

    updates = _cuff(tracker, 22, (125, 82))

    assert _statuses(updates) == ["overdue", "overdue"]
    assert [u.minutes_since_stop for u in updates] == [22.0, 22.0]


def test_the_run_may_straddle_the_window_and_then_it_is_late() -> None:
    tracker = _tracker()

    updates = [*_cuff(tracker, 18, (125, 82)), *_cuff(tracker, 23, (125, 82))]

    assert _statuses(updates) == ["watching", "overdue", "recovered_late"]


def test_after_recovery_the_tracker_says_nothing_more() -> None:
    tracker = _tracker()
    _cuff(tracker, 5, (125, 82))
    _cuff(tracker, 10, (125, 82))

    assert _cuff(tracker, 15, (190, 120)) == []
    assert tracker.clock(STOP + 3600) is None
    assert tracker.status is RecoveryStatus.RECOVERED


# Through a chair ------------------------------------------------------------------------------


def _recovery(events: list[object]) -> list[RecoveryUpdate]:
    return [e for e in events if isinstance(e, RecoveryUpdate)]


def test_stopping_the_infusion_starts_watching() -> None:
    side = recovering()

    [update] = _recovery(side.log)

    assert (update.status, update.minutes_since_stop) == ("watching", 0.0)
    assert update.infusion_stopped_at == side.now
    assert update.baseline == {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98}


def test_a_chair_recovers_on_two_readings_within_tolerance() -> None:
    side = recovering()
    side.wait(300)
    first = _recovery(side.read(hr=72, spo2=97, bp=(132, 86)))
    side.wait(300)
    second = _recovery(side.read(hr=71, spo2=98, bp=(126, 84)))

    assert _statuses(first) == ["watching"]
    assert _statuses(second) == ["recovered"]
    assert second[0].minutes_since_stop == 10.0
    assert second[0].latest == {"sbp": 126, "dbp": 84, "hr": 71, "spo2": 98}


def test_a_chair_s_recovery_count_resets_on_a_reading_out_of_tolerance() -> None:
    side = recovering()
    for bp in [(130, 85), (150, 98), (130, 85)]:
        side.wait(240)
        side.read(bp=bp)

    updates = _recovery(side.log)
    assert [u.consecutive_in_tolerance for u in updates[-3:]] == [1, 0, 1]
    assert updates[-1].status == "watching"


@pytest.mark.parametrize("junk", [(40, 10), (300, 90), (120, 115)])
def test_an_artefactual_cuff_reading_neither_counts_nor_resets(junk: tuple[float, float]) -> None:
    side = recovering()
    side.wait(240)
    side.read(bp=(126, 84))
    side.wait(60)

    during = _recovery(side.read(bp=junk))
    tracker = side.chair.session.recovery if side.chair.session else None
    count_after_junk = tracker.consecutive if tracker else None
    side.wait(180)
    after = _recovery(side.read(bp=(124, 82)))

    assert during == []
    assert count_after_junk == 1
    assert _statuses(after) == ["recovered"]


def test_the_window_passing_with_no_readings_raises_recovery_overdue() -> None:
    side = recovering(lag=2.5)  # wall time runs a little behind event time
    side.wait(300)
    side.read(bp=(150, 98))

    quiet = side.tick(after=899)  # 19:59 after the stop, on the clinical clock
    events = side.tick(after=900)  # 20:00

    assert _recovery(quiet) == []
    assert transitions(quiet, "recovery_overdue") == []
    [update] = _recovery(events)
    assert (update.status, update.minutes_since_stop) == ("overdue", 20.0)
    [alarm] = transitions(events, "recovery_overdue")
    assert (alarm.state, alarm.priority, alarm.alarm_class) == ("active", "medium", "physiological")
    assert alarm.text == "Not back to baseline 20 min after the infusion ended"


def test_the_clinical_clock_carries_on_from_the_last_event_time_in_a_replay() -> None:
    """A recorded session arriving days later: the window still closes 20 min after the stop."""
    side = recovering(lag=5 * 86400)

    assert _recovery(side.tick(after=1199)) == []
    assert _statuses(_recovery(side.tick(after=1200))) == ["overdue"]


def test_a_reading_past_the_window_raises_recovery_overdue() -> None:
    side = recovering()
    side.wait(600)
    side.read(bp=(150, 98))
    side.wait(900)

    events = side.read(bp=(150, 98))

    assert _statuses(_recovery(events)) == ["overdue", "overdue"]
    assert [t.state for t in transitions(events, "recovery_overdue")] == ["active"]


def test_recovery_overdue_is_raised_once() -> None:
    side = recovering()
    side.tick(after=1200)
    later = side.tick(after=1500)
    side.wait(1500)
    later += side.read(bp=(150, 98))

    assert transitions(later, "recovery_overdue") == []
    assert side.alarm("recovery_overdue").state is AlarmState.ACTIVE


@pytest.mark.parametrize("acknowledged", [False, True])
def test_a_late_recovery_clears_recovery_overdue(acknowledged: bool) -> None:
    side = recovering()
    side.tick(after=1200)
    side.wait(1260)
    if acknowledged:
        side.ack("recovery_overdue")
    side.wait(240)
    side.read(bp=(126, 84))
    side.wait(300)

    events = side.read(bp=(124, 82))

    assert _statuses(_recovery(events)) == ["recovered_late"]
    [cleared] = transitions(events, "recovery_overdue")
    assert cleared.state == "cleared"
    assert AlarmKind.RECOVERY_OVERDUE not in side.alarms


def test_an_in_time_recovery_raises_no_overdue_alarm_later() -> None:
    side = recovering()
    side.wait(300)
    side.read(bp=(126, 84))
    side.wait(300)
    side.read(bp=(124, 82))

    later = side.tick(after=3600)

    assert _recovery(later) == []
    assert transitions(later, "recovery_overdue") == []


def test_every_recovery_update_says_minutes_since_the_stop() -> None:
    side = recovering()
    stopped_at = side.now
    for bp in [(160, 100), (150, 95), (40, 10), (140, 90), (126, 84), (124, 82)]:
        side.wait(420)
        side.read(hr=72, spo2=97, bp=bp)
        side.tick(after=30)

    updates = _recovery(side.log)
    assert _statuses(updates) == [
        "watching",  # the stop
        "watching",  # 7 min, 160/100
        "watching",  # 14 min, 150/95
        "overdue",  # 21 min, 40/10 is an artefact: only the clock moves
        "overdue",  # 28 min, 140/90 in tolerance: 1
        "recovered_late",  # 35 min, 126/84: 2
    ]
    for update in updates:
        assert update.minutes_since_stop == round((update.ts - stopped_at) / 60, 2)
        assert update.infusion_stopped_at == stopped_at


def test_discharge_records_the_recovery_status() -> None:
    side = recovering()
    side.tick(after=1200)
    side.wait(1300)

    [closed] = [e for e in side.discharge() if isinstance(e, SessionClosed)]

    assert closed.recovery_status == "overdue"
