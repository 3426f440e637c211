"""Physiological alarm rules, driven through a chair: limits, delays, hysteresis, baseline."""

from __future__ import annotations

import pytest
from builders import Bedside, admitted, infusing, kinds_raised, transitions

from monitor.domain.alarms import AlarmKind, AlarmPriority, AlarmState
from monitor.domain.baseline import Baseline
from monitor.domain.limits import DEFAULT_LIMITS, RANGES, Limit
from monitor.domain.rules import RULES, Rule, Verdict, evaluate, preinfusion_finding
from monitor.domain.vitals import Reading, Vital

RULE = {rule.kind: rule for rule in RULES}


# Cuff limits: no delay, strict limits ------------------------------------------------------


@pytest.mark.parametrize(
    ("bp", "kind", "text"),
    [
        ((181, 90), "sbp_high", "SBP 181 > 180 mmHg"),
        ((186, 95), "sbp_high", "SBP 186 > 180 mmHg"),
        ((150, 111), "dbp_high", "DBP 111 > 110 mmHg"),
        ((89, 60), "sbp_low", "SBP 89 < 90 mmHg"),
        ((70, 40), "sbp_low", "SBP 70 < 90 mmHg"),
    ],
)
def test_one_cuff_reading_past_a_limit_alarms_at_once(
    bp: tuple[float, float], kind: str, text: str
) -> None:
    side = infusing()

    events = side.read(bp=bp)

    [raised] = transitions(events, kind)
    assert (raised.state, raised.priority, raised.alarm_class) == (
        "active",
        "high",
        "physiological",
    )
    assert raised.text == text
    assert raised.value in bp
    assert raised.limit == {"sbp_high": 180, "dbp_high": 110, "sbp_low": 90}[kind]
    assert raised.session == side.chair.session_ref


@pytest.mark.parametrize(
    ("bp", "kind"),
    [
        ((180, 90), "sbp_high"),
        ((150, 110), "dbp_high"),
        ((90, 60), "sbp_low"),
    ],
)
def test_a_cuff_reading_at_the_limit_does_not_alarm(bp: tuple[float, float], kind: str) -> None:
    side = infusing()

    events = side.read(bp=bp)

    assert transitions(events, kind) == []
    assert AlarmKind(kind) not in side.alarms


def test_absolute_cuff_limits_apply_before_admission_and_in_the_baseline_phase() -> None:
    empty = Bedside()
    waiting = admitted()

    assert "sbp_high" in kinds_raised(empty.read(bp=(190, 100)))
    assert "sbp_high" in kinds_raised(waiting.read(bp=(190, 100)))


def test_alarm_text_shows_value_and_limit() -> None:
    side = infusing()

    [raised] = transitions(side.read(bp=(186, 100)), "sbp_high")

    assert "SBP 186 > 180" in raised.text
    assert (raised.value, raised.limit) == (186, 180)


def test_a_patient_override_moves_the_limit() -> None:
    side = Bedside()
    side.admit(limits={"sbp_high": 160})
    side.read(bp=(120, 80))
    side.wait(300)

    [raised] = transitions(side.read(bp=(161, 90)), "sbp_high")

    assert raised.text == "SBP 161 > 160 mmHg"
    assert raised.limit == 160


# Rises over the frozen baseline -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bp", "kind", "text"),
    [
        ((161, 85), "sbp_rise", "SBP 161 > 160 mmHg (baseline 120 + 40)"),
        ((150, 106), "dbp_rise", "DBP 106 > 105 mmHg (baseline 80 + 25)"),
    ],
)
def test_a_rise_over_baseline_alarms_once_the_infusion_started(
    bp: tuple[float, float], kind: str, text: str
) -> None:
    side = infusing(bp=(120, 80))

    [raised] = transitions(side.read(bp=bp), kind)

    assert (raised.state, raised.priority) == ("active", "medium")
    assert raised.text == text


