"""Technical alarms (about the equipment, not the patient), `no_pulse` and `recovery_overdue`.

- `monitor_offline`: the monitor said offline (usually its Last Will). Medium during a session,
  low for an empty chair; an admission raises it to medium (safety rule 7).
- `hr_stale`, `spo2_stale`, `nibp_stale`: one alarm per vital with no valid value for too long on
  wall time (HR and SpO2 after `continuous_stale_s`, the cuff after `nibp_stale_s`), so one
  acknowledged loss never hides another (rule 3). Not raised while a medium monitor_offline
  already says why; a low-priority alarm never suppresses another (rule 7).
- `spo2_probe_off`, `leads_off`, `nibp_failed`: reported by the device in a reading; each ends
  when the vital it concerns is measured validly again.
- `no_pulse`: HR 0 and SpO2 0 together with no flag from the monitor (rule 4). That is what a
  pulseless patient looks like at the station: high priority within `NO_PULSE_DELAY_S`.
- `clock_step`: the monitor's or the pump's clock stepped; the chair re-anchored (rule 2).
- `baseline_incomplete`: relative alarms and the recovery check are off, and why (rule 10).
"""

from __future__ import annotations

from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority, Finding
from monitor.domain.limits import Limits
from monitor.domain.vitals import LABELS, Screened, TechnicalCondition, Vital


def _technical(
    kind: AlarmKind, priority: AlarmPriority, text: str, **extra: float | None
) -> Finding:
    return Finding(
        kind, AlarmClass.TECHNICAL, priority, extra.get("value"), extra.get("limit"), text
    )


_DEVICE_CONDITIONS: tuple[tuple[AlarmKind, TechnicalCondition, Vital, str], ...] = (
    (AlarmKind.SPO2_PROBE_OFF, TechnicalCondition.SPO2_PROBE_OFF, Vital.SPO2, "SpO2 probe off"),
    (AlarmKind.LEADS_OFF, TechnicalCondition.LEADS_OFF, Vital.HR, "ECG leads off"),
    (AlarmKind.NIBP_FAILED, TechnicalCondition.NIBP_FAILED, Vital.SBP,
     "NIBP measurement failed: repeat the cuff"),
)  # fmt: skip


def device_conditions(screened: Screened) -> list[tuple[AlarmKind, bool, Finding | None]]:
    """Per device condition: (kind, present?, finding); conditions the reading says nothing about
    (neither flagged nor a valid value of the vital) are left out."""
    out: list[tuple[AlarmKind, bool, Finding | None]] = []
    for kind, flag, vital, text in _DEVICE_CONDITIONS:
        if flag.value in screened.technical:
            out.append((kind, True, _technical(kind, AlarmPriority.LOW, _flagged(text, screened))))
        elif kind is AlarmKind.NIBP_FAILED and (impossible := _impossible_cuff(screened)):
            out.append((kind, True, _technical(kind, AlarmPriority.LOW, impossible)))
        elif vital in screened.values:
            out.append((kind, False, None))
    return out


def _flagged(text: str, screened: Screened) -> str:
    """A failed cuff sent with numbers says which numbers it did not trust."""
    cuff = {a.vital: a.value for a in screened.artefacts if a.vital in (Vital.SBP, Vital.DBP)}
    if not text.startswith("NIBP") or not cuff:
        return text
    shown = "/".join(f"{cuff[v]:g}" for v in (Vital.SBP, Vital.DBP) if v in cuff)
    return f"NIBP measurement failed ({shown} not used): repeat the cuff"


def _impossible_cuff(screened: Screened) -> str | None:
    for artefact in screened.artefacts:
        if artefact.vital in (Vital.SBP, Vital.DBP) and artefact.impossible:
            return f"NIBP reading set aside ({artefact.reason}): repeat the cuff"
    return None


def offline_finding(device: str | None, *, in_session: bool) -> Finding:
    priority = AlarmPriority.MEDIUM if in_session else AlarmPriority.LOW
    name = f" {device}" if device else ""
    return _technical(AlarmKind.MONITOR_OFFLINE, priority, f"Monitor{name} offline: no vitals")


# Which stale alarm says a vital's shown value is old (the oximeter's PR goes with HR).
STALE_KIND_OF: dict[Vital, AlarmKind] = {
    Vital.HR: AlarmKind.HR_STALE,
    Vital.PR: AlarmKind.HR_STALE,
    Vital.SPO2: AlarmKind.SPO2_STALE,
    Vital.SBP: AlarmKind.NIBP_STALE,
    Vital.DBP: AlarmKind.NIBP_STALE,
    Vital.MAP: AlarmKind.NIBP_STALE,
}
# The vitals whose silence is watched; SBP stands for the cuff.
STALE_KINDS: dict[Vital, AlarmKind] = {
    v: STALE_KIND_OF[v] for v in (Vital.HR, Vital.SPO2, Vital.SBP)
}
NO_PULSE_DELAY_S = 5.0
# A clock_step alarm shows for this long (chair clock, s) after the last step, then clears.
CLOCK_STEP_SHOWN_S = 300.0


def stale_finding(vital: Vital, silent_s: float, limits: Limits) -> Finding | None:
    """`silent_s`: seconds (wall) since `vital`'s last valid value; None while not stale."""
    limit = limits.nibp_stale_s if vital is Vital.SBP else limits.continuous_stale_s
    if silent_s <= limit:
        return None
    name = "NIBP" if vital is Vital.SBP else LABELS[vital]
    return _technical(
        STALE_KINDS[vital],
        AlarmPriority.MEDIUM,
        f"No valid {name} for {_duration(silent_s)}",
        value=round(silent_s, 1),
        limit=limit,
    )


def no_pulse_finding() -> Finding:
    return Finding(
        AlarmKind.NO_PULSE,
        AlarmClass.PHYSIOLOGICAL,
        AlarmPriority.HIGH,
        0.0,
        None,
        "Check patient: no HR and no SpO2",
        latching=True,
    )


def clock_step_finding(source: str, step_s: float, *, first: bool = False) -> Finding:
    """`first`: the source's first message was this far off (an offset, not a step)."""
    size = _duration(abs(step_s))
    if first:
        where = "ahead of" if step_s > 0 else "behind"
        what = f"{source.capitalize()} clock {size} {where} the chair's"
    else:
        what = f"{source.capitalize()} clock stepped {'ahead' if step_s > 0 else 'back'} {size}"
    return _technical(
        AlarmKind.CLOCK_STEP,
        AlarmPriority.LOW,
        f"{what}: times re-anchored to the service",
        value=round(step_s, 1),
    )


def baseline_incomplete_finding(why: str, *, started: bool) -> Finding:
    text = (
        f"Baseline incomplete: relative alarms and recovery off ({why})"
        if started
        else f"Baseline incomplete: {why}"
    )
    return _technical(AlarmKind.BASELINE_INCOMPLETE, AlarmPriority.LOW, text)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 86400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 86400:.1f} days"


def overdue_finding(minutes_since_stop: float, window_s: float) -> Finding:
    return Finding(
        AlarmKind.RECOVERY_OVERDUE,
        AlarmClass.PHYSIOLOGICAL,
        AlarmPriority.MEDIUM,
        minutes_since_stop,
        window_s / 60.0,
        f"Not back to baseline {window_s / 60.0:g} min after the infusion ended",
    )
