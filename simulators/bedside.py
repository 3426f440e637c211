"""A bedside monitor: what it measures from the patient's true vitals, and what it gets wrong.

How this works: the monitor is stepped once a second with the patient's true vitals. HR (from
the ECG), SpO2 and the oximeter's own pulse rate (`pr`) are averaged over a few seconds (as
monitors do), get independent sensor noise, and are rounded. SpO2 and `pr` come from one probe,
so they fail together: probe off or a motion dropout gives 0 for both; under motion the
oximeter counts the movement as well as the pulse, so its rate wanders away from the ECG's. The
cuff runs on a cycle (every `cycle_infusing_s` during the infusion, `cycle_other_s` otherwise; a
nurse can start one at any time): a measurement takes 30-45 s, sometimes fails (reported as
`nibp_failed`) and is retried 1-3 minutes later, and rarely returns an absurd value, which the
monitor itself flags `nibp_failed` most of the time and sends as valid the rest. Artefacts come
from `Disturbance`s the scenario switches on (motion, probe off, leads off, cuff junk) and from a
small background rate. The device clock may be offset and drift. Everything random comes from
the monitor's own seeded generator: the same seed gives the same readings.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from simulators.patient import TrueVitals

CUFF_DURATION_S = (30.0, 45.0)
CUFF_RETRY_S = (60.0, 180.0)
# During a cuff-junk episode (a restless arm, a loose cuff): half the measurements fail outright,
# half of the rest come back absurd.
JUNK_FAIL_RATE = 0.5
JUNK_ABSURD_RATE = 0.5
# Under motion, the share of seconds the oximeter counts the movement instead of the pulse. The
# movement's rate differs from the heart's by an amount that wanders with a few seconds of memory
# (a movement has a cadence): spread about the heart's rate (/min), and what is kept a second.
MOTION_COUNTED_SHARE = 0.7
MOTION_RATE_SPREAD_PER_MIN = 35.0
MOTION_RATE_MEMORY = 0.9
MOTION_RATE_FLOOR_PER_MIN = 30.0


class Disturbance(StrEnum):
    MOTION = "motion"  # SpO2 dropouts and false lows, flagged spo2_motion
    PROBE_OFF = "probe_off"  # SpO2 0, flagged spo2_probe_off
    LEADS_OFF = "leads_off"  # HR 0, flagged leads_off
    CUFF_JUNK = "cuff_junk"  # cuff readings fail or come back absurd, mostly flagged


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    cycle_infusing_s: float = 300.0
    cycle_other_s: float = 600.0
    cuff_fail_rate: float = 0.03
    cuff_absurd_rate: float = 0.01
    cuff_absurd_flagged: float = 0.8  # share of absurd cuffs the monitor flags nibp_failed itself
    motion_per_hour: float = 2.0  # background motion episodes
    clock_offset_s: float = 0.0
    clock_drift_ppm: float = 0.0
    hr_average_s: int = 4
    spo2_average_s: int = 8
    pr_average_s: int = 4


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
    _pr: deque[float] = field(default_factory=deque)
    _motion_offset: float | None = None  # the movement's rate less the heart's, while moving
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
        hr = self._heart_rate(vitals, technical)
        spo2, pr = self._oximeter(vitals, technical)
        reading: dict[str, Any] = {"seq": self.seq, "hr": hr, "pr": pr, "spo2": spo2}
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
        return _averaged(self._hr, vitals.hr + self.rng.normal(0, 1.0), self.settings.hr_average_s)

    def _oximeter(self, vitals: TrueVitals, technical: list[str]) -> tuple[int, int]:
        """(SpO2, pulse rate): one probe, so a probe off or a dropout loses both."""
        if Disturbance.PROBE_OFF in self.disturbances:
            technical.append("spo2_probe_off")
            self._spo2.clear()
            self._pr.clear()
            return 0, 0
        if not self._moving():
            self._motion_offset = None
            spo2 = vitals.spo2 + self.rng.normal(0, 0.4)
            return self._oximeter_average(spo2, vitals.hr + self.rng.normal(0, 1.5))
        technical.append("spo2_motion")
        if self.rng.random() < 0.3:
            return 0, 0  # a dropout: no valid value
        false_low = vitals.spo2 - self.rng.uniform(2, 8)
        return self._oximeter_average(false_low, self._counted_pulse(vitals))

    def _oximeter_average(self, spo2: float, pr: float) -> tuple[int, int]:
        s = self.settings
        shown_spo2 = min(100, _averaged(self._spo2, spo2, s.spo2_average_s))
        return shown_spo2, _averaged(self._pr, pr, s.pr_average_s)

    def _counted_pulse(self, vitals: TrueVitals) -> float:
        """What the oximeter counts as a pulse this second while the patient moves: mostly the
        movement, whose rate wanders about the heart's (an Ornstein-Uhlenbeck offset)."""
        spread, memory = MOTION_RATE_SPREAD_PER_MIN, MOTION_RATE_MEMORY
        if self._motion_offset is None:
            self._motion_offset = float(self.rng.normal(0, spread))
        else:
            kick = float(self.rng.normal(0, spread * math.sqrt(1 - memory**2)))
            self._motion_offset = memory * self._motion_offset + kick
        if self.rng.random() < MOTION_COUNTED_SHARE:
            return max(MOTION_RATE_FLOOR_PER_MIN, vitals.hr + self._motion_offset)
        return vitals.hr + self.rng.normal(0, 1.5)

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
        return self._cuff_result(t_s, vitals, technical)

    def _cuff_result(
        self, t_s: float, vitals: TrueVitals, technical: list[str]
    ) -> dict[str, int] | None:
        """A finished measurement: failed, absurd (mostly flagged by the monitor), or true."""
        junk = Disturbance.CUFF_JUNK in self.disturbances
        fail_rate = JUNK_FAIL_RATE if junk else self.settings.cuff_fail_rate
        if self.rng.random() < fail_rate:
            return self._cuff_failed(t_s, technical, None)
        absurd = None
        if self.rng.random() < (JUNK_ABSURD_RATE if junk else self.settings.cuff_absurd_rate):
            absurd = _absurd_cuff(self.rng)
            if self.rng.random() < self.settings.cuff_absurd_flagged:
                return self._cuff_failed(t_s, technical, absurd)
        self._cuff.next_start_s = t_s + self._cycle()
        return absurd or self._true_cuff(vitals)  # an unflagged absurd cuff goes out as valid

    def _true_cuff(self, vitals: TrueVitals) -> dict[str, int]:
        sbp = vitals.sbp + self.rng.normal(0, 4)
        dbp = vitals.dbp + self.rng.normal(0, 3)
        return {"sys": round(sbp), "dia": round(dbp), "map": round((sbp + 2 * dbp) / 3)}

    def _cuff_failed(
        self, t_s: float, technical: list[str], numbers: dict[str, int] | None
    ) -> dict[str, int] | None:
        """A measurement the monitor knows went wrong: flagged `nibp_failed` (with the numbers
        it got, if any, as real monitors send them) and retried 1-3 minutes later."""
        technical.append("nibp_failed")
        self._cuff.next_start_s = t_s + float(self.rng.uniform(*CUFF_RETRY_S))
        return numbers


def _absurd_cuff(rng: np.random.Generator) -> dict[str, int]:
    """The kinds of nonsense a real cuff returns (seen in MIMIC-II: 40/10, 147/118)."""
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return {"sys": 40, "dia": 10, "map": 20}
    if choice == 1:
        return {"sys": 147, "dia": 141, "map": 143}
    return {"sys": 0, "dia": 0, "map": 0}


def _averaged(window: deque[float], value: float, length: int) -> int:
    """`value` into a sliding window of `length` samples; the window's rounded mean."""
    window.append(value)
    while len(window) > length:
        window.popleft()
    return round(sum(window) / len(window))
