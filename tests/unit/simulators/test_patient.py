"""Calibration of the simulated patient against CLINICAL.md, over thousands of sessions.

Every session is the standard one: 10 minutes of baseline, 0.5 mg/kg over 40 minutes, then 60
minutes of observation after the pump stops. The population runs the real `Patient` with a 10-s
step (the model is exact at any step length: the drug is stepped by matrix exponential, the
drift as an exact Ornstein-Uhlenbeck update). Figures are true values, not monitor readings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from simulators.patient import (
    Patient,
    PatientTraits,
    TrueVitals,
    dose_rate_mg_per_min,
    emax_fraction,
    sample_traits,
)
from simulators.pk import K10, K12, K13, K21, K31, V1_L_PER_KG, Pharmacokinetics

STEP_S = 10.0
BASELINE_MIN, INFUSION_MIN, AFTER_MIN = 10, 40, 60
RECOVERY_WINDOW_MIN = 20
SESSIONS = 2500
POPULATION_SEED = 2024


@dataclass(frozen=True, slots=True)
class Session:
    traits: PatientTraits
    end: TrueVitals  # the moment the pump stops
    after_window: TrueVitals  # 20 minutes later
    severe: bool  # SBP >= 180 or DBP >= 110 at any time from the start of the infusion on

    @property
    def missed_window(self) -> bool:
        t, v = self.traits, self.after_window
        return abs(v.sbp - t.sbp) > 0.2 * t.sbp or abs(v.dbp - t.dbp) > 0.2 * t.dbp


def _steps(minutes: float) -> int:
    return round(minutes * 60 / STEP_S)


def _run_session(traits: PatientTraits, *, seed: int) -> Session:
    patient = Patient(traits, seed=seed)
    for _ in range(_steps(BASELINE_MIN)):
        patient.step(STEP_S)
    patient.set_infusion_rate(dose_rate_mg_per_min(traits.weight_kg))
    during = [patient.step(STEP_S) for _ in range(_steps(INFUSION_MIN))]
    patient.set_infusion_rate(0.0)
    after = [patient.step(STEP_S) for _ in range(_steps(AFTER_MIN))]
    return Session(
        traits=traits,
        end=during[-1],
        after_window=after[_steps(RECOVERY_WINDOW_MIN) - 1],
        severe=any(v.sbp >= 180 or v.dbp >= 110 for v in during + after),
    )


@pytest.fixture(scope="module")
def population() -> list[Session]:
    rng = np.random.default_rng(POPULATION_SEED)
    return [_run_session(sample_traits(rng), seed=i) for i in range(SESSIONS)]


def _rises(population: list[Session], vital: str) -> np.ndarray:
    return np.array([getattr(s.end, vital) - getattr(s.traits, vital) for s in population])


# 1. The rise at the end of the infusion (Yale 2024; China cohort for the pulse) -----------------


@pytest.mark.parametrize(
    ("vital", "mean", "tolerance", "sd_range"),
    [
        ("sbp", 16.0, 2.5, (8.0, 14.0)),
        ("dbp", 11.0, 2.0, (6.0, 10.0)),
        ("hr", 2.0, 1.5, None),
    ],
)
def test_rise_at_the_end_of_the_infusion_matches_the_studies(
    population: list[Session],
    vital: str,
    mean: float,
    tolerance: float,
    sd_range: tuple[float, float] | None,
) -> None:
    rises = _rises(population, vital)
    assert rises.mean() == pytest.approx(mean, abs=tolerance)
    if sd_range is not None:
        low, high = sd_range
        assert low <= rises.std() <= high


# 2. Severe hypertension in about 1 % of sessions (Yale 2024) -----------------------------------


def test_severe_hypertension_in_about_one_percent_of_sessions(population: list[Session]) -> None:
    severe = np.mean([s.severe for s in population])
    assert 0.003 <= severe <= 0.025


def test_severe_hypertension_is_commoner_in_hypertensive_patients(
    population: list[Session],
) -> None:
    hypertensive = [s.severe for s in population if s.traits.hypertensive]
    others = [s.severe for s in population if not s.traits.hypertensive]
    assert np.mean(hypertensive) > 2 * np.mean(others)


# 3. A minority misses the 20-minute return, older and hypertensive patients first -------------


def test_a_minority_misses_the_20_minute_return_to_baseline(population: list[Session]) -> None:
    missed = np.mean([s.missed_window for s in population])
    assert 0.05 <= missed <= 0.30


def test_older_and_hypertensive_patients_miss_the_window_more_often(
    population: list[Session],
) -> None:
    def at_risk(s: Session) -> bool:
        return s.traits.hypertensive or s.traits.age >= 60

    risky = [s.missed_window for s in population if at_risk(s)]
    others = [s.missed_window for s in population if not at_risk(s)]
    assert len(risky) > 200
    assert len(others) > 200
    assert np.mean(risky) > 1.5 * np.mean(others)


def test_a_steep_response_wears_off_and_a_shallow_one_lingers() -> None:
    base = _traits()
    steep = _effect_course(replace(base, hill=3.0, ec50_ng_ml=140.0))
    shallow = _effect_course(replace(base, hill=1.0, ec50_ng_ml=30.0, recovery_scale=4.0))
    end = _steps(INFUSION_MIN) - 1
    assert steep[end + _steps(25)] < 0.15 * steep[end]
    assert shallow[end + _steps(60)] > 0.5 * shallow[end]


def test_recovery_scale_slows_only_the_wearing_off() -> None:
    quick = _effect_course(_traits())
    slow = _effect_course(replace(_traits(), recovery_scale=4.0))
    end = _steps(INFUSION_MIN) - 1
    assert slow[: end + 1] == quick[: end + 1]
    assert slow[end + _steps(20)] > quick[end + _steps(20)]


# 4. Pharmacokinetics: Domino's model scaled to Zarate's observed peak --------------------------


def test_plasma_peak_of_the_standard_dose_is_zaratés_185_ng_ml() -> None:
    plasma, _ = _concentrations(weight_kg=70.0, ke0_per_min=0.4, step_s=STEP_S)
    assert max(plasma) == pytest.approx(185.0, rel=0.10)
    assert int(np.argmax(plasma)) == _steps(INFUSION_MIN) - 1  # the pump stops at the peak


def test_effect_site_lags_plasma() -> None:
    plasma, effect = _concentrations(weight_kg=70.0, ke0_per_min=0.4, step_s=1.0)
    assert np.argmax(effect) > np.argmax(plasma)  # by seconds: plasma falls fast at the stop
    assert max(effect) < max(plasma)
    assert effect[5 * 60] < 0.9 * plasma[5 * 60]  # behind on the way up
    assert effect[(INFUSION_MIN + 10) * 60] > plasma[(INFUSION_MIN + 10) * 60]  # above after


def test_concentrations_do_not_depend_on_weight_for_a_dose_in_mg_per_kg() -> None:
    light, _ = _concentrations(weight_kg=55.0, ke0_per_min=0.4, step_s=STEP_S)
    heavy, _ = _concentrations(weight_kg=110.0, ke0_per_min=0.4, step_s=STEP_S)
    assert light == pytest.approx(heavy, rel=1e-9)


@pytest.mark.parametrize("step_s", [1.0, 10.0, 60.0])
def test_exact_steps_agree_with_a_fine_runge_kutta_reference(step_s: float) -> None:
    reference_cp, reference_ce = _runge_kutta_reference(ke0_per_min=0.4, step_s=step_s)
    plasma, effect = _concentrations(weight_kg=70.0, ke0_per_min=0.4, step_s=step_s)
    assert plasma == pytest.approx(reference_cp, rel=0.01, abs=0.1)
    assert effect == pytest.approx(reference_ce, rel=0.01, abs=0.1)


def test_a_pause_holds_the_level_down_and_a_resume_brings_it_back() -> None:
    pk = Pharmacokinetics(weight_kg=70.0, ke0_per_min=0.4)
    pk.set_rate(dose_rate_mg_per_min(70.0))
    pk.advance(20 * 60)
    before_pause = pk.plasma_ng_ml
    pk.set_rate(0.0)
    pk.advance(5 * 60)
    assert pk.plasma_ng_ml < 0.5 * before_pause
    pk.set_rate(dose_rate_mg_per_min(70.0))
    pk.advance(10 * 60)
    assert pk.plasma_ng_ml > before_pause


# 5. Determinism ---------------------------------------------------------------------------------


def test_same_seed_and_traits_give_exactly_the_same_vitals() -> None:
    assert _course(_traits(), seed=7) == _course(_traits(), seed=7)


def test_different_seeds_give_different_vitals() -> None:
    first, second = _course(_traits(), seed=7), _course(_traits(), seed=8)
    assert all(a.sbp != b.sbp and a.hr != b.hr for a, b in zip(first, second, strict=True))
    assert [a.effect for a in first] == [b.effect for b in second]  # the drug is not random


def test_the_population_is_reproducible_from_its_generator() -> None:
    first = [sample_traits(np.random.default_rng(3)) for _ in range(2)]
    assert first[0] == first[1]
    assert sample_traits(np.random.default_rng(4)) != first[0]


# 6. Without ketamine: natural variability only -------------------------------------------------


def test_without_an_infusion_the_vitals_stay_near_baseline() -> None:
    rng = np.random.default_rng(11)
    offsets: list[list[float]] = []
    sbp_spreads: list[float] = []
    spo2: list[float] = []
    for seed in range(200):
        traits = sample_traits(rng)
        patient = Patient(traits, seed=seed)
        course = [patient.step(STEP_S) for _ in range(_steps(120))]
        assert all(v.effect == 0.0 for v in course)
        offsets.append([_mean(course, k) - getattr(traits, k) for k in ("sbp", "dbp", "hr")])
        sbp_spreads.append(float(np.std([v.sbp for v in course])))
        spo2.extend(v.spo2 for v in course)
    assert np.all(np.abs(np.mean(offsets, axis=0)) < 0.5)  # no bias across patients
    assert np.max(np.abs(offsets)) < 5.0  # nobody wanders off over 2 hours
    assert 1.5 < np.mean(sbp_spreads) < 4.0  # but they do vary: SBP SD about 3 mmHg
    assert min(spo2) >= 95.5
    assert max(spo2) <= 100.0


def test_heart_rate_swings_with_breathing_every_few_seconds() -> None:
    patient = Patient(replace(_traits(), age=25), seed=3)
    hr = np.array([patient.step(0.5).hr for _ in range(1200)])  # 10 minutes at 2 Hz
    window = np.hanning(len(hr))
    spectrum = np.abs(np.fft.rfft((hr - hr.mean()) * window))
    frequencies = np.fft.rfftfreq(len(hr), d=0.5)
    fast = frequencies > 0.1  # well above the drift
    peak = int(np.argmax(spectrum[fast]))
    assert 3.5 <= 1.0 / frequencies[fast][peak] <= 5.0
    amplitude = 2.0 * spectrum[fast][peak] / window.sum()  # Hann: within ~15 % of the truth
    assert 1.0 <= amplitude <= 2.2  # +-1-2 /min


# Misuse -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"weight_kg": 0.0},
        {"hill": -1.0},
        {"ec50_ng_ml": 0.0},
        {"recovery_scale": 0.0},
        {"spo2": 101},
    ],
)
def test_impossible_traits_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|percentage"):
        replace(_traits(), **change)


def test_time_and_rate_cannot_go_negative() -> None:
    patient = Patient(_traits(), seed=1)
    with pytest.raises(ValueError, match="forward"):
        patient.step(-1.0)
    with pytest.raises(ValueError, match="negative"):
        patient.set_infusion_rate(-0.5)
    assert patient.elapsed_s == 0.0


def test_a_zero_step_reads_the_vitals_without_moving_time() -> None:
    patient = Patient(_traits(), seed=1)
    patient.step(30.0)
    assert patient.step(0.0) == patient.step(0.0)
    assert patient.elapsed_s == 30.0


def test_dose_rate_is_the_dose_spread_over_the_infusion() -> None:
    assert dose_rate_mg_per_min(80.0) == pytest.approx(1.0)  # 40 mg over 40 min
    assert dose_rate_mg_per_min(60.0, 1.0, 30.0) == pytest.approx(2.0)


# Helpers ----------------------------------------------------------------------------------------


def _traits() -> PatientTraits:
    return PatientTraits(
        weight_kg=75.0,
        age=45,
        hypertensive=False,
        sbp=120.0,
        dbp=78.0,
        hr=72.0,
        spo2=98.0,
        emax_sbp=25.0,
        emax_dbp=17.0,
        emax_hr=3.0,
        ec50_ng_ml=100.0,
        hill=2.0,
        ke0_per_min=0.4,
    )


def _mean(course: list[TrueVitals], vital: str) -> float:
    return float(np.mean([getattr(v, vital) for v in course]))


def _course(traits: PatientTraits, *, seed: int) -> list[TrueVitals]:
    patient = Patient(traits, seed=seed)
    course = [patient.step(1.0) for _ in range(60)]
    patient.set_infusion_rate(dose_rate_mg_per_min(traits.weight_kg))
    course += [patient.step(1.0) for _ in range(600)]
    patient.set_infusion_rate(0.0)
    return course + [patient.step(STEP_S) for _ in range(60)]


def _effect_course(traits: PatientTraits) -> list[float]:
    """The Emax fraction through the standard infusion and 2 hours after it."""
    pk = Pharmacokinetics(
        weight_kg=traits.weight_kg,
        ke0_per_min=traits.ke0_per_min,
        offset_ke0_per_min=traits.ke0_per_min / traits.recovery_scale,
    )
    pk.set_rate(dose_rate_mg_per_min(traits.weight_kg))
    course = []
    for i in range(_steps(INFUSION_MIN + 120)):
        if i == _steps(INFUSION_MIN):
            pk.set_rate(0.0)
        pk.advance(STEP_S)
        course.append(
            emax_fraction(pk.effect_ng_ml, ec50_ng_ml=traits.ec50_ng_ml, hill=traits.hill)
        )
    return course


def _concentrations(
    *, weight_kg: float, ke0_per_min: float, step_s: float
) -> tuple[list[float], list[float]]:
    """Plasma and effect-site levels after each step of the standard infusion and 1 h after."""
    pk = Pharmacokinetics(weight_kg=weight_kg, ke0_per_min=ke0_per_min)
    pk.set_rate(dose_rate_mg_per_min(weight_kg))
    plasma, effect = [], []
    for i in range(round((INFUSION_MIN + 60) * 60 / step_s)):
        if i * step_s >= INFUSION_MIN * 60:
            pk.set_rate(0.0)
        pk.advance(step_s)
        plasma.append(pk.plasma_ng_ml)
        effect.append(pk.effect_ng_ml)
    return plasma, effect


def _runge_kutta_reference(*, ke0_per_min: float, step_s: float) -> tuple[list[float], list[float]]:
    """The same model written out as ODEs (concentrations per kg) and integrated by RK4 at 0.5 s,
    sampled every `step_s`."""
    rate = dose_rate_mg_per_min(1.0)
    v1 = V1_L_PER_KG

    def slope(x: list[float], u: float) -> list[float]:
        a1, a2, a3, ce = x
        return [
            u - (K10 + K12 + K13) * a1 + K21 * a2 + K31 * a3,
            K12 * a1 - K21 * a2,
            K13 * a1 - K31 * a3,
            ke0_per_min * (1000 * a1 / v1 - ce),
        ]

    h = 0.5 / 60
    x = [0.0, 0.0, 0.0, 0.0]
    per_sample = round(step_s / 0.5)
    plasma, effect = [], []
    for i in range(round((INFUSION_MIN + 60) * 60 / 0.5)):
        u = rate if i * 0.5 < INFUSION_MIN * 60 else 0.0
        k1 = slope(x, u)
        k2 = slope([a + h / 2 * b for a, b in zip(x, k1, strict=True)], u)
        k3 = slope([a + h / 2 * b for a, b in zip(x, k2, strict=True)], u)
        k4 = slope([a + h * b for a, b in zip(x, k3, strict=True)], u)
        x = [
            a + h / 6 * (p + 2 * q + 2 * r + s)
            for a, p, q, r, s in zip(x, k1, k2, k3, k4, strict=True)
        ]
        if (i + 1) % per_sample == 0:
            plasma.append(1000 * x[0] / v1)
            effect.append(x[3])
    return plasma, effect
