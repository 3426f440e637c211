"""Technical alarms (about the equipment, not the patient) and the recovery-overdue finding.

- `monitor_offline`: the monitor said offline (usually its Last Will). Medium during a session.
- `vitals_stale`: a vital with no valid value for too long on wall time (HR and SpO2 after
  `continuous_stale_s`, the cuff after `nibp_stale_s`). Not raised while the monitor is offline:
  that alarm already says why.
- `spo2_probe_off`, `leads_off`, `nibp_failed`: reported by the device in a reading; each ends
  when the vital it concerns is measured validly again.
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
    (AlarmKind.NIBP_FAILED, TechnicalCondition.NIBP_FAILED, Vital.SBP, "NIBP measurement failed"),
)


def device_conditions(screened: Screened) -> list[tuple[AlarmKind, bool, Finding | None]]:
    """Per device condition: (kind, present?, finding); conditions the reading says nothing about
    (neither flagged nor a valid value of the vital) are left out."""
    out: list[tuple[AlarmKind, bool, Finding | None]] = []
    for kind, flag, vital, text in _DEVICE_CONDITIONS:
        if flag.value in screened.technical:
            out.append((kind, True, _technical(kind, AlarmPriority.LOW, text)))
        elif vital in screened.values:
            out.append((kind, False, None))
    return out


def offline_finding(device: str | None, *, in_session: bool) -> Finding:
    priority = AlarmPriority.MEDIUM if in_session else AlarmPriority.LOW
    name = f" {device}" if device else ""
    return _technical(AlarmKind.MONITOR_OFFLINE, priority, f"Monitor{name} offline: no vitals")


def stale_finding(silent_s: dict[Vital, float], limits: Limits) -> Finding | None:
    """`silent_s`: seconds since each vital's last valid value (SBP stands for the cuff)."""
    stale = {
        vital: seconds
        for vital, seconds in silent_s.items()
        if seconds > (limits.nibp_stale_s if vital is Vital.SBP else limits.continuous_stale_s)
    }
    if not stale:
        return None
    names = ", ".join("NIBP" if v is Vital.SBP else LABELS[v] for v in stale)
    longest = max(stale.values())
    return _technical(
        AlarmKind.VITALS_STALE,
        AlarmPriority.MEDIUM,
        f"No valid {names} for {longest:.0f} s",
        value=round(longest, 1),
        limit=min(limits.continuous_stale_s, limits.nibp_stale_s),
    )


def overdue_finding(minutes_since_stop: float, window_s: float) -> Finding:
    return Finding(
        AlarmKind.RECOVERY_OVERDUE,
        AlarmClass.PHYSIOLOGICAL,
        AlarmPriority.MEDIUM,
        minutes_since_stop,
        window_s / 60.0,
        f"Not back to baseline {window_s / 60.0:g} min after the infusion ended",
    )
