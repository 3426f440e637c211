"""Physiological alarm rules: which value, which limit, which priority, which delay.

How this works: `RULES` is the table of limit alarms from CLINICAL.md. `evaluate` checks one valid
value against one rule and says whether the alarm condition is present, absent, or inside the
hysteresis band of a condition that is ongoing or waiting out its delay (then nothing changes:
safety rule 9). Relative rules (`sbp_rise`, `dbp_rise`) compare with the patient's frozen baseline
and apply only once it exists. SpO2 has two alarms: `spo2_low` below `spo2_low` for
`spo2_delay_s`, and its own `spo2_critical` below `spo2_critical` at once, so acknowledging a
88 % never silences a fall to 65 % (rule 3). Each rule names the step past an acknowledged value
that makes its alarm sound again (`worse`), and the relative rules name the absolute alarm that
makes them add nothing (`shown_under`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority, Finding
from monitor.domain.baseline import Baseline
from monitor.domain.limits import Limit, Limits
from monitor.domain.vitals import LABELS, UNITS, Vital


class Direction(StrEnum):
    ABOVE = ">"
    BELOW = "<"


class Verdict(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    HOLDING = "holding"  # inside the hysteresis band of an ongoing alarm: no change


@dataclass(frozen=True, slots=True)
class Rule:
    kind: AlarmKind
    vital: Vital
    direction: Direction
    priority: AlarmPriority
    limit: Limit  # the limit, or for relative rules the rise over baseline
    hysteresis: Limit
    worse: Limit
    delay: Limit | None = None
    relative: bool = False
    shown_under: AlarmKind | None = None


RULES: tuple[Rule, ...] = (
    Rule(AlarmKind.SBP_HIGH, Vital.SBP, Direction.ABOVE, AlarmPriority.HIGH, Limit.SBP_HIGH,
         Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG),
    Rule(AlarmKind.SBP_LOW, Vital.SBP, Direction.BELOW, AlarmPriority.HIGH, Limit.SBP_LOW,
         Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG),
    Rule(AlarmKind.DBP_HIGH, Vital.DBP, Direction.ABOVE, AlarmPriority.HIGH, Limit.DBP_HIGH,
         Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG),
    Rule(AlarmKind.SBP_RISE, Vital.SBP, Direction.ABOVE, AlarmPriority.MEDIUM, Limit.SBP_RISE,
         Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG,
         relative=True, shown_under=AlarmKind.SBP_HIGH),
    Rule(AlarmKind.DBP_RISE, Vital.DBP, Direction.ABOVE, AlarmPriority.MEDIUM, Limit.DBP_RISE,
         Limit.BP_HYSTERESIS_MMHG, Limit.BP_WORSE_MMHG,
         relative=True, shown_under=AlarmKind.DBP_HIGH),
    Rule(AlarmKind.HR_HIGH, Vital.HR, Direction.ABOVE, AlarmPriority.MEDIUM, Limit.HR_HIGH,
         Limit.HR_HYSTERESIS_PER_MIN, Limit.HR_WORSE_PER_MIN, delay=Limit.HR_DELAY_S),
    Rule(AlarmKind.HR_LOW, Vital.HR, Direction.BELOW, AlarmPriority.HIGH, Limit.HR_LOW,
         Limit.HR_HYSTERESIS_PER_MIN, Limit.HR_WORSE_PER_MIN, delay=Limit.HR_DELAY_S),
    Rule(AlarmKind.SPO2_LOW, Vital.SPO2, Direction.BELOW, AlarmPriority.HIGH, Limit.SPO2_LOW,
         Limit.SPO2_HYSTERESIS_PCT, Limit.SPO2_WORSE_PCT, delay=Limit.SPO2_DELAY_S,
         shown_under=AlarmKind.SPO2_CRITICAL),
    Rule(AlarmKind.SPO2_CRITICAL, Vital.SPO2, Direction.BELOW, AlarmPriority.HIGH,
         Limit.SPO2_CRITICAL, Limit.SPO2_HYSTERESIS_PCT, Limit.SPO2_WORSE_PCT),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    finding: Finding | None = None
    delay_s: float = 0.0


def evaluate(
    rule: Rule,
    value: float,
    *,
    limits: Limits,
    baseline: Baseline | None,
    ongoing: bool,
    note: str | None = None,
) -> Evaluation | None:
    """Check `value` against `rule`; None when the rule cannot apply (no baseline yet).

    `ongoing`: the condition is ongoing or waiting out its delay, so the hysteresis band holds it.
    `note`: what the alarm's note says about the value (a doubt, a motion artefact).
    """
    limit = _limit(rule, limits, baseline)
    if limit is None:
        return None
    if _beyond(rule.direction, value, limit):
        return _present(rule, value, limit, limits, baseline, note)
    margin = limits.value(rule.hysteresis)
    band_edge = limit - margin if rule.direction is Direction.ABOVE else limit + margin
    if ongoing and _beyond(rule.direction, value, band_edge):
        return Evaluation(Verdict.HOLDING)
    return Evaluation(Verdict.ABSENT)


def _limit(rule: Rule, limits: Limits, baseline: Baseline | None) -> float | None:
    setting = limits.value(rule.limit)
    if not rule.relative:
        return setting
    base = baseline.value(rule.vital) if baseline else None
    return None if base is None else base + setting


def _beyond(direction: Direction, value: float, limit: float) -> bool:
    return value > limit if direction is Direction.ABOVE else value < limit


def _present(
    rule: Rule,
    value: float,
    limit: float,
    limits: Limits,
    baseline: Baseline | None,
    note: str | None,
) -> Evaluation:
    delay = limits.value(rule.delay) if rule.delay is not None else 0.0
    label, unit = LABELS[rule.vital], UNITS[rule.vital]
    text = f"{label} {value:g} {rule.direction.value} {limit:g} {unit}"
    if rule.relative and baseline is not None:
        base = baseline.value(rule.vital) or 0.0
        text += f" (baseline {base:g} + {limits.value(rule.limit):g})"
    finding = Finding(
        kind=rule.kind,
        alarm_class=AlarmClass.PHYSIOLOGICAL,
        priority=rule.priority,
        value=value,
        limit=limit,
        text=text,
        latching=rule.priority is AlarmPriority.HIGH,
        note=note,
        worse_sign=1 if rule.direction is Direction.ABOVE else -1,
        worse_step=limits.value(rule.worse),
    )
    return Evaluation(Verdict.PRESENT, finding, delay)


def preinfusion_finding(
    sbp: float, dbp: float, limits: Limits, *, note: str | None = None
) -> Finding | None:
    """The pre-infusion BP check on one cuff reading: a warning, a do-not-start, or nothing."""
    if sbp >= limits.preinfusion_sbp_stop or dbp >= limits.preinfusion_dbp_stop:
        priority, advice = AlarmPriority.HIGH, "advise not to start"
        sbp_limit, dbp_limit = limits.preinfusion_sbp_stop, limits.preinfusion_dbp_stop
    elif sbp >= limits.preinfusion_sbp_warn or dbp >= limits.preinfusion_dbp_warn:
        priority, advice = AlarmPriority.MEDIUM, "review before starting"
        sbp_limit, dbp_limit = limits.preinfusion_sbp_warn, limits.preinfusion_dbp_warn
    else:
        return None
    return Finding(
        kind=AlarmKind.PREINFUSION_BP_HIGH,
        alarm_class=AlarmClass.PHYSIOLOGICAL,
        priority=priority,
        value=sbp,
        limit=sbp_limit,
        text=f"Pre-infusion BP {sbp:g}/{dbp:g} >= {sbp_limit:g}/{dbp_limit:g} mmHg: {advice}",
        latching=priority is AlarmPriority.HIGH,
        note=note,
    )