@pytest.mark.parametrize("bp", [(160, 85), (150, 105)])
def test_a_rise_up_to_the_limit_does_not_alarm(bp: tuple[float, float]) -> None:
    side = infusing(bp=(120, 80))

    assert kinds_raised(side.read(bp=bp)) & {"sbp_rise", "dbp_rise"} == set()


def test_no_rise_alarm_in_the_baseline_phase() -> None:
    side = admitted(bp=(120, 80))

    events = side.read(bp=(170, 108))

    assert kinds_raised(events) & {"sbp_rise", "dbp_rise"} == set()


def test_no_rise_alarm_against_an_entered_baseline_before_the_start() -> None:
    side = Bedside()
    side.admit(baseline={Vital.SBP: 100.0, Vital.DBP: 60.0})

    before = side.read(bp=(150, 90))
    side.wait(60)
    side.start()
    side.wait(60)
    after = side.read(bp=(150, 90))

    assert kinds_raised(before) & {"sbp_rise", "dbp_rise"} == set()
    assert kinds_raised(after) >= {"sbp_rise", "dbp_rise"}


def test_no_rise_alarm_without_a_bp_baseline() -> None:
    side = infusing(cuff_readings=1)

    assert kinds_raised(side.read(bp=(175, 108))) & {"sbp_rise", "dbp_rise"} == set()


def test_rises_are_measured_from_the_baseline_frozen_at_the_start() -> None:
    side = infusing(bp=(120, 80))
    for _ in range(4):  # a creeping rise that would move a running baseline
        side.wait(300)
        side.read(bp=(158, 100))

    side.wait(300)
    events = side.read(bp=(161, 100))

    [raised] = transitions(events, "sbp_rise")
    assert raised.limit == 160


def test_rise_alarms_keep_applying_during_pause_and_recovery() -> None:
    side = infusing(bp=(120, 80))
    side.wait(60)
    side.pause()
    side.wait(60)
    paused = side.read(bp=(165, 85))
    side.wait(60)
    side.stop()
    side.wait(60)
    side.read(bp=(120, 80))  # ends it
    side.wait(300)
    recovering = side.read(bp=(165, 85))

    assert "sbp_rise" in kinds_raised(paused)
    assert "sbp_rise" in kinds_raised(recovering)


# Continuous vitals: the condition must persist for its delay ---------------------------------


@pytest.mark.parametrize(
    ("vitals", "kind", "priority", "delay_s"),
    [
        ({"hr": 125}, "hr_high", "medium", 10),
        ({"hr": 40}, "hr_low", "high", 10),
        ({"spo2": 88}, "spo2_low", "high", 15),
    ],
)
def test_a_continuous_vital_alarms_only_after_its_delay(
    vitals: dict[str, float], kind: str, priority: str, delay_s: int
) -> None:
    side = infusing()

    early = side.hold(delay_s - 1, **vitals)
    side.wait(1)
    on_time = side.read(**vitals)

    assert transitions(early, kind) == []
    [raised] = transitions(on_time, kind)
    assert (raised.state, raised.priority) == ("active", priority)
    assert raised.raised_at == side.now


@pytest.mark.parametrize(
    ("vitals", "kind"),
    [({"hr": 120}, "hr_high"), ({"hr": 45}, "hr_low"), ({"spo2": 90}, "spo2_low")],
)
def test_a_continuous_vital_at_its_limit_never_alarms(vitals: dict[str, float], kind: str) -> None:
    side = infusing()

    assert transitions(side.hold(50, **vitals), kind) == []


def test_spo2_below_the_critical_limit_alarms_at_once_as_its_own_alarm() -> None:
    side = infusing()

    [raised] = transitions(side.read(spo2=84), "spo2_critical")

    assert (raised.state, raised.priority) == ("active", "high")
    assert raised.limit == 85
    assert raised.text == "SpO2 84 < 85 %"


