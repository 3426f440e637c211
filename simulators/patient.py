"""The simulated patient: true vitals over a ketamine session, and the clinic population.

How this works (figures from CLINICAL.md, "What ketamine does to the vitals" and "Ketamine
pharmacology for the simulator"):

- Each vital is the patient's own resting baseline, plus the drug's effect, plus natural
  variability. The bedside monitor (not this module) adds what a monitor gets wrong.
- The drug: `Pharmacokinetics` (Domino, scaled to Zarate) gives the effect-site concentration Ce;
  the response is a sigmoid Emax, E = Emax Ce^h / (EC50^h + Ce^h), with one effect fraction for
  all vitals and a maximal rise per vital. A steep curve (Hill h 2-3) falls off fast as Ce drops
  after the pump stops: back near baseline within 20-30 minutes. A shallow one (h near 1) with a
  low EC50 sits on the flat top of its curve and follows the slow terminal phase of the drug: it
  lingers for hours. `recovery_scale` > 1 slows the effect site on the way down as well.
- Natural variability, seeded and deterministic: respiratory sinus arrhythmia on HR (a breath of
  about 4 s, 1-2 /min either way, smaller with age) and a slow Ornstein-Uhlenbeck drift per vital
  (minutes; SBP about 3 mmHg, DBP 2, HR 2, SpO2 0.3 %), SBP and DBP drifting together. The drift
  is stepped exactly, so any step length gives the same statistics.
- The population (`sample_traits`): age 18-75, 55-110 kg, about 25 % with known hypertension
  (more with age); resting SBP 120 +- 11 (hypertensive 138 +- 11), DBP following SBP loosely,
  HR 72 +- 10, SpO2 97-99 %. The response is drawn as the studies report it, the rise at the end
  of 0.5 mg/kg over 40 minutes (Yale 2024: SBP +16, DBP +11; China cohort: pulse +1.9), and
  Emax is solved from it. Hypertensive and older patients rise more for the same resting
  pressure (the Yale risk factors), and everyone rises less the less headroom a high resting
  pressure leaves (the higher it starts, the less it climbs): without that, the spread of
  resting pressures plus the spread of rises puts several times the Yale 1 % of sessions past
  180/110. A latent "slowness" sets the shape of the response: older and hypertensive patients
  tend to shallow curves, low EC50 and a slow offset, and so miss the 20-minute return first.
  Over 2,500 standard sessions (tests/unit/simulators/test_patient.py holds it there): at the
  end of the infusion SBP +16.0 (SD 8.8), DBP +11.0 (SD 6.6), HR +2.1; SBP >= 180 or DBP >= 110
  in 1.2 % of sessions; more than 20 % from baseline 20 minutes after the stop in 11 % (21 % of
  hypertensive or 60+ patients, 5 % of the rest), 3 % after an hour, under 1 % after two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.pk import Pharmacokinetics

Array = npt.NDArray[np.float64]

STANDARD_DOSE_MG_PER_KG = 0.5
STANDARD_INFUSION_MIN = 40.0

# Natural variability: drift SD and time constant per vital (sbp, dbp, hr, spo2).
DRIFT_SD = np.array([3.0, 2.0, 2.0, 0.3])
DRIFT_TAU_S = np.array([300.0, 300.0, 240.0, 120.0])
SBP_DBP_DRIFT_CORRELATION = 0.6
_CACHED_STEPS = 16  # distinct step lengths kept; a fixed-rate caller uses one

# Population. Rises are at the end of the standard infusion (what the studies measure), before
# the headroom a high resting pressure leaves them.
HYPERTENSIVE_SBP, NORMOTENSIVE_SBP, SBP_SPREAD = 138.0, 120.0, 11.0
DBP_AT_120, DBP_PER_SBP, DBP_FALL_PER_YEAR, DBP_SPREAD = 74.0, 0.3, 0.15, 4.0
SBP_RISE_MEAN, RISE_GAMMA_SHAPE = 16.0, 4.5
DBP_PER_SBP_RISE, DBP_PER_SBP_RISE_SPREAD = 0.65, 0.1
HR_RISE_MEAN, HR_RISE_SPREAD = 2.0, 1.5
HYPERTENSIVE_RISE_FACTOR, RISE_PER_YEAR = 1.4, 0.005
SBP_CEILING, DBP_CEILING = 185.0, 106.0
EC50_STEEP_NG_ML, EC50_SHALLOW_NG_ML = 140.0, 30.0
SLOW_OFFSET_MAX = 8.0  # recovery_scale of the slowest patients
KE0_MEDIAN_PER_MIN = 0.4
SLOWNESS_BIAS, SLOWNESS_GAIN = 0.0, 1.6


@dataclass(frozen=True, slots=True)
class PatientTraits:
    """Who the patient is, as far as the vitals go.

    Baselines are the patient's own resting values; emax_* is the rise at full effect (mmHg,
    mmHg, /min); ec50_ng_ml, hill and ke0_per_min shape the response to the effect-site
    concentration; recovery_scale > 1 makes the effect wear off more slowly than it came on.
    """

    weight_kg: float
    age: int
    hypertensive: bool
    sbp: float
    dbp: float
    hr: float
    spo2: float
    emax_sbp: float
    emax_dbp: float
    emax_hr: float
    ec50_ng_ml: float
    hill: float
    ke0_per_min: float
    recovery_scale: float = 1.0

    def __post_init__(self) -> None:
        positive = {
            "weight_kg": self.weight_kg,
            "ec50_ng_ml": self.ec50_ng_ml,
            "hill": self.hill,
            "ke0_per_min": self.ke0_per_min,
            "recovery_scale": self.recovery_scale,
        }
        wrong = [f"{name}={value}" for name, value in positive.items() if not value > 0]
        if wrong:
            raise ValueError(f"patient traits must be positive: {', '.join(wrong)}")
        if not 0 < self.spo2 <= 100:
            raise ValueError(f"a resting SpO2 is a percentage in (0, 100] (got {self.spo2})")


@dataclass(frozen=True, slots=True)
class TrueVitals:
    """What the patient's vitals really are at one instant; `effect` is the Emax fraction 0..1."""

    sbp: float
    dbp: float
    hr: float
    spo2: float
    effect: float


