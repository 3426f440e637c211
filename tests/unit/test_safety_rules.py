"""CLINICAL.md's "Safety rules that override convenience", one table-driven test per rule, through
the pure core: each case is a way a nurse was once told nothing, or the wrong thing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from builders import (
    Bedside,
    admitted,
    infusing,
    kinds_raised,
    of_type,
    recovering,
    transitions,
)

from monitor.domain.alarms import AlarmKind, AlarmState
from monitor.domain.commands import Acknowledge, Discharge, InfusionEvent, PauseAudio
from monitor.domain.events import (
    ArtefactRecorded,
    BaselineSet,
    CommandRejected,
    RecoveryUpdate,
    SessionClosed,
)
from monitor.domain.limits import Limits, LimitsError
from monitor.domain.session import Step
from monitor.domain.vitals import Vital

# Rule 1: doubt raises, never discards --------------------------------------------------------


@pytest.mark.parametrize(
    ("bp", "kinds", "noted"),
    [
        ((150, 115), {"dbp_high"}, True),  # narrow pulse pressure: once set aside
        ((146, 111), {"dbp_high"}, True),
        ((160, 125), {"dbp_high"}, True),
        ((178, 134), {"dbp_high"}, True),
        ((190, 145), {"sbp_high", "dbp_high"}, True),
        ((48, 30), {"sbp_low"}, True),  # once "implausible"
        ((72, 64), {"sbp_low"}, True),
        ((220, None), {"sbp_high"}, True),  # a cuff reading with no DBP, far from the last
    ],
)
def test_rule_01_doubt_raises_never_discards(
    bp: tuple[float, float | None], kinds: set[str], noted: bool
) -> None:
    side = infusing()

    events = side.read(sbp=bp[0], dbp=bp[1])

    absolute = {k for k in kinds_raised(events) if not k.endswith("_rise")}
    assert absolute == kinds
    for kind in kinds:
        alarm = side.alarm(kind)
        assert alarm.priority.value == "high"
        assert (alarm.note is not None and alarm.note.startswith("questionable")) is noted
    assert side.chair.state.latest[Vital.SBP][1] == bp[0]  # the tile shows it, not the last one
    assert not of_type(events, ArtefactRecorded)


def test_rule_01_a_slow_heart_rate_below_25_alarms_with_a_note() -> None:
    side = infusing()

    events = side.hold(12, hr=18, spo2=97)

    [raised] = [t for t in transitions(events, "hr_low") if t.reason == "raised"]
    assert raised.note is not None
    assert "check the ECG leads" in raised.note


def test_rule_01_a_questionable_preinfusion_bp_enters_the_baseline_and_warns() -> None:
    side = admitted(bp=(142, 107))

    assert side.alarm("preinfusion_bp_high").note is not None
    [base] = of_type(side.start(), BaselineSet)
    assert (base.baseline["sbp"], base.baseline["dbp"]) == (142, 107)


@pytest.mark.parametrize("bp", [(210, 120), (70, 40)])
def test_rule_01_a_cuff_the_monitor_flags_failed_is_not_trusted(bp: tuple[float, float]) -> None:
    side = recovering()

    events = side.read(bp=bp, technical=["nibp_failed"])

    assert "nibp_failed" in kinds_raised(events)
    assert not {"sbp_high", "dbp_high", "sbp_low"} & kinds_raised(events)
    assert "not used" in side.alarm("nibp_failed").text
    assert side.chair.state.latest[Vital.SBP][1] == 120  # still the last trusted cuff
    assert not of_type(events, RecoveryUpdate)


def test_rule_01_an_impossible_cuff_is_recorded_and_tells_the_nurse() -> None:
    side = infusing()

    events = side.read(bp=(80, 95))

    assert {a.vital for a in of_type(events, ArtefactRecorded)} == {Vital.SBP, Vital.DBP}
    assert "repeat the cuff" in side.alarm("nibp_failed").text


# Rule 2: no clock can blind a chair ----------------------------------------------------------


def _step_back(seconds: float) -> Callable[[Bedside], None]:
    def step(side: Bedside) -> None:
        side.now -= seconds  # the monitor's clock goes back; wall time does not
        side.lag += seconds

    return step


def _one_reading_ahead(side: Bedside) -> None:
    side.wait(900)
    side.read(hr=72, spo2=97)
    side.wait(-899)
    side.lag += 899


CLOCK_TROUBLE: dict[str, Callable[[Bedside], None]] = {
    "back 3 min": _step_back(180),
    "back 60 min (daylight saving)": _step_back(3600),
    "back 1 day (a corrected date)": _step_back(86_400),
    "one reading 15 min ahead": _one_reading_ahead,
}


@pytest.mark.parametrize("trouble", list(CLOCK_TROUBLE))
def test_rule_02_no_clock_can_blind_a_chair(trouble: str) -> None:
    side = infusing()
    side.hold(30, hr=72, spo2=97)

    CLOCK_TROUBLE[trouble](side)
    side.wait(1)
    events = side.hold(12, hr=40, spo2=80)
    events += side.read(bp=(70, 40))

    assert {"hr_low", "spo2_critical", "sbp_low"} <= kinds_raised(events)
    assert "re-anchored" in side.alarm("clock_step").text


def test_rule_02_a_far_future_first_reading_cannot_lock_the_chair() -> None:
    side = Bedside()
    side.now += 10 * 365 * 86_400  # a monitor whose date is ten years off
    side.lag -= 10 * 365 * 86_400
    side.read(hr=72)
    side.now -= 10 * 365 * 86_400
    side.lag += 10 * 365 * 86_400
    side.wait(1)

    events = side.read(spo2=80)

    assert "spo2_critical" in kinds_raised(events)
    assert "days" in side.alarm("clock_step").text


def test_rule_02_a_step_does_not_outlive_discharge_and_the_next_admission() -> None:
    side = recovering()
    _step_back(3600)(side)
    side.read(hr=72, spo2=97)
    side.discharge()
    side.wait(60)
    side.admit("P-0043")

    events = side.hold(3, hr=72, spo2=80)

    assert "spo2_critical" in kinds_raised(events)
    assert not of_type(side.log, CommandRejected)


@pytest.mark.parametrize(
    "refused",
    [
        lambda s: s.send(Acknowledge(s.now + 1020, "nope", "nurse-ana")),  # rejected command
        lambda s: s.send(PauseAudio(s.now + 1020, 60, "nurse-ana")),  # a station clock 17 min off
        lambda s: s.send(InfusionEvent(s.now + 1020, Step.START)),  # an illegal step
    ],
)
def test_rule_02_a_refused_or_skewed_command_moves_no_clock(
    refused: Callable[[Bedside], object],
) -> None:
    side = recovering()

    refused(side)
    side.wait(180)
    events = side.tick()

    assert "recovery_overdue" not in kinds_raised(events)
    assert side.chair.clinical_now(side.wall) == side.now


def test_rule_02_pump_clock_skew_does_not_move_the_window() -> None:
    side = infusing()
    side.wait(2400)
    side.send(InfusionEvent(side.now - 300, Step.STOP))  # the pump's clock is 5 minutes slow

    [update] = of_type(side.log, RecoveryUpdate)
    assert update.infusion_stopped_at == side.now
    side.wait(1199)
    assert "recovery_overdue" not in kinds_raised(side.tick())
    side.wait(1)
    assert "recovery_overdue" in kinds_raised(side.tick())


# Rule 3: worse is new ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "worse", "kind", "sounds"),
    [
        ({"spo2": 88}, {"spo2": 65}, "spo2_critical", "spo2_critical"),
        ({"bp": (184, 100)}, {"bp": (232, 100)}, "sbp_high", "sbp_high"),
        ({"hr": 125}, {"hr": 175}, "hr_high", "hr_high"),
        ({"hr": 42}, {"hr": 20}, "hr_low", "hr_low"),
        ({"bp": (86, 60)}, {"bp": (60, 40)}, "sbp_low", "sbp_low"),
    ],
)
def test_rule_03_worse_is_new(
    first: dict[str, object], worse: dict[str, object], kind: str, sounds: str
) -> None:
    side = infusing()
    side.hold(20, **first)  # type: ignore[arg-type]
    ack = kind if kind != "spo2_critical" else "spo2_low"
    side.ack(ack)
    assert not side.chair.audible

    side.wait(1)
    side.hold(12, **worse)  # type: ignore[arg-type]

    assert side.alarm(sounds).state is AlarmState.ACTIVE
    assert side.chair.audible


def test_rule_03_a_small_further_change_stays_acknowledged() -> None:
    side = infusing()
    side.read(bp=(184, 100))
    side.ack("sbp_high")

    side.wait(300)
    side.read(bp=(200, 100))

    assert side.alarm("sbp_high").state is AlarmState.ACKNOWLEDGED


def test_rule_03_one_lost_vital_never_hides_another() -> None:
    side = infusing()
    side.hold(10, hr=72, spo2=97)
    side.hold(70, hr=72)  # the SpO2 probe gives nothing
    assert "spo2_stale" in side.alarms
    side.ack("spo2_stale")

    side.wait(70)
    events = side.tick()

    assert "hr_stale" in kinds_raised(events)
    assert side.alarm("hr_stale").state is AlarmState.ACTIVE


# Rule 4: no pulse, no wait -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "alarms"),
    [
        ({"hr": 0, "spo2": 0}, True),
        ({"pr": 0, "spo2": 0}, True),  # an oximeter without ECG
        ({"hr": 0, "spo2": 0, "technical": ["spo2_probe_off", "leads_off"]}, False),
        ({"hr": 0, "spo2": 97}, False),
    ],
)
def test_rule_04_no_pulse_no_wait(reading: dict[str, object], alarms: bool) -> None:
    side = infusing()

    events = side.hold(10, **reading)  # type: ignore[arg-type]

    raised = [t for t in transitions(events, "no_pulse") if t.reason == "raised"]
    assert bool(raised) is alarms
    if alarms:
        assert raised[0].priority == "high"
        assert raised[0].text == "Check patient: no HR and no SpO2"
        assert raised[0].ts - (side.now - 10) <= 10


# Rule 5: recovered means safe, not just close ------------------------------------------------


def _cuffs(side: Bedside, n: int, *, bp: tuple[float, float], hr: float, spo2: float) -> None:
    for _ in range(n):
        side.hold(60, hr=hr, spo2=spo2)
        side.read(hr=hr, spo2=spo2, bp=bp)
        side.wait(200)


@pytest.mark.parametrize(
    ("baseline", "after", "recovered"),
    [
        ({"bp": (120, 80), "spo2": 98}, {"bp": (120, 80), "hr": 70, "spo2": 79}, False),
        ({"bp": (105, 65)}, {"bp": (87, 60), "hr": 70, "spo2": 98}, False),  # sbp_low active
        ({"bp": (170, 100)}, {"bp": (200, 118), "hr": 70, "spo2": 98}, False),  # sbp_high
        ({"bp": (120, 80), "hr": 70}, {"bp": (120, 80), "hr": 95, "spo2": 98}, False),
        ({"bp": (120, 80), "spo2": 93}, {"bp": (118, 80), "hr": 70, "spo2": 91}, True),
        ({"bp": (120, 80)}, {"bp": (130, 84), "hr": 72, "spo2": 96}, True),
    ],
)
def test_rule_05_recovered_means_safe_not_just_close(
    baseline: dict[str, object], after: dict[str, object], recovered: bool
) -> None:
    side = recovering(**baseline)  # type: ignore[arg-type]

    _cuffs(side, 3, **after)  # type: ignore[arg-type]

    statuses = {u.status for u in of_type(side.log, RecoveryUpdate)}
    assert ("recovered" in statuses) is recovered
    if not recovered:
        assert of_type(side.log, RecoveryUpdate)[-1].reason


def test_rule_05_without_a_baseline_recovery_cannot_be_assessed() -> None:
    side = recovering(cuff_readings=1)

    _cuffs(side, 3, bp=(120, 80), hr=70, spo2=98)

    [*_, last] = of_type(side.log, RecoveryUpdate)
    assert last.status == "cannot_assess"
    assert last.reason is not None
    assert "1 of 2 baseline cuff" in last.reason
    assert "recovery_overdue" not in side.alarms


def test_rule_05_the_window_starts_when_delivery_ended() -> None:
    side = infusing()
    side.wait(1800)
    side.pause()
    paused_at = side.now
    side.wait(600)

    side.stop()

    [update] = of_type(side.log, RecoveryUpdate)
    assert update.infusion_stopped_at == paused_at
    side.wait(600)
    assert "recovery_overdue" in kinds_raised(side.tick())


def test_rule_05_two_retry_cuffs_40_s_apart_do_not_close_the_check() -> None:
    side = recovering()
    side.hold(5, hr=70, spo2=98)
    side.read(hr=70, spo2=98, bp=(120, 80))
    side.wait(40)
    side.read(hr=70, spo2=98, bp=(121, 80))

    assert of_type(side.log, RecoveryUpdate)[-1].status == "watching"
    side.wait(150)
    side.read(hr=70, spo2=98, bp=(120, 81))
    assert of_type(side.log, RecoveryUpdate)[-1].status == "recovered"


@pytest.mark.parametrize("make", [recovering, lambda: recovering(cuff_readings=1)])
def test_rule_05_discharge_before_recovery_is_confirmed_is_an_outcome(
    make: Callable[[], Bedside],
) -> None:
    side = make()
    side.wait(300)

    events = side.send(Discharge(side.now, by="nurse-kim"))

    [closed] = of_type(events, SessionClosed)
    assert (closed.outcome, closed.by) == ("discharged_unconfirmed", "nurse-kim")
    [update] = of_type(events, RecoveryUpdate)
    assert (update.status, update.discharged_by) == ("discharged_unconfirmed", "nurse-kim")


# Rule 6: limits have sane ranges -------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "value", "shown"),
    [
        ("sbp_low", 9, "sbp_low 9 is outside its clinical range 60-120 mmHg"),
        ("spo2_critical", 8.5, "70-92"),
        ("spo2_delay_s", 1500, "spo2_delay_s 1500 is outside its clinical range 0-30 s"),
        ("sbp_high", 1800, "140-240"),
        ("hr_low", 5, "30-60"),
    ],
)
def test_rule_06_limits_have_sane_ranges(limit: str, value: float, shown: str) -> None:
    with pytest.raises(LimitsError, match=shown):
        Limits().with_overrides({limit: value})
    side = Bedside()

    [rejected] = of_type(side.admit(limits={limit: value}), CommandRejected)

    assert shown in rejected.reason
    assert side.chair.session is None


def test_rule_06_a_patients_overrides_end_with_the_discharge() -> None:
    side = Bedside()
    side.admit(limits={"sbp_high": 200})
    side.discharge()

    assert side.chair.limits.sbp_high == 180
    assert "sbp_high" in kinds_raised(side.read(bp=(190, 100)))


# Rule 7: an empty chair's problems follow the patient ----------------------------------------


def test_rule_07_an_empty_chairs_problems_follow_the_patient() -> None:
    side = Bedside()
    side.read(hr=70)
    side.device(online=False)
    assert side.alarm("monitor_offline").priority.value == "low"

    side.wait(600)
    side.admit()

    alarm = side.alarm("monitor_offline")
    assert (alarm.priority.value, alarm.state) == ("medium", AlarmState.ACTIVE)
    assert side.chair.audible


def test_rule_07_a_low_priority_alarm_never_suppresses_another() -> None:
    side = admitted(cuff_readings=1)
    side.start()  # baseline_incomplete, low
    _step_back(3600)(side)
    side.read(hr=72, spo2=97)  # clock_step, low
    assert {a.priority.value for a in side.alarms.values()} == {"low"}

    assert "spo2_stale" in kinds_raised(side.hold(70, hr=72))
    events = side.hold(3, spo2=80)

    assert "spo2_critical" in kinds_raised(events)
    assert side.chair.audible


# Rule 8: late readings are history, not news -------------------------------------------------


@pytest.mark.parametrize(
    ("current", "late", "kind"),
    [
        ({"spo2": 86}, {"spo2": 97}, "spo2_low"),
        ({"hr": 130}, {"hr": 80}, "hr_high"),
        ({"bp": (190, 100)}, {"bp": (120, 80)}, "sbp_high"),
    ],
)
def test_rule_08_late_readings_are_history_not_news(
    current: dict[str, object], late: dict[str, object], kind: str
) -> None:
    side = infusing()
    side.hold(20, **current)  # type: ignore[arg-type]
    assert side.alarm(kind).state is AlarmState.ACTIVE
    side.now -= 60  # a reading stamped a minute before the newest arrives now

    events = side.read(**late)  # type: ignore[arg-type]

    assert not transitions(events, kind)
    assert side.alarm(kind).state is AlarmState.ACTIVE


# Rule 9: delays measure persistence, not luck ------------------------------------------------


def test_rule_09_delays_measure_persistence_not_luck() -> None:
    side = infusing()
    noisy = [88, 90, 87, 90.5, 89, 90, 88, 90.9, 86, 90, 88, 89, 90, 87, 88, 89]
    raised_after = None

    for second, spo2 in enumerate(noisy):
        if "spo2_low" in kinds_raised(side.read(spo2=spo2)):
            raised_after = second
        side.wait(1)

    assert raised_after == 15


@pytest.mark.parametrize(("gap", "raised"), [(10, True), (20, False)])
def test_rule_09_a_data_gap_longer_than_the_delay_starts_the_wait_again(
    gap: int, raised: bool
) -> None:
    side = infusing()
    side.hold(8, spo2=87)
    side.wait(1)
    side.hold(gap - 1, spo2=0, hr=72)  # the oximeter reads nothing valid for `gap` seconds
    side.wait(1)

    events = side.hold(6, spo2=87)

    assert ("spo2_low" in kinds_raised(events)) is raised


def test_rule_09_samples_that_come_seldom_are_not_a_gap() -> None:
    side = infusing()
    events = []
    for _ in range(3):
        events += side.read(spo2=86)  # a gateway forwarding one value a minute
        side.wait(60)

    assert "spo2_low" in kinds_raised(events)


# Rule 10: baseline must be trustworthy -------------------------------------------------------


def test_rule_10_two_conflicting_cuffs_ask_for_a_third() -> None:
    side = Bedside()
    side.admit()
    side.read(bp=(150, 90))
    side.wait(300)
    side.read(bp=(118, 78))
    assert "take a third" in side.alarm("baseline_incomplete").text

    side.wait(300)
    side.read(bp=(122, 80))
    assert "baseline_incomplete" not in side.alarms
    base = side.chair.state.session.samples  # type: ignore[union-attr]
    assert len(base.nibp) == 3


@pytest.mark.parametrize("cuffs", [0, 1])
def test_rule_10_a_start_with_too_few_cuffs_says_so(cuffs: int) -> None:
    side = admitted(cuff_readings=cuffs)

    side.start()

    alarm = side.alarm("baseline_incomplete")
    assert alarm.priority.value == "low"
    assert alarm.text.startswith("Baseline incomplete: relative alarms and recovery off")


# Rule 11: discharge acknowledges -------------------------------------------------------------


def test_rule_11_discharge_needs_an_unacknowledged_high_alarm_acknowledged_first() -> None:
    side = recovering()
    side.read(bp=(190, 100))

    [rejected] = of_type(side.send(Discharge(side.now, by="nurse-kim")), CommandRejected)

    assert "sbp_high" in rejected.reason
    assert side.chair.session is not None
    assert side.chair.session.phase.open
    side.ack("sbp_high")
    assert of_type(side.send(Discharge(side.now, by="nurse-kim")), SessionClosed)


def test_rule_11_acknowledging_an_alarm_acknowledges_those_shown_under_it() -> None:
    side = recovering()
    side.hold(16, spo2=88)
    side.read(spo2=80)
    side.read(bp=(190, 120))

    side.ack("spo2_critical")
    side.ack("sbp_high")

    assert side.alarm("spo2_low").state is AlarmState.ACKNOWLEDGED
    assert side.alarm("sbp_rise").state is AlarmState.ACKNOWLEDGED
    assert side.alarm("dbp_high").state is AlarmState.ACTIVE  # not under anything: its own
    side.ack("dbp_high")
    assert of_type(side.discharge(), SessionClosed)


def test_rule_11_discharging_over_an_alarm_needs_a_name() -> None:
    side = recovering()
    side.read(bp=(190, 100))

    [rejected] = of_type(side.discharge(by=None, over_alarms=True), CommandRejected)

    assert "by naming who" in rejected.reason


def test_rule_03_a_latched_alarm_is_never_left_hidden_under_another() -> None:
    side = infusing()
    side.hold(16, spo2=88)
    side.read(spo2=80)  # spo2_critical: spo2_low shown under it
    assert side.alarm("spo2_low").suppressed_by is AlarmKind.SPO2_CRITICAL
    side.wait(1)

    side.hold(5, spo2=97)  # both end; both latch

    assert side.alarm("spo2_low").state is AlarmState.LATCHED
    assert side.alarm("spo2_low").suppressed_by is None


def test_rule_11_or_is_recorded_as_discharged_over_it_by_whom() -> None:
    side = recovering()
    side.read(bp=(190, 100))

    events = side.send(Discharge(side.now, by="nurse-kim", over_alarms=True))

    [over] = [t for t in transitions(events, "sbp_high") if t.reason == "discharged_over"]
    assert (over.state, over.acknowledged_by) == ("cleared", "nurse-kim")
    [closed] = of_type(events, SessionClosed)
    assert closed.over_alarms == ("sbp_high",)


# Alarm burden --------------------------------------------------------------------------------


def test_a_relative_alarm_adds_nothing_under_its_absolute_alarm() -> None:
    side = infusing()

    side.read(bp=(183, 119))

    shown = {k.value for k, a in side.alarms.items() if a.suppressed_by is None}
    assert shown == {"sbp_high", "dbp_high"}
    assert side.alarm("sbp_rise").suppressed_by is AlarmKind.SBP_HIGH
    side.ack("sbp_high")
    side.ack("dbp_high")
    assert not side.chair.audible
    side.wait(300)

    side.read(bp=(170, 108))  # absolutes over; the rise over baseline 120/80 remains

    assert side.alarm("sbp_rise").suppressed_by is None
    assert side.chair.audible