def test_spo2_at_the_critical_limit_waits_the_delay() -> None:
    side = infusing()

    assert transitions(side.hold(14, spo2=85), "spo2_low") == []
    side.wait(1)
    [raised] = transitions(side.read(spo2=85), "spo2_low")
    assert raised.limit == 90


def test_a_drop_to_critical_during_the_delay_alarms_at_once() -> None:
    side = infusing()
    side.hold(5, spo2=88)
    side.wait(1)

    [raised] = transitions(side.read(spo2=83), "spo2_critical")

    assert raised.value == 83


def test_a_continuous_delay_follows_event_time_not_wall_time() -> None:
    """A burst of readings delivered at one wall instant still needs 10 s of event time."""
    side = infusing()
    wall = side.wall
    events = []
    for second in range(10):
        events += side.chair.handle(_hr_reading(side.now + second, 125), wall=wall)
    late = side.chair.handle(_hr_reading(side.now + 10, 125), wall=wall)

    assert transitions(events, "hr_high") == []
    assert [t.state for t in transitions(late, "hr_high")] == ["active"]


def _hr_reading(ts: float, hr: float) -> Reading:
    return Reading(ts=ts, seq=int(ts), hr=hr)


# Hysteresis ---------------------------------------------------------------------------------


def test_sbp_high_holds_inside_its_band_and_ends_past_it() -> None:
    side = infusing()
    side.read(bp=(186, 100))
    side.wait(300)

    holding = side.read(bp=(178, 95))
    held_alarm = side.alarm("sbp_high")
    side.wait(300)
    ending = side.read(bp=(174, 95))

    assert transitions(holding, "sbp_high") == []
    assert held_alarm.state is AlarmState.ACTIVE
    [ended] = transitions(ending, "sbp_high")
    assert (ended.state, ended.previous_state) == ("latched", "active")  # high: it latches


def test_sbp_low_holds_inside_its_band_and_ends_past_it() -> None:
    side = infusing()
    side.read(bp=(85, 55))
    side.wait(300)

    holding = side.read(bp=(93, 60))
    side.wait(300)
    ending = side.read(bp=(96, 60))

    assert transitions(holding, "sbp_low") == []
    assert [t.state for t in transitions(ending, "sbp_low")] == ["latched"]


def test_hr_hovering_at_its_limit_alarms_after_its_delay() -> None:
    """Rule 9: a sample inside the hysteresis band does not reset the delay."""
    side = infusing()
    events = []
    for second in range(20):
        events += side.read(hr=121 if second % 2 == 0 else 119)
        side.wait(1)

    [raised] = transitions(events, "hr_high")
    assert raised.raised_at == side.now - 20 + 10


def test_hr_dipping_clearly_below_its_band_starts_the_delay_again() -> None:
    side = infusing()
    events = []
    for second in range(40):
        events += side.read(hr=121 if second % 5 else 110)
        side.wait(1)

    assert transitions(events, "hr_high") == []


@pytest.mark.parametrize("holding_hr", [120, 119, 118, 117, 116])
def test_hr_high_holds_until_hr_is_back_past_its_band(holding_hr: float) -> None:
    side = infusing()
    side.hold(10, hr=130)
    assert side.alarm("hr_high").state is AlarmState.ACTIVE

    side.wait(1)
    holding = side.hold(30, hr=holding_hr)
    side.wait(1)
    ending = side.read(hr=114)

    assert transitions(holding, "hr_high") == []
    [ended] = transitions(ending, "hr_high")
    assert (ended.state, ended.previous_state) == ("cleared", "active")  # medium: no latch
    assert AlarmKind.HR_HIGH not in side.alarms


def test_hr_low_latches_when_it_ends() -> None:
    side = infusing()
    side.hold(10, hr=40)
    side.wait(1)

    holding = side.hold(10, hr=48)
    side.wait(1)
    ending = side.read(hr=51)

    assert transitions(holding, "hr_low") == []
    assert [t.state for t in transitions(ending, "hr_low")] == ["latched"]