class Patient:
    """One patient through a session: set the pump rate when it changes, step time, read vitals.

    Everything random comes from `seed`: the same traits, seed and calls give the same floats.
    """

    def __init__(self, traits: PatientTraits, *, seed: int) -> None:
        self._traits = traits
        self._rng = np.random.default_rng(seed)
        self._pk = Pharmacokinetics(
            weight_kg=traits.weight_kg,
            ke0_per_min=traits.ke0_per_min,
            offset_ke0_per_min=traits.ke0_per_min / traits.recovery_scale,
        )
        self._breathing = _Breathing.draw(self._rng, age=traits.age)
        self._mixing = _drift_mixing()
        self._drift: Array = DRIFT_SD * (self._mixing @ self._rng.standard_normal(4))
        self._drift_steps: dict[float, tuple[Array, Array]] = {}
        self._elapsed_s = 0.0

    @property
    def traits(self) -> PatientTraits:
        return self._traits

    @property
    def elapsed_s(self) -> float:
        """Seconds stepped since the patient was created."""
        return self._elapsed_s

    def set_infusion_rate(self, mg_per_min: float) -> None:
        """The pump's rate from now on: start, pause, resume and stop all come down to this."""
        self._pk.set_rate(mg_per_min)

    def step(self, seconds: float = 1.0) -> TrueVitals:
        """Advance time by `seconds` (0 reads the vitals without moving time) and return them."""
        if seconds < 0:
            raise ValueError(f"time only moves forward (got {seconds} s)")
        if seconds > 0:
            self._pk.advance(seconds)
            decay, scale = self._drift_step(seconds)
            self._drift = decay * self._drift + scale @ self._rng.standard_normal(4)
            self._elapsed_s += seconds
        return self._vitals()

    def _vitals(self) -> TrueVitals:
        t = self._traits
        effect = emax_fraction(self._pk.effect_ng_ml, ec50_ng_ml=t.ec50_ng_ml, hill=t.hill)
        sbp, dbp, hr, spo2 = self._drift.tolist()
        return TrueVitals(
            sbp=t.sbp + t.emax_sbp * effect + sbp,
            dbp=t.dbp + t.emax_dbp * effect + dbp,
            hr=t.hr + t.emax_hr * effect + hr + self._breathing.at(self._elapsed_s),
            spo2=min(100.0, t.spo2 + spo2),
            effect=effect,
        )

    def _drift_step(self, seconds: float) -> tuple[Array, Array]:
        """Exact Ornstein-Uhlenbeck step: decay toward 0 and the innovation that keeps the SD."""
        step = self._drift_steps.get(seconds)
        if step is None:
            if len(self._drift_steps) >= _CACHED_STEPS:
                self._drift_steps.clear()
            decay = np.exp(-seconds / DRIFT_TAU_S)
            scale = (DRIFT_SD * np.sqrt(1.0 - decay**2))[:, None] * self._mixing
            step = self._drift_steps[seconds] = (decay, scale)
        return step


