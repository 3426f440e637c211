"""Return to baseline after the infusion, and the 20-minute window it is audited against
(CLINICAL.md, safety rule 5: recovered means safe, not just close)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from builders import T0, infusing, recovering, transitions

from monitor.domain.alarms import AlarmKind, AlarmState
from monitor.domain.baseline import Baseline, BaselineSource
from monitor.domain.events import RecoveryUpdate, SessionClosed
from monitor.domain.limits import DEFAULT_LIMITS, Limits
from monitor.domain.recovery import CONTINUOUS_FRESH_S, RecoveryStatus, RecoveryTracker
from monitor.domain.vitals import Vital

STOP = T0 + 3600
BASELINE = Baseline(sbp=120, dbp=80, hr=70, spo2=98, source=BaselineSource.MEASURED)

Continuous = dict[Vital, tuple[float, float]]


def _tracker(baseline: Baseline = BASELINE, limits: Limits = DEFAULT_LIMITS) -> RecoveryTracker:
    return RecoveryTracker.start(session="S1", stopped_at=STOP, baseline=baseline, limits=limits)


def _fresh(ts: float, *, hr: float = 70.0, spo2: float = 98.0) -> Continuous:
    """HR and SpO2 as the oximeter and ECG gave them a second before the cuff."""
    return {Vital.HR: (ts - 1, hr), Vital.SPO2: (ts - 1, spo2)}


def _cuff(
    tracker: RecoveryTracker,
    minutes: float,
    bp: tuple[float, float],
    *,
    hr: float = 70.0,
    spo2: float = 98.0,
    continuous: Continuous | None = None,
    ongoing: Iterable[str] = (),
) -> list[RecoveryUpdate]:
    """One valid cuff `minutes` after the stop, with a fresh HR and SpO2 unless `continuous`."""
    ts = STOP + minutes * 60
    sbp, dbp = bp
    seen = _fresh(ts, hr=hr, spo2=spo2) if continuous is None else continuous
    return tracker.cuff_reading(ts, sbp=sbp, dbp=dbp, continuous=seen, ongoing_alarms=ongoing)


def _statuses(updates: list[RecoveryUpdate]) -> list[str]:
    return [u.status for u in updates]


# The tracker on its own -----------------------------------------------------------------------


def test_the_tracker_starts_watching_with_the_clinic_s_policy() -> None:
    tracker = _tracker()

    update = tracker.update(STOP)

    assert tracker.status is RecoveryStatus.WATCHING
    assert tracker.limits is DEFAULT_LIMITS
    assert tracker.window_s == 1200
    assert (tracker.limits.recovery_readings, tracker.limits.recovery_cuff_spacing_s) == (2, 180)
    assert (update.status, update.minutes_since_stop, update.infusion_stopped_at) == (
        "watching",
        0.0,
        STOP,
    )
    assert update.baseline == {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98}
    assert (update.reason, update.discharged_by) == (None, None)


def test_two_consecutive_readings_within_tolerance_mean_recovered() -> None:
    tracker = _tracker()

    [first] = _cuff(tracker, 5, (130, 85), hr=74, spo2=97)
    [second] = _cuff(tracker, 10, (125, 82), hr=72, spo2=98)

    assert (first.status, first.consecutive_in_tolerance, first.reason) == ("watching", 1, None)
    assert (second.status, second.consecutive_in_tolerance, second.reason) == (
        "recovered",
        2,
        None,
    )
    assert second.minutes_since_stop == 10.0
    assert second.recovered_at == STOP + 600
    assert second.latest == {"sbp": 125, "dbp": 82, "hr": 72, "spo2": 98}
    assert second.off_baseline == {
        "sbp": round(5 / 120, 4),
        "dbp": round(2 / 80, 4),
        "hr": round(2 / 70, 4),
        "spo2": 0.0,
    }


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
    assert updates[1].reason == "SBP 150 more than 20% from baseline 120"


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
def test_bp_tolerance_is_twenty_percent_either_side(bp: tuple[float, float], within: bool) -> None:
    tracker = _tracker()

    [update] = _cuff(tracker, 5, bp)

    assert update.consecutive_in_tolerance == (1 if within else 0)
    assert (update.reason is None) is within


@pytest.mark.parametrize(
    ("hr", "within"),
    [(84, True), (56, True), (85, False), (55, False), (150, False)],
)
def test_hr_must_be_within_twenty_percent_of_its_baseline(hr: float, within: bool) -> None:
    tracker = _tracker()

    [update] = _cuff(tracker, 5, (120, 80), hr=hr)

    assert update.consecutive_in_tolerance == (1 if within else 0)
    if not within:
        assert update.reason == f"HR {hr:g} more than 20% from baseline 70"


@pytest.mark.parametrize(
    ("base_spo2", "spo2", "floor"),
    [
        (98, 94, None),  # at least 94 %
        (98, 93.9, 94),
        (98, 79, 94),  # 79 is "within 20 % of 98", and it is not recovered
        (93, 90, None),  # no more than 3 points below its own baseline
        (93, 89.5, 90),
        (96, 93, None),
        (96, 92, 93),
        (None, 94, None),
        (None, 93, 94),
    ],
)
def test_spo2_must_be_at_least_94_or_within_3_points_of_its_baseline(
    base_spo2: float | None, spo2: float, floor: float | None
) -> None:
    tracker = _tracker(Baseline(sbp=120, dbp=80, hr=70, spo2=base_spo2))

    [update] = _cuff(tracker, 5, (120, 80), spo2=spo2)

    assert update.consecutive_in_tolerance == (1 if floor is None else 0)
    assert update.reason == (None if floor is None else f"SpO2 {spo2:g} % below {floor:g} %")


def test_a_fresh_continuous_value_out_of_tolerance_blocks_recovery() -> None:
    tracker = _tracker()
    ts = STOP + 300
    fast_hr = {Vital.HR: (ts - CONTINUOUS_FRESH_S, 90.0), Vital.SPO2: (ts - 1, 97.0)}

    [update] = tracker.cuff_reading(ts, sbp=120, dbp=80, continuous=fast_hr)

    assert update.consecutive_in_tolerance == 0
    assert update.latest == {"sbp": 120, "dbp": 80, "hr": 90, "spo2": 97}
    assert update.off_baseline["hr"] == pytest.approx(20 / 70, abs=1e-4)


@pytest.mark.parametrize(
    ("seen", "reason"),
    [
        ({Vital.SPO2: 97.0}, "no current HR"),
        ({Vital.HR: 70.0}, "no current SpO2"),
        ({}, "no current HR"),
    ],
)
def test_a_cuff_without_a_fresh_hr_and_spo2_does_not_count(
    seen: dict[Vital, float], reason: str
) -> None:
    tracker = _tracker()
    ts = STOP + 300
    old = ts - CONTINUOUS_FRESH_S - 1  # the last value of the other one is too old to count
    continuous = {Vital.HR: (old, 70.0), Vital.SPO2: (old, 98.0)}
    continuous |= {v: (ts - 1, x) for v, x in seen.items()}

    [update] = tracker.cuff_reading(ts, sbp=120, dbp=80, continuous=continuous)

    assert (update.consecutive_in_tolerance, update.reason) == (0, reason)
    assert {k for k in ("hr", "spo2") if k in update.latest} == {v.value for v in seen}


def test_a_stale_value_is_not_shown_as_the_latest() -> None:
    tracker = _tracker(Baseline(sbp=120, dbp=80, spo2=98))  # no HR baseline: HR is not needed
    ts = STOP + 300
    continuous = {Vital.HR: (ts - CONTINUOUS_FRESH_S - 1, 150.0), Vital.SPO2: (ts - 1, 98.0)}

    [update] = tracker.cuff_reading(ts, sbp=120, dbp=80, continuous=continuous)

    assert update.consecutive_in_tolerance == 1
    assert "hr" not in update.latest
    assert "hr" not in update.off_baseline


@pytest.mark.parametrize(
    ("ongoing", "reason"),
    [
        (["sbp_low"], "sbp_low ongoing"),
        (["spo2_low", "hr_high"], "hr_high, spo2_low ongoing"),
    ],
)
def test_an_ongoing_physiological_alarm_blocks_recovery(ongoing: list[str], reason: str) -> None:
    tracker = _tracker()
    _cuff(tracker, 5, (120, 80))

    [blocked] = _cuff(tracker, 10, (120, 80), ongoing=ongoing)
    [after] = _cuff(tracker, 15, (120, 80))

    assert (blocked.status, blocked.consecutive_in_tolerance, blocked.reason) == (
        "watching",
        0,
        reason,
    )
    assert (after.status, after.consecutive_in_tolerance) == ("watching", 1)


@pytest.mark.parametrize(("apart_s", "counts"), [(40, False), (179, False), (180, True)])
def test_a_cuff_counts_only_3_minutes_after_the_last_counted(apart_s: float, counts: bool) -> None:
    tracker = _tracker()
    _cuff(tracker, 5, (120, 80))

    [update] = _cuff(tracker, 5 + apart_s / 60, (121, 80))

    assert update.status == ("recovered" if counts else "watching")
    assert update.consecutive_in_tolerance == (2 if counts else 1)
    assert update.reason == (None if counts else "next cuff counts from 3 min after the last")


def test_a_retry_cuff_neither_counts_nor_breaks_the_run() -> None:
    tracker = _tracker()

    updates = [
        *_cuff(tracker, 5, (120, 80)),
        *_cuff(tracker, 5.5, (122, 80)),  # the cuff's own retry, 30 s later
        *_cuff(tracker, 8, (121, 81)),
    ]

    assert [u.consecutive_in_tolerance for u in updates] == [1, 1, 2]
    assert _statuses(updates) == ["watching", "watching", "recovered"]
    assert updates[-1].recovered_at == STOP + 480


def test_a_retry_cuff_out_of_tolerance_starts_the_run_again() -> None:
    tracker = _tracker()

    updates = [*_cuff(tracker, 5, (120, 80)), *_cuff(tracker, 5.5, (160, 80))]

    assert [u.consecutive_in_tolerance for u in updates] == [1, 0]
    assert _cuff(tracker, 8, (121, 81))[0].consecutive_in_tolerance == 1


def test_without_a_bp_baseline_recovery_cannot_be_assessed() -> None:
    tracker = _tracker(Baseline(hr=70, spo2=98, missing="1 of 2 baseline cuff readings"))

    start = tracker.update(STOP)
    updates = [*_cuff(tracker, 5, (120, 80)), *_cuff(tracker, 10, (120, 80))]

    assert start.status == "cannot_assess"
    assert start.reason == "no baseline BP: 1 of 2 baseline cuff readings"
    assert updates == []
    assert tracker.clock(STOP + 7200) is None  # never "not back to baseline"
    assert tracker.status is RecoveryStatus.CANNOT_ASSESS
    assert tracker.recovered_at is None


def test_a_baseline_with_no_bp_and_no_reason_still_says_why() -> None:
    tracker = _tracker(Baseline(hr=70, spo2=98))

    assert tracker.status is RecoveryStatus.CANNOT_ASSESS
    assert tracker.reason == "no baseline BP: none measured or entered"


@pytest.mark.parametrize(("needed", "recovered_on"), [(2, 2), (3, 3), (5, 5)])
def test_the_clinic_sets_how_many_readings_recovery_needs(needed: int, recovered_on: int) -> None:
    tracker = _tracker(limits=DEFAULT_LIMITS.with_overrides({"recovery_readings": needed}))

    statuses = [_statuses(_cuff(tracker, 3 * n, (125, 82))) for n in range(1, 7)]

    assert statuses[:recovered_on] == [["watching"]] * (recovered_on - 1) + [["recovered"]]
    assert statuses[recovered_on:] == [[]] * (6 - recovered_on)


def test_a_clinic_s_tolerance_window_and_spacing_apply() -> None:
    tracker = _tracker(
        limits=DEFAULT_LIMITS.with_overrides(
            {"recovery_tolerance": 0.1, "recovery_window_s": 600, "recovery_cuff_spacing_s": 300}
        )
    )

    assert [u.consecutive_in_tolerance for u in _cuff(tracker, 3, (134, 80))] == [0]  # +11.7 %
    assert [u.consecutive_in_tolerance for u in _cuff(tracker, 4, (130, 80))] == [1]
    assert [u.consecutive_in_tolerance for u in _cuff(tracker, 8, (130, 80))] == [1]  # 4 min
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
    assert tracker.discharge(STOP + 3600, by="nurse-kim") is None
    assert tracker.status is RecoveryStatus.RECOVERED


@pytest.mark.parametrize(
    ("baseline", "before", "reason"),
    [
        (BASELINE, "watching", "discharged while watching"),
        (
            Baseline(hr=70),
            "cannot_assess",
            "discharged while cannot_assess (no baseline BP: none measured or entered)",
        ),
    ],
)
def test_a_discharge_before_recovery_is_confirmed_is_the_outcome(
    baseline: Baseline, before: str, reason: str
) -> None:
    tracker = _tracker(baseline)
    assert tracker.status.value == before

    update = tracker.discharge(STOP + 600, by="nurse-kim")

    assert update is not None
    assert (update.status, update.discharged_by, update.reason) == (
        "discharged_unconfirmed",
        "nurse-kim",
        reason,
    )
    assert _cuff(tracker, 15, (120, 80)) == []
    assert tracker.clock(STOP + 3600) is None


def test_a_discharge_while_overdue_keeps_why_recovery_was_not_confirmed() -> None:
    tracker = _tracker()
    _cuff(tracker, 19, (160, 100))
    tracker.clock(STOP + 1200)

    update = tracker.discharge(STOP + 1500, by="nurse-kim")

    assert update is not None
    assert update.status == "discharged_unconfirmed"
    assert update.reason == "discharged while overdue (SBP 160 more than 20% from baseline 120)"


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


def test_a_chair_s_cuff_with_no_fresh_hr_or_spo2_does_not_count() -> None:
    side = recovering()  # nothing continuous came during the 40-minute infusion
    side.wait(300)

    [update] = _recovery(side.read(bp=(120, 80)))

    assert (update.status, update.consecutive_in_tolerance) == ("watching", 0)
    assert update.reason == "no current HR"


def test_a_chair_s_recovery_count_resets_on_a_reading_out_of_tolerance() -> None:
    side = recovering()
    for bp in [(130, 85), (150, 98), (130, 85)]:
        side.wait(240)
        side.read(hr=72, spo2=97, bp=bp)

    updates = _recovery(side.log)
    assert [u.consecutive_in_tolerance for u in updates[-3:]] == [1, 0, 1]
    assert updates[-1].status == "watching"


def test_a_chair_s_ongoing_alarm_blocks_recovery_even_when_acknowledged() -> None:
    side = recovering(hr=110)  # an anxious patient: HR 125 is within 20 % of 110
    side.hold(12, hr=125, spo2=98)
    assert side.alarm("hr_high").state is AlarmState.ACTIVE

    [blocked] = _recovery(side.read(hr=125, spo2=98, bp=(120, 80)))
    side.ack("hr_high")
    side.wait(200)
    [still] = _recovery(side.read(hr=125, spo2=98, bp=(120, 80)))

    assert (blocked.consecutive_in_tolerance, blocked.reason) == (0, "hr_high ongoing")
    assert (still.consecutive_in_tolerance, still.reason) == (0, "hr_high ongoing")

    side.wait(1)
    side.hold(10, hr=108, spo2=98)  # clearly back under 120 - 5: the condition ends
    assert AlarmKind.HR_HIGH not in side.alarms
    side.read(hr=108, spo2=98, bp=(121, 80))
    side.wait(200)
    [recovered] = _recovery(side.read(hr=108, spo2=98, bp=(120, 81)))
    assert recovered.status == "recovered"


@pytest.mark.parametrize(
    ("junk", "flags"),
    [
        ((80, 95), ()),  # DBP at or above SBP: impossible
        ((310, 90), ()),  # SBP above 300: impossible
        ((0, 0), ()),  # 0 means no valid value
        ((122, 80), ("nibp_failed",)),  # the monitor itself says the cuff failed
    ],
)
def test_an_artefactual_cuff_reading_neither_counts_nor_resets(
    junk: tuple[float, float], flags: tuple[str, ...]
) -> None:
    side = recovering()
    side.wait(240)
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.wait(60)

    during = _recovery(side.read(hr=72, spo2=97, bp=junk, technical=flags))
    tracker = side.chair.session.recovery if side.chair.session else None
    count_after_junk = tracker.consecutive if tracker else None
    side.wait(180)
    after = _recovery(side.read(hr=72, spo2=97, bp=(124, 82)))

    assert during == []
    assert count_after_junk == 1
    assert _statuses(after) == ["recovered"]


@pytest.mark.parametrize(("questionable", "alarm"), [((40, 10), "sbp_low"), ((80, 70), "sbp_low")])
def test_a_questionable_cuff_is_a_real_reading_and_starts_the_run_again(
    questionable: tuple[float, float], alarm: str
) -> None:
    side = recovering()
    side.wait(240)
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.wait(240)

    [update] = _recovery(side.read(hr=72, spo2=97, bp=questionable))

    assert update.consecutive_in_tolerance == 0
    assert update.reason is not None
    assert side.alarm(alarm).note is not None
    assert side.alarm(alarm).note.startswith("questionable")  # type: ignore[union-attr]


def test_the_window_passing_with_no_readings_raises_recovery_overdue() -> None:
    side = recovering(lag=2.5)  # wall time runs a little behind event time
    side.wait(300)
    side.read(hr=72, spo2=97, bp=(150, 98))

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
    side.read(hr=72, spo2=97, bp=(150, 98))
    side.wait(900)

    events = side.read(hr=72, spo2=97, bp=(150, 98))

    assert _statuses(_recovery(events)) == ["overdue", "overdue"]
    assert [t.state for t in transitions(events, "recovery_overdue")] == ["active"]


def test_recovery_overdue_is_raised_once() -> None:
    side = recovering()
    side.tick(after=1200)
    later = side.tick(after=1500)
    side.wait(1500)
    later += side.read(hr=72, spo2=97, bp=(150, 98))

    assert transitions(later, "recovery_overdue") == []
    assert side.alarm("recovery_overdue").state is AlarmState.ACTIVE


def test_without_a_bp_baseline_a_chair_never_says_not_back_to_baseline() -> None:
    side = recovering(cuff_readings=1)

    [update] = _recovery(side.log)
    later = side.tick(after=3600)

    assert update.status == "cannot_assess"
    assert update.reason == "no baseline BP: 1 of 2 baseline cuff readings"
    assert transitions(later, "recovery_overdue") == []
    assert AlarmKind.RECOVERY_OVERDUE not in side.alarms


@pytest.mark.parametrize("acknowledged", [False, True])
def test_a_late_recovery_clears_recovery_overdue(acknowledged: bool) -> None:
    side = recovering()
    side.tick(after=1200)
    side.wait(1260)
    if acknowledged:
        side.ack("recovery_overdue")
    side.wait(240)
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.wait(300)

    events = side.read(hr=72, spo2=97, bp=(124, 82))

    assert _statuses(_recovery(events)) == ["recovered_late"]
    [cleared] = transitions(events, "recovery_overdue")
    assert cleared.state == "cleared"
    assert AlarmKind.RECOVERY_OVERDUE not in side.alarms


def test_an_in_time_recovery_raises_no_overdue_alarm_later() -> None:
    side = recovering()
    side.wait(300)
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.wait(300)
    side.read(hr=72, spo2=97, bp=(124, 82))

    later = side.tick(after=3600)

    assert _recovery(later) == []
    assert transitions(later, "recovery_overdue") == []


def test_every_recovery_update_says_minutes_since_the_stop() -> None:
    side = recovering()
    stopped_at = side.now
    for bp in [(160, 100), (150, 95), (80, 95), (140, 90), (126, 84), (124, 82)]:
        side.wait(420)
        side.read(hr=72, spo2=97, bp=bp)
        side.tick(after=30)

    updates = _recovery(side.log)
    assert _statuses(updates) == [
        "watching",  # the stop
        "watching",  # 7 min, 160/100
        "watching",  # 14 min, 150/95
        "overdue",  # 21 min, 80/95 is impossible: only the clock moves
        "overdue",  # 28 min, 140/90 in tolerance: 1
        "recovered_late",  # 35 min, 126/84: 2
    ]
    for update in updates:
        assert update.minutes_since_stop == round((update.ts - stopped_at) / 60, 2)
        assert update.infusion_stopped_at == stopped_at


def test_a_pause_that_was_resumed_does_not_start_the_window() -> None:
    side = infusing()
    side.wait(600)
    side.pause()
    side.wait(120)
    side.resume()
    side.wait(1800)

    side.stop()

    [update] = _recovery(side.log)
    assert update.infusion_stopped_at == side.now


def test_a_discharge_before_recovery_is_recorded_as_unconfirmed_by_whom() -> None:
    side = recovering()
    side.tick(after=1200)
    side.wait(1300)

    events = side.discharge(by="nurse-kim")

    [closed] = [e for e in events if isinstance(e, SessionClosed)]
    assert (closed.recovery_status, closed.outcome, closed.by) == (
        "overdue",  # the missed window stays on the record
        "discharged_unconfirmed",
        "nurse-kim",
    )
    [update] = _recovery(events)
    assert (update.status, update.discharged_by) == ("discharged_unconfirmed", "nurse-kim")
    assert update.reason is not None
    assert update.reason.startswith("discharged while overdue")


def test_a_discharge_after_recovery_records_the_recovery() -> None:
    side = recovering()
    side.wait(300)
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.wait(300)
    side.read(hr=72, spo2=97, bp=(124, 82))
    side.wait(60)

    events = side.discharge(by="nurse-kim")

    [closed] = [e for e in events if isinstance(e, SessionClosed)]
    assert (closed.recovery_status, closed.outcome, closed.by) == (
        "recovered",
        "recovered",
        "nurse-kim",
    )
    assert _recovery(events) == []


def test_an_oximeter_only_monitors_pulse_rate_stands_for_the_hr() -> None:
    side = recovering()
    for _ in range(2):
        side.hold(30, pr=72, spo2=98)
        side.read(pr=72, spo2=98, bp=(120, 80))
        side.wait(200)

    assert _recovery(side.log)[-1].status == "recovered"