def test_spo2_low_holds_inside_its_band() -> None:
    side = infusing()
    side.hold(16, spo2=88)
    side.wait(1)

    holding = side.hold(20, spo2=90)
    side.wait(1)
    ending = side.read(spo2=92)

    assert transitions(holding, "spo2_low") == []
    assert [t.state for t in transitions(ending, "spo2_low")] == ["latched"]


def test_without_an_ongoing_alarm_there_is_no_band() -> None:
    side = infusing()
    side.read(bp=(186, 100))
    side.wait(60)
    side.read(bp=(170, 95))  # latched now
    side.wait(60)

    events = side.read(bp=(178, 95))

    assert transitions(events, "sbp_high") == []
    assert side.alarm("sbp_high").state is AlarmState.LATCHED


@pytest.mark.parametrize(
    ("value", "ongoing", "verdict"),
    [
        (181, False, Verdict.PRESENT),
        (181, True, Verdict.PRESENT),
        (180, False, Verdict.ABSENT),
        (180, True, Verdict.HOLDING),
        (176, True, Verdict.HOLDING),
        (175, True, Verdict.ABSENT),
        (120, True, Verdict.ABSENT),
    ],
)
def test_evaluate_sbp_high(value: float, ongoing: bool, verdict: Verdict) -> None:
    evaluation = evaluate(
        RULE[AlarmKind.SBP_HIGH], value, limits=DEFAULT_LIMITS, baseline=None, ongoing=ongoing
    )

    assert evaluation is not None
    assert evaluation.verdict is verdict
    assert (evaluation.finding is not None) == (verdict is Verdict.PRESENT)


@pytest.mark.parametrize("baseline", [None, Baseline(hr=70, spo2=98)])
def test_evaluate_a_relative_rule_without_a_bp_baseline_cannot_apply(
    baseline: Baseline | None,
) -> None:
    evaluation = evaluate(
        RULE[AlarmKind.SBP_RISE], 250, limits=DEFAULT_LIMITS, baseline=baseline, ongoing=False
    )

    assert evaluation is None


@pytest.mark.parametrize(
    ("kind", "value", "delay_s", "limit"),
    [
        (AlarmKind.HR_HIGH, 121, 10, 120),
        (AlarmKind.HR_LOW, 44, 10, 45),
        (AlarmKind.SPO2_LOW, 89, 15, 90),
        (AlarmKind.SPO2_LOW, 84, 15, 90),
        (AlarmKind.SPO2_CRITICAL, 84, 0, 85),
        (AlarmKind.SBP_HIGH, 181, 0, 180),
        (AlarmKind.DBP_HIGH, 111, 0, 110),
    ],
)
def test_evaluate_gives_the_delay_and_limit(
    kind: AlarmKind, value: float, delay_s: float, limit: float
) -> None:
    evaluation = evaluate(RULE[kind], value, limits=DEFAULT_LIMITS, baseline=None, ongoing=False)

    assert evaluation is not None
    assert evaluation.finding is not None
    assert (evaluation.delay_s, evaluation.finding.limit) == (delay_s, limit)
    assert evaluation.finding.latching is (evaluation.finding.priority is AlarmPriority.HIGH)


# The table names its limits -------------------------------------------------------------------

# The hysteresis band and the worse-is-new step of each vital's alarms, and its delay (if any).
MARGINS: dict[Vital, tuple[Limit, Limit, Limit | None]] = {
    Vital.SBP: (Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG, None),
    Vital.DBP: (Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG, None),
    Vital.HR: (Limit.HR_HYSTERESIS_PER_MIN, Limit.HR_WORSE_PER_MIN, Limit.HR_DELAY_S),
    Vital.SPO2: (Limit.SPO2_HYSTERESIS_PCT, Limit.SPO2_WORSE_PCT, Limit.SPO2_DELAY_S),
}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.kind.value)
def test_each_rule_s_limit_has_its_alarm_s_name(rule: Rule) -> None:
    assert rule.limit == Limit(rule.kind.value)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.kind.value)
