"""A bedside monitor: what it measures from the patient's true vitals, and what it gets wrong.

How this works: the monitor is stepped once a second with the patient's true vitals. HR and SpO2
are averaged over a few seconds (as oximeters do), get sensor noise, and are rounded. The cuff
runs on a cycle (every `cycle_infusing_s` during the infusion, `cycle_other_s` otherwise; a nurse
can start one at any time): a measurement takes 30-45 s, sometimes fails (reported as
`nibp_failed`) and is retried 1-3 minutes later, and rarely returns an absurd value. Artefacts
come from `Disturbance`s the scenario switches on (motion, probe off, leads off) and from a small
background rate. The device clock may be offset and drift. Everything random comes from the
monitor's own seeded generator: the same seed gives the same readings.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from simulators.patient import TrueVitals

CUFF_DURATION_S = (30.0, 45.0)
CUFF_RETRY_S = (60.0, 180.0)


class Disturbance(StrEnum):
    MOTION = "motion"  # SpO2 dropouts and false lows, flagged spo2_motion
    PROBE_OFF = "probe_off"  # SpO2 0, flagged spo2_probe_off
    LEADS_OFF = "leads_off"  # HR 0, flagged leads_off
    CUFF_JUNK = "cuff_junk"  # cuff readings fail or come back absurd


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    cycle_infusing_s: float = 300.0
    cycle_other_s: float = 600.0
    cuff_fail_rate: float = 0.03
    cuff_absurd_rate: float = 0.01
    motion_per_hour: float = 2.0  # background motion episodes
    clock_offset_s: float = 0.0
    clock_drift_ppm: float = 0.0
    hr_average_s: int = 4
    spo2_average_s: int = 8


@dataclass(slots=True)
class _Cuff:
    next_start_s: float
    measuring_since: float | None = None
    finish_at: float | None = None


@dataclass
class BedsideMonitor:
    """One monitor; `step` once a second with the true vitals, it returns a reading payload."""

    rng: np.random.Generator
    settings: MonitorSettings = field(default_factory=MonitorSettings)
    infusing: bool = False
    disturbances: set[Disturbance] = field(default_factory=set)
    seq: int = 0
    _hr: deque[float] = field(default_factory=deque)
    _spo2: deque[float] = field(default_factory=deque)
    _cuff: _Cuff = field(default_factory=lambda: _Cuff(next_start_s=60.0))
    _motion_left_s: float = 0.0

    def device_time(self, t_s: float, start_epoch: float) -> float:
        """The device's own clock at simulation time `t_s`: offset and drift included."""
        drift = t_s * self.settings.clock_drift_ppm * 1e-6
        return round(start_epoch + t_s + self.settings.clock_offset_s + drift, 3)

    def measure_cuff_now(self, t_s: float) -> None:
        """A nurse presses the NIBP button (or the cycle interval changed)."""
        if self._cuff.measuring_since is None:
            self._cuff.next_start_s = t_s

    def set_cycle(self, t_s: float, *, infusing: bool) -> None:
        self.infusing = infusing
        if self._cuff.measuring_since is None:
            self._cuff.next_start_s = min(self._cuff.next_start_s, t_s + self._cycle())

    def step(self, t_s: float, vitals: TrueVitals) -> dict[str, Any]:
        """The reading the monitor sends at `t_s` (without `ts`, which the caller stamps)."""
        self.seq += 1
        technical: list[str] = []
        reading: dict[str, Any] = {"seq": self.seq}
        reading["hr"] = self._heart_rate(vitals, technical)
        reading["spo2"] = self._saturation(vitals, technical)
        cuff = self._cuff_step(t_s, vitals, technical)
        if cuff is not None:
            reading["nibp"] = cuff
        if technical:
            reading["technical"] = technical
        return reading

    def _heart_rate(self, vitals: TrueVitals, technical: list[str]) -> int:
        if Disturbance.LEADS_OFF in self.disturbances:
            technical.append("leads_off")
            self._hr.clear()
            return 0
        self._hr.append(vitals.hr + self.rng.normal(0, 1.0))
        while len(self._hr) > self.settings.hr_average_s:
            self._hr.popleft()
        return round(sum(self._hr) / len(self._hr))

    def _saturation(self, vitals: TrueVitals, technical: list[str]) -> int:
        if Disturbance.PROBE_OFF in self.disturbances:
            technical.append("spo2_probe_off")
            self._spo2.clear()
            return 0
        if self._moving():
            technical.append("spo2_motion")
            if self.rng.random() < 0.3:
                return 0  # a dropout: no valid value
            value = vitals.spo2 - self.rng.uniform(2, 8)  # a false low
        else:
            value = vitals.spo2 + self.rng.normal(0, 0.4)
        self._spo2.append(value)
        while len(self._spo2) > self.settings.spo2_average_s:
            self._spo2.popleft()
        return min(100, round(sum(self._spo2) / len(self._spo2)))

    def _moving(self) -> bool:
        if Disturbance.MOTION in self.disturbances:
            return True
        if self._motion_left_s > 0:
            self._motion_left_s -= 1
            return True
        if self.rng.random() < self.settings.motion_per_hour / 3600:
            self._motion_left_s = float(self.rng.uniform(5, 20))
        return False

    def _cycle(self) -> float:
        s = self.settings
        return s.cycle_infusing_s if self.infusing else s.cycle_other_s

    def _cuff_step(
        self, t_s: float, vitals: TrueVitals, technical: list[str]
    ) -> dict[str, int] | None:
        cuff = self._cuff
        if cuff.measuring_since is None:
            if t_s >= cuff.next_start_s:
                cuff.measuring_since = t_s
                cuff.finish_at = t_s + float(self.rng.uniform(*CUFF_DURATION_S))
            return None
        if cuff.finish_at is None or t_s < cuff.finish_at:
            return None
        cuff.measuring_since = cuff.finish_at = None
        junk = Disturbance.CUFF_JUNK in self.disturbances
        fail_rate = 0.5 if junk else self.settings.cuff_fail_rate
        if self.rng.random() < fail_rate:
            technical.append("nibp_failed")
            cuff.next_start_s = t_s + float(self.rng.uniform(*CUFF_RETRY_S))
            return None
        cuff.next_start_s = t_s + self._cycle()
        absurd_rate = 0.3 if junk else self.settings.cuff_absurd_rate
        if self.rng.random() < absurd_rate:
            return _absurd_cuff(self.rng)
        sbp = vitals.sbp + self.rng.normal(0, 4)
        dbp = vitals.dbp + self.rng.normal(0, 3)
        return {"sys": round(sbp), "dia": round(dbp), "map": round((sbp + 2 * dbp) / 3)}


def _absurd_cuff(rng: np.random.Generator) -> dict[str, int]:
    """The kinds of nonsense a real cuff returns (seen in MIMIC-II: 40/10, 147/118)."""
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return {"sys": 40, "dia": 10, "map": 20}
    if choice == 1:
        return {"sys": 147, "dia": 141, "map": 143}
    return {"sys": 0, "dia": 0, "map": 0}
