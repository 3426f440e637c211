"""Return to baseline after the infusion ends, and the 20-minute window it is audited against.

How this works (CLINICAL.md, safety rule 5, "recovered means safe, not just close"): the window
opens when delivery ended (the stop, or the pause that became the stop). At every valid cuff
reading the tracker checks the patient against the frozen baseline:

- SBP and DBP within `recovery_tolerance` (a fraction) of baseline, either side;
- HR within the same tolerance of its baseline, from its latest value if it is fresh (not older
  than `CONTINUOUS_FRESH_S`); a patient with an HR baseline and no current HR is not confirmed;
- SpO2 at least `recovery_spo2_min`, or no more than `recovery_spo2_drop` points below its
  baseline (the 20 % tolerance is never applied to SpO2: 79 % is not "within 20 % of 98");
- no physiological alarm ongoing (an SBP 87 with `sbp_low` active is not recovered, nor a
  200/118 against an anxious 170/100 baseline with `sbp_high` active).

`recovery_readings` such cuffs in a row, each at least `recovery_cuff_spacing_s` after the last
one counted, mean RECOVERED at the time of the last of them (a retry cuff 40 s after another
neither counts nor breaks the run). A cuff that fails the check starts the run again, and the
update says why (`reason`). Without a BP baseline the status is CANNOT_ASSESS, with the reason,
never "not back to baseline".

If the chair's clock reaches `recovery_window_s` after delivery ended while still WATCHING, the
status is OVERDUE (the chair raises `recovery_overdue`); a later recovery is RECOVERED_LATE.
A discharge before recovery was confirmed is itself an outcome: DISCHARGED_UNCONFIRMED, with who
discharged. Because the cuff cycles every 5-10 minutes, the time of recovery is only known to
that resolution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.domain.baseline import BASELINE_VITALS, Baseline
from monitor.domain.events import RecoveryUpdate
from monitor.domain.limits import DEFAULT_LIMITS, Limits
from monitor.domain.vitals import LABELS, Vital
from monitor.domain.vocabulary import RecoveryStatus as RecoveryStatus

CONTINUOUS_FRESH_S = 120.0


@dataclass(slots=True)
class RecoveryTracker:
    session: str
    stopped_at: float  # when delivery ended
    baseline: Baseline
    limits: Limits = DEFAULT_LIMITS
    status: RecoveryStatus = RecoveryStatus.WATCHING
    consecutive: int = 0
    counted_at: float | None = None  # the last cuff counted in the current run
    recovered_at: float | None = None
    reason: str | None = None
    discharged_by: str | None = None
    before_discharge: RecoveryStatus | None = None  # overdue stays on the record
    latest: dict[str, float] = field(default_factory=dict)
    off_baseline: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(
        cls, *, session: str, stopped_at: float, baseline: Baseline, limits: Limits
    ) -> RecoveryTracker:
        tracker = cls(session=session, stopped_at=stopped_at, baseline=baseline, limits=limits)
        if not baseline.has_bp:
            tracker.status = RecoveryStatus.CANNOT_ASSESS
            tracker.reason = f"no baseline BP: {baseline.missing or 'none measured or entered'}"
        return tracker

    @property
    def window_s(self) -> float:
        return self.limits.recovery_window_s

    @property
    def audited_status(self) -> RecoveryStatus:
        """What the record says of the window: the status before an unconfirmed discharge
        (`overdue` stays `overdue`), else the status."""
        return self.before_discharge or self.status

    def update(self, ts: float) -> RecoveryUpdate:
        return RecoveryUpdate(
            ts=ts,
            session=self.session,
            status=self.status,
            infusion_stopped_at=self.stopped_at,
            minutes_since_stop=round(max(0.0, ts - self.stopped_at) / 60.0, 2),
            baseline=self.baseline.as_dict(),
            latest=dict(self.latest),
            off_baseline=dict(self.off_baseline),
            consecutive_in_tolerance=self.consecutive,
            recovered_at=self.recovered_at,
            reason=self.reason,
            discharged_by=self.discharged_by,
        )

    def cuff_reading(
        self,
        ts: float,
        *,
        sbp: float,
        dbp: float,
        continuous: dict[Vital, tuple[float, float]],
        ongoing_alarms: Iterable[str] = (),
    ) -> list[RecoveryUpdate]:
        """Assess one valid cuff reading; `continuous` maps a vital to (ts, value) of its latest;
        `ongoing_alarms`: the physiological alarms whose condition is ongoing.

        A reading after the window first makes the status OVERDUE, so the record shows the
        window was missed even when no clock tick came between.
        """
        if self.status.final or self.status is RecoveryStatus.CANNOT_ASSESS:
            return []
        updates = [u for u in [self.clock(ts)] if u] if ts - self.stopped_at > self.window_s else []
        latest = self._latest(ts, sbp, dbp, continuous)
        why_not = self._why_not(latest) or _alarms_reason(ongoing_alarms)
        self._count(ts, why_not)
        if self.consecutive >= self.limits.recovery_readings:
            self.recovered_at = ts
            late = self.status is RecoveryStatus.OVERDUE or ts - self.stopped_at > self.window_s
            self.status = RecoveryStatus.RECOVERED_LATE if late else RecoveryStatus.RECOVERED
        updates.append(self.update(ts))
        updates.extend(u for u in [self.clock(ts)] if u)
        return updates

    def clock(self, now: float) -> RecoveryUpdate | None:
        """Advance the chair's clock: WATCHING becomes OVERDUE once the window has passed."""
        if self.status is RecoveryStatus.WATCHING and now - self.stopped_at >= self.window_s:
            self.status = RecoveryStatus.OVERDUE
            return self.update(now)
        return None

    def discharge(self, ts: float, *, by: str | None) -> RecoveryUpdate | None:
        """The patient leaves: unless recovery was confirmed, that is the outcome."""
        if self.status.confirmed:
            return None
        before = self.before_discharge = self.status
        self.status = RecoveryStatus.DISCHARGED_UNCONFIRMED
        self.discharged_by = by
        self.reason = f"discharged while {before.value}" + (
            f" ({self.reason})" if self.reason else ""
        )
        return self.update(ts)

    def _latest(
        self, ts: float, sbp: float, dbp: float, continuous: dict[Vital, tuple[float, float]]
    ) -> dict[Vital, float]:
        latest = {Vital.SBP: sbp, Vital.DBP: dbp}
        for vital, sources in ((Vital.HR, (Vital.HR, Vital.PR)), (Vital.SPO2, (Vital.SPO2,))):
            # An oximeter-only monitor's pulse rate stands for the HR.
            fresh = [
                s for v in sources if (s := continuous.get(v)) and ts - s[0] <= CONTINUOUS_FRESH_S
            ]
            if fresh:
                latest[vital] = fresh[0][1]
        self.latest = {v.value: x for v, x in latest.items()}
        self.off_baseline = self._deviations(latest)
        return latest

    def _why_not(self, latest: dict[Vital, float]) -> str | None:
        """Why this cuff does not count towards recovery, or None when it does."""
        tolerance = self.limits.recovery_tolerance
        for vital in (Vital.SBP, Vital.DBP, Vital.HR):
            base = self.baseline.value(vital)
            if base is None:
                continue
            if vital not in latest:
                return f"no current {LABELS[vital]}"
            if abs(latest[vital] - base) > tolerance * base + 1e-9:
                return (
                    f"{LABELS[vital]} {latest[vital]:g} more than {tolerance:.0%} "
                    f"from baseline {base:g}"
                )
        return self._spo2_why_not(latest.get(Vital.SPO2))

    def _spo2_why_not(self, spo2: float | None) -> str | None:
        if spo2 is None:
            return "no current SpO2"
        floor = self.limits.recovery_spo2_min
        base = self.baseline.value(Vital.SPO2)
        if base is not None:
            floor = min(floor, base - self.limits.recovery_spo2_drop)
        return None if spo2 >= floor else f"SpO2 {spo2:g} % below {floor:g} %"

    def _count(self, ts: float, why_not: str | None) -> None:
        self.reason = why_not
        if why_not is not None:
            self.consecutive, self.counted_at = 0, None
            return
        spacing = self.limits.recovery_cuff_spacing_s
        if self.counted_at is not None and ts - self.counted_at < spacing:
            self.reason = f"next cuff counts from {spacing / 60:g} min after the last"
            return
        self.consecutive += 1
        self.counted_at = ts

    def _deviations(self, latest: dict[Vital, float]) -> dict[str, float]:
        """Fractional distance from baseline per assessed vital (+0.25 = 25 % above)."""
        deviations: dict[str, float] = {}
        for vital in BASELINE_VITALS:
            base = self.baseline.value(vital)
            if base and vital in latest:
                deviations[vital.value] = round((latest[vital] - base) / base, 4)
        return deviations


def _alarms_reason(ongoing: Iterable[str]) -> str | None:
    kinds = sorted(ongoing)
    return f"{', '.join(kinds)} ongoing" if kinds else None