@dataclass(frozen=True, slots=True)
class _Breathing:
    """Respiratory sinus arrhythmia: HR rises on inspiration and falls on expiration."""

    amplitude: float
    period_s: float
    phase: float

    @classmethod
    def draw(cls, rng: np.random.Generator, *, age: int) -> _Breathing:
        youth = 1.0 - (min(max(age, 18), 75) - 18) / 57
        return cls(
            amplitude=1.0 + youth * rng.uniform(0.5, 1.0),
            period_s=rng.uniform(3.5, 5.0),
            phase=rng.uniform(0.0, 2.0 * math.pi),
        )

    def at(self, t_s: float) -> float:
        return self.amplitude * math.sin(2.0 * math.pi * t_s / self.period_s + self.phase)


def _drift_mixing() -> Array:
    """Lower Cholesky factor of the drift correlation: SBP and DBP move together."""
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = SBP_DBP_DRIFT_CORRELATION
    return np.linalg.cholesky(corr).astype(np.float64)


def emax_fraction(ce_ng_ml: float, *, ec50_ng_ml: float, hill: float) -> float:
    """Ce^h / (EC50^h + Ce^h): the fraction of the maximal response at this concentration."""
    if ce_ng_ml <= 0:
        return 0.0
    return 1.0 / (1.0 + math.pow(ec50_ng_ml / ce_ng_ml, hill))


def dose_rate_mg_per_min(
    weight_kg: float,
    dose_mg_per_kg: float = STANDARD_DOSE_MG_PER_KG,
    minutes: float = STANDARD_INFUSION_MIN,
) -> float:
    """The pump rate that gives `dose_mg_per_kg` over `minutes`."""
    if weight_kg <= 0 or minutes <= 0 or dose_mg_per_kg < 0:
        raise ValueError(
            f"need a positive weight and duration and a dose >= 0 "
            f"(got {weight_kg} kg, {dose_mg_per_kg} mg/kg, {minutes} min)"
        )
    return weight_kg * dose_mg_per_kg / minutes