def test_each_rule_takes_its_band_step_and_delay_from_its_own_vital(rule: Rule) -> None:
    hysteresis, worse, delay = MARGINS[rule.vital]

    assert (rule.hysteresis, rule.worse) == (hysteresis, worse)
    assert rule.delay in (None, delay)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.kind.value)
def test_a_rule_follows_a_patient_s_step_and_delay(rule: Rule) -> None:
    step = RANGES[rule.worse][1]  # the largest step a clinic may set, never the default
    overrides = {rule.worse.value: step, **({rule.delay.value: 7.0} if rule.delay else {})}
    limits = DEFAULT_LIMITS.with_overrides(overrides)
    far = 400.0 if rule.direction.value == ">" else 1.0
    baseline = Baseline(sbp=120, dbp=80, hr=70, spo2=98)

    evaluation = evaluate(rule, far, limits=limits, baseline=baseline, ongoing=False)

    assert evaluation is not None
    assert evaluation.finding is not None
    assert evaluation.finding.worse_step == step != DEFAULT_LIMITS.value(rule.worse)
    assert evaluation.delay_s == (7.0 if rule.delay else 0.0)


# Pre-infusion BP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bp", "priority"),
    [
        ((139, 89), None),
        ((140, 80), "medium"),
        ((130, 90), "medium"),
        ((179, 109), "medium"),
        ((180, 100), "high"),
        ((160, 110), "high"),
        ((200, 120), "high"),
    ],
)
def test_preinfusion_bp_in_the_baseline_phase(
    bp: tuple[float, float], priority: str | None
) -> None:
    side = Bedside()
    side.admit()

    raised = transitions(side.read(bp=bp), "preinfusion_bp_high")

    assert [t.priority for t in raised] == ([priority] if priority else [])
    if raised:
        assert f"{bp[0]:g}/{bp[1]:g}" in raised[0].text
        assert raised[0].state == "active"


@pytest.mark.parametrize(
    ("bp", "advice"),
    [((150, 85), "review before starting"), ((185, 100), "advise not to start")],
)
def test_preinfusion_finding_text(bp: tuple[float, float], advice: str) -> None:
    finding = preinfusion_finding(*bp, DEFAULT_LIMITS)

    assert finding is not None
    assert advice in finding.text


def test_no_preinfusion_alarm_outside_the_baseline_phase() -> None:
    empty = Bedside()
    running = infusing()
    stopped = infusing()
    stopped.wait(600)
    stopped.stop()

    for side in (empty, running, stopped):
        side.wait(60)
        assert transitions(side.read(bp=(150, 95)), "preinfusion_bp_high") == []


def test_a_preinfusion_warning_ends_when_the_bp_settles_or_the_infusion_starts() -> None:
    settles = Bedside()
    settles.admit()
    settles.read(bp=(150, 95))
    settles.wait(300)
    [settled] = transitions(settles.read(bp=(130, 85)), "preinfusion_bp_high")

    starts = Bedside()
    starts.admit()
    starts.read(bp=(150, 95))
    starts.wait(300)
    starts.read(bp=(150, 95))
    starts.wait(60)
    [started] = transitions(starts.start(), "preinfusion_bp_high")

    assert settled.state == "cleared"
    assert started.state == "cleared"


def test_an_acknowledged_preinfusion_warning_sounds_again_at_the_stop_level() -> None:
    side = Bedside()
    side.admit()
    side.read(bp=(150, 95))
    side.ack("preinfusion_bp_high")
    side.wait(300)

    [risen] = transitions(side.read(bp=(185, 100)), "preinfusion_bp_high")

    assert (risen.state, risen.previous_state, risen.priority) == (
        "active",
        "acknowledged",
        "high",
    )
