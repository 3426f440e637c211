"""The simulated bedside monitor on its own: its oximeter's pulse rate beside the ECG's HR, and
what it does with a cuff that measures junk."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from monitor.wire.payloads import ReadingIn
from simulators.bedside import BedsideMonitor, Disturbance, MonitorSettings
from simulators.patient import TrueVitals

CALM = TrueVitals(sbp=125.0, dbp=80.0, hr=72.0, spo2=97.0, effect=0.0)
QUIET = MonitorSettings(motion_per_hour=0.0, cuff_fail_rate=0.0, cuff_absurd_rate=0.0)
FAST_CUFF = MonitorSettings(
    cycle_infusing_s=60.0, motion_per_hour=0.0, cuff_fail_rate=0.0, cuff_absurd_rate=0.0
)


def run(
    disturbances: set[Disturbance],
    *,
    seconds: int = 3600,
    seed: int = 1,
    settings: MonitorSettings = QUIET,
) -> list[dict[str, Any]]:
    """A monitor stepped once a second on a calm patient under `disturbances`."""
    monitor = BedsideMonitor(np.random.default_rng(seed), settings)
    monitor.disturbances = set(disturbances)
    monitor.set_cycle(0.0, infusing=True)
    return [monitor.step(float(t), CALM) for t in range(seconds)]


def gaps(readings: list[dict[str, Any]]) -> list[int]:
    """|pr - hr| of the readings where both are valid."""
    return [abs(r["pr"] - r["hr"]) for r in readings if r["pr"] > 0 and r["hr"] > 0]


def test_every_reading_has_a_pulse_rate_beside_its_spo2_and_keeps_the_contract() -> None:
    readings = run({Disturbance.MOTION}, seconds=600) + run(set(), seconds=600)

    assert all(("pr" in r) == ("spo2" in r) for r in readings)
    assert all(ReadingIn.model_validate({"ts": 1_795_000_000, **r}).pr == r["pr"] for r in readings)


def test_at_rest_the_pulse_rate_follows_the_hr_with_noise_of_its_own() -> None:
    differences = gaps(run(set()))

    assert max(differences) <= 6
    assert sum(differences) / len(differences) < 2.5
    assert sum(1 for d in differences if d > 0) / len(differences) > 0.2  # not a copy of hr


def test_under_motion_the_pulse_rate_parts_from_the_hr_in_a_good_share_of_samples() -> None:
    moving = [r for r in run({Disturbance.MOTION}) if r["spo2"] > 0]
    differences = gaps(moving)
    parted = sum(1 for d in differences if d > 20) / len(differences)

    assert all("spo2_motion" in r["technical"] for r in moving)
    assert 0.25 < parted < 0.6  # about a third of them


def test_a_motion_dropout_and_a_probe_off_lose_the_spo2_and_the_pulse_rate_together() -> None:
    dropouts = [r for r in run({Disturbance.MOTION}) if r["spo2"] == 0 or r["pr"] == 0]
    probe_off = run({Disturbance.PROBE_OFF}, seconds=120)

    assert dropouts
    assert all(r["spo2"] == r["pr"] == 0 for r in dropouts)
    assert all(r["spo2"] == r["pr"] == 0 and "spo2_probe_off" in r["technical"] for r in probe_off)


def test_leads_off_loses_the_hr_but_not_the_oximeters_pulse_rate() -> None:
    readings = run({Disturbance.LEADS_OFF}, seconds=120)

    assert all(r["hr"] == 0 and "leads_off" in r["technical"] for r in readings)
    assert all(66 <= r["pr"] <= 78 for r in readings)


def _cuffs(disturbances: set[Disturbance], settings: MonitorSettings) -> Counter[str]:
    """Finished cuff measurements over a long run, by how they came out."""
    outcomes: Counter[str] = Counter()
    for seed in range(4):
        for r in run(disturbances, seconds=6 * 3600, seed=seed, settings=settings):
            flagged = "nibp_failed" in r.get("technical", [])
            nibp = r.get("nibp")
            if flagged:
                outcomes["flagged with numbers" if nibp else "flagged"] += 1
            elif nibp is not None:
                outcomes["true" if nibp["sys"] > 100 and nibp["dia"] < 100 else "absurd"] += 1
    return outcomes


def test_in_a_cuff_junk_episode_most_junk_is_flagged_by_the_monitor_and_a_few_are_not() -> None:
    outcomes = _cuffs({Disturbance.CUFF_JUNK}, FAST_CUFF)
    flagged = outcomes["flagged"] + outcomes["flagged with numbers"]
    junk = flagged + outcomes["absurd"]

    assert sum(outcomes.values()) > 500
    assert flagged / junk > 0.85
    assert 0.02 < outcomes["absurd"] / sum(outcomes.values()) < 0.1
    assert outcomes["flagged with numbers"] > 0  # the numbers it did not trust, sent flagged


def test_without_junk_the_cuff_is_almost_always_true() -> None:
    outcomes = _cuffs(set(), MonitorSettings(cycle_infusing_s=60.0, motion_per_hour=0.0))

    assert outcomes["true"] / sum(outcomes.values()) > 0.94
    assert outcomes["absurd"] < outcomes["flagged"] + outcomes["flagged with numbers"]


@pytest.mark.parametrize("disturbances", [set(), {Disturbance.MOTION, Disturbance.CUFF_JUNK}])
def test_the_same_seed_gives_the_same_readings(disturbances: set[Disturbance]) -> None:
    assert run(disturbances, seed=3, settings=FAST_CUFF) == run(
        disturbances, seed=3, settings=FAST_CUFF
    )
    assert run(disturbances, seed=3, settings=FAST_CUFF) != run(
        disturbances, seed=4, settings=FAST_CUFF
    )