def sample_traits(rng: np.random.Generator) -> PatientTraits:
    """One patient of the clinic population (draws from `rng` in a fixed order)."""
    age = int(np.clip(round(rng.normal(46.0, 14.0)), 18, 75))
    weight_kg = float(np.clip(rng.normal(80.0, 14.0), 55.0, 110.0))
    hypertensive = bool(rng.random() < 0.05 + 0.45 * (age - 18) / 57)
    sbp, dbp = _resting_bp(rng, age=age, hypertensive=hypertensive)
    hr = float(np.clip(rng.normal(72.0, 10.0), 48.0, 105.0))
    spo2 = float(rng.uniform(97.0, 99.0))
    slowness = _slowness(rng, age=age, hypertensive=hypertensive)
    hill = 3.0 - 2.0 * slowness
    ec50 = EC50_STEEP_NG_ML * (EC50_SHALLOW_NG_ML / EC50_STEEP_NG_ML) ** slowness
    ec50 *= float(rng.lognormal(0.0, 0.15))
    ke0 = KE0_MEDIAN_PER_MIN * float(rng.lognormal(0.0, 0.3))
    rise_sbp, rise_dbp, rise_hr = _rises(rng, age=age, hypertensive=hypertensive, sbp=sbp, dbp=dbp)
    fraction = _standard_dose_fraction(ec50_ng_ml=ec50, hill=hill, ke0_per_min=ke0)
    return PatientTraits(
        weight_kg=weight_kg,
        age=age,
        hypertensive=hypertensive,
        sbp=sbp,
        dbp=dbp,
        hr=hr,
        spo2=spo2,
        emax_sbp=rise_sbp / fraction,
        emax_dbp=rise_dbp / fraction,
        emax_hr=rise_hr / fraction,
        ec50_ng_ml=ec50,
        hill=hill,
        ke0_per_min=ke0,
        recovery_scale=1.0 + (SLOW_OFFSET_MAX - 1.0) * slowness**2,
    )


def _resting_bp(rng: np.random.Generator, *, age: int, hypertensive: bool) -> tuple[float, float]:
    """SBP by group; DBP follows SBP loosely and falls with age (stiffer arteries)."""
    mean = HYPERTENSIVE_SBP if hypertensive else NORMOTENSIVE_SBP
    sbp = float(np.clip(rng.normal(mean, SBP_SPREAD), 95.0, 175.0))
    dbp = DBP_AT_120 + DBP_PER_SBP * (sbp - 120.0) - DBP_FALL_PER_YEAR * (age - 46)
    dbp += float(rng.normal(0.0, DBP_SPREAD))
    return sbp, float(np.clip(dbp, 55.0, min(105.0, sbp - 25.0)))


def _slowness(rng: np.random.Generator, *, age: int, hypertensive: bool) -> float:
    """0 = steep and quick to wear off, 1 = shallow and lingering; older and hypertensive drift up."""
    score = SLOWNESS_BIAS + 0.04 * (age - 46) + 1.0 * hypertensive + float(rng.normal(0.0, 1.0))
    return 1.0 / (1.0 + math.exp(-SLOWNESS_GAIN * score))


def _rises(
    rng: np.random.Generator, *, age: int, hypertensive: bool, sbp: float, dbp: float
) -> tuple[float, float, float]:
    """SBP, DBP and HR rise at the end of the standard infusion (see the module docstring)."""
    factor = HYPERTENSIVE_RISE_FACTOR if hypertensive else 1.0
    factor *= 1.0 + RISE_PER_YEAR * (age - 46)
    rise = SBP_RISE_MEAN * factor * float(rng.gamma(RISE_GAMMA_SHAPE, 1.0 / RISE_GAMMA_SHAPE))
    ratio = max(0.3, float(rng.normal(DBP_PER_SBP_RISE, DBP_PER_SBP_RISE_SPREAD)))
    hr = max(0.0, float(rng.normal(HR_RISE_MEAN, HR_RISE_SPREAD)))
    return (
        rise * _headroom(sbp, ceiling=SBP_CEILING, typical=NORMOTENSIVE_SBP),
        rise * ratio * _headroom(dbp, ceiling=DBP_CEILING, typical=DBP_AT_120),
        hr,
    )


def _headroom(resting: float, *, ceiling: float, typical: float) -> float:
    """1 at a typical resting pressure, falling to 0 at `ceiling`."""
    return max(0.0, (ceiling - resting) / (ceiling - typical))


def _standard_dose_fraction(*, ec50_ng_ml: float, hill: float, ke0_per_min: float) -> float:
    """The Emax fraction reached at the end of 0.5 mg/kg over 40 minutes (same for any weight)."""
    pk = Pharmacokinetics(weight_kg=1.0, ke0_per_min=ke0_per_min)
    pk.set_rate(dose_rate_mg_per_min(1.0))
    pk.advance(STANDARD_INFUSION_MIN * 60.0)
    return emax_fraction(pk.effect_ng_ml, ec50_ng_ml=ec50_ng_ml, hill=hill)
