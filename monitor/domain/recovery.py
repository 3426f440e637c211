"""Return to baseline after the infusion stops, and the 20-minute window it is audited against.

How this works: from the moment the infusion stops the tracker is WATCHING. At every valid cuff
reading it compares each tracked vital with the patient's frozen baseline: SBP and DBP from the
cuff, HR and SpO2 from their latest valid value if it is fresh (not older than
`CONTINUOUS_FRESH_S` at the cuff reading; a continuous vital with no fresh value is reported as
not assessed and does not block). A vital is within tolerance when it is within
`recovery_tolerance` (a fraction) of its baseline, either side. `recovery_readings` consecutive
cuff readings with every assessed vital within tolerance mean RECOVERED, at the time of the last
of them. Artefacts never reach the tracker, so one bad cuff value neither closes nor breaks the
run. Without a baseline BP, the tracker cannot decide and keeps watching.

If the clinical clock reaches `recovery_window_s` after the stop while still WATCHING, the status
is OVERDUE (the chair raises `recovery_overdue`); a later recovery is RECOVERED_LATE. Because the
cuff cycles every 5-10 minutes, the time of recovery is only known to that resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from monitor.domain.baseline import BASELINE_VITALS, Baseline
from monitor.domain.events import RecoveryUpdate
from monitor.domain.limits import Limits
from monitor.domain.vitals import CONTINUOUS_VITALS, Vital

CONTINUOUS_FRESH_S = 120.0


class RecoveryStatus(StrEnum):
    WATCHING = "watching"
    RECOVERED = "recovered"
    OVERDUE = "overdue"
    RECOVERED_LATE = "recovered_late"

    @property
    def final(self) -> bool:
        return self in (RecoveryStatus.RECOVERED, RecoveryStatus.RECOVERED_LATE)


@dataclass(slots=True)
class RecoveryTracker:
    session: str
    stopped_at: float
    baseline: Baseline
    tolerance: float
    window_s: float
    readings_needed: int
    status: RecoveryStatus = RecoveryStatus.WATCHING
    consecutive: int = 0
    recovered_at: float | None = None
    latest: dict[str, float] = field(default_factory=dict)
    off_baseline: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(
        cls, *, session: str, stopped_at: float, baseline: Baseline, limits: Limits
    ) -> RecoveryTracker:
        return cls(
            session=session,
            stopped_at=stopped_at,
            baseline=baseline,
            tolerance=limits.recovery_tolerance,
            window_s=limits.recovery_window_s,
            readings_needed=limits.recovery_readings,
        )

    def update(self, ts: float) -> RecoveryUpdate:
        return RecoveryUpdate(
            ts=ts,
            session=self.session,
            status=self.status.value,
            infusion_stopped_at=self.stopped_at,
            minutes_since_stop=round(max(0.0, ts - self.stopped_at) / 60.0, 2),
            baseline=self.baseline.as_dict(),
            latest=dict(self.latest),
            off_baseline=dict(self.off_baseline),
            consecutive_in_tolerance=self.consecutive,
            recovered_at=self.recovered_at,
        )

    def cuff_reading(
        self, ts: float, *, sbp: float, dbp: float, continuous: dict[Vital, tuple[float, float]]
    ) -> list[RecoveryUpdate]:
        """Assess one valid cuff reading; `continuous` maps a vital to (ts, value) of its latest.

        A reading after the window first makes the status OVERDUE, so the record shows the
        window was missed even when no clock tick came between.
        """
        if self.status.final:
            return []
        updates = [u for u in [self.clock(ts)] if u] if ts - self.stopped_at > self.window_s else []
        updates.append(self._assess(ts, sbp=sbp, dbp=dbp, continuous=continuous))
        updates.extend(u for u in [self.clock(ts)] if u)
        return updates

    def _assess(
        self, ts: float, *, sbp: float, dbp: float, continuous: dict[Vital, tuple[float, float]]
    ) -> RecoveryUpdate:
        latest = {Vital.SBP: sbp, Vital.DBP: dbp}
        for vital in CONTINUOUS_VITALS:
            seen = continuous.get(vital)
            if seen is not None and ts - seen[0] <= CONTINUOUS_FRESH_S:
                latest[vital] = seen[1]
        self.latest = {v.value: x for v, x in latest.items()}
        self.off_baseline = self._deviations(latest)
        within = self.baseline.has_bp and all(
            abs(d) <= self.tolerance + 1e-9 for d in self.off_baseline.values()
        )
        self.consecutive = self.consecutive + 1 if within else 0
        if self.consecutive >= self.readings_needed:
            self.recovered_at = ts
            late = self.status is RecoveryStatus.OVERDUE or ts - self.stopped_at > self.window_s
            self.status = RecoveryStatus.RECOVERED_LATE if late else RecoveryStatus.RECOVERED
        return self.update(ts)

    def clock(self, now: float) -> RecoveryUpdate | None:
        """Advance the clinical clock: WATCHING becomes OVERDUE once the window has passed."""
        if self.status is RecoveryStatus.WATCHING and now - self.stopped_at >= self.window_s:
            self.status = RecoveryStatus.OVERDUE
            return self.update(now)
        return None

    def _deviations(self, latest: dict[Vital, float]) -> dict[str, float]:
        """Fractional distance from baseline per assessed vital (+0.25 = 25 % above)."""
        deviations: dict[str, float] = {}
        for vital in BASELINE_VITALS:
            base = self.baseline.value(vital)
            if base and vital in latest:
                deviations[vital.value] = round((latest[vital] - base) / base, 4)
        return deviations
