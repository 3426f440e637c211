"""Ketamine pharmacokinetics for the simulated patient: plasma and effect-site concentrations.

How this works (sources in CLINICAL.md, "Ketamine pharmacology for the simulator"):

- Domino's three-compartment model: a central compartment (V1) exchanging drug with a fast and a
  slow peripheral compartment, eliminating from the central one. Rates k10 k12 k13 k21 k31 are
  Domino's, per minute. Volumes scale with body weight, so a dose in mg/kg gives the same
  concentrations in every patient.
- Domino's V1 of 0.063 L/kg puts the peak of 0.5 mg/kg over 40 minutes at about 240 ng/mL, about
  30 % above the 185 ng/mL Zarate 2006 measured for that dose. V1 is scaled by 240/185 to match
  Zarate; the rates, and so the shape of the curve, are Domino's.
- An effect-site compartment, dCe/dt = ke0 (Cp - Ce), carries the delay between the plasma
  level and what the body does about it. It holds no drug (it takes no mass from the central one).
  A patient whose response outlasts the drug (the esketamine label: the BP rise lasts about 4 h)
  gets a slower rate on the way down (`offset_ke0_per_min`, used while Ce > Cp) than on the way
  up; the rate is chosen at the start of each step, so the only approximation is within the one
  step where Ce crosses Cp, where the two are equal anyway.
- The pump delivers a constant rate between changes, so the whole system is linear with a constant
  input over each step. A step is then exact: x(t + dt) = Phi x(t) + Gamma u, with Phi and Gamma
  read off the exponential of the augmented matrix [[A, b], [0, 0]] dt. The exponential is
  computed once per step length (scaling and squaring of a Taylor series, which is exact to
  rounding for a 5 x 5 matrix this small and needs no scipy). A stepped session agrees with a
  fine-grained integration whatever the step length (the unit tests hold it to 1 % of RK4).

Pure: no clock and no randomness; time only moves when `advance` is called.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

DOMINO_V1_L_PER_KG = 0.063
ZARATE_PEAK_NG_ML = 185.0  # 0.5 mg/kg over 40 min (Zarate 2006)
DOMINO_PEAK_NG_ML = 240.33  # the same dose through Domino's model as published
V1_L_PER_KG = DOMINO_V1_L_PER_KG * DOMINO_PEAK_NG_ML / ZARATE_PEAK_NG_ML
K10, K12, K13, K21, K31 = 0.4381, 0.5921, 0.5900, 0.2470, 0.0146  # per minute (Domino)
NG_ML_PER_MG_L = 1000.0
_TAYLOR_TERMS = 20
_CACHED_STEPS = 16  # distinct step lengths kept; a fixed-rate caller uses one


class Pharmacokinetics:
    """Ketamine in one patient under a piecewise-constant infusion.

    Args:
        weight_kg: body weight; all volumes scale with it.
        ke0_per_min: rate at which the effect site catches up with plasma (ln 2 / ke0 is the
            half-time of the lag).
        offset_ke0_per_min: the same while the effect site is above plasma (the effect wearing
            off); defaults to `ke0_per_min`.
    """

    def __init__(
        self, *, weight_kg: float, ke0_per_min: float, offset_ke0_per_min: float | None = None
    ) -> None:
        offset = ke0_per_min if offset_ke0_per_min is None else offset_ke0_per_min
        if min(weight_kg, ke0_per_min, offset) <= 0:
            raise ValueError(
                "weight_kg, ke0_per_min and offset_ke0_per_min must be positive "
                f"(got {weight_kg}, {ke0_per_min}, {offset_ke0_per_min})"
            )
        self._v1_l = V1_L_PER_KG * weight_kg
        self._onset = _Stepper(_augmented_system(v1_l=self._v1_l, ke0_per_min=ke0_per_min))
        self._offset = (
            self._onset
            if offset == ke0_per_min
            else _Stepper(_augmented_system(v1_l=self._v1_l, ke0_per_min=offset))
        )
        self._state: Array = np.zeros(4)  # amounts A1 A2 A3 (mg), effect-site Ce (ng/mL)
        self._rate_mg_per_min = 0.0

    def set_rate(self, mg_per_min: float) -> None:
        """Set the pump rate from now on (0 stops or pauses it)."""
        if mg_per_min < 0:
            raise ValueError(f"an infusion rate cannot be negative (got {mg_per_min} mg/min)")
        self._rate_mg_per_min = mg_per_min

    def advance(self, seconds: float) -> None:
        """Move the drug on by `seconds` at the current rate."""
        if seconds < 0:
            raise ValueError(f"time only moves forward (got {seconds} s)")
        if seconds == 0:
            return
        stepper = self._onset
        if self._offset is not self._onset and self.effect_ng_ml > self.plasma_ng_ml:
            stepper = self._offset
        self._state = stepper.step(self._state, self._rate_mg_per_min, seconds)

    @property
    def rate_mg_per_min(self) -> float:
        return self._rate_mg_per_min

    @property
    def plasma_ng_ml(self) -> float:
        """Concentration in the central compartment (Cp)."""
        return float(self._state[0]) / self._v1_l * NG_ML_PER_MG_L

    @property
    def effect_ng_ml(self) -> float:
        """Concentration at the effect site (Ce), which the response is driven by."""
        return float(self._state[3])


class _Stepper:
    """Exact steps of one linear system x' = A x + b u, one matrix exponential per step length."""

    def __init__(self, system: Array) -> None:
        self._system = system
        self._steps: dict[float, tuple[Array, Array]] = {}

    def step(self, state: Array, rate: float, seconds: float) -> Array:
        phi, gamma = self._steps.get(seconds) or self._prepare(seconds)
        return phi @ state + gamma * rate

    def _prepare(self, seconds: float) -> tuple[Array, Array]:
        if len(self._steps) >= _CACHED_STEPS:
            self._steps.clear()
        exp = _expm(self._system * (seconds / 60.0))
        step = self._steps[seconds] = (exp[:4, :4].copy(), exp[:4, 4].copy())
        return step


def _augmented_system(*, v1_l: float, ke0_per_min: float) -> Array:
    """[[A, b], [0, 0]] for the state (A1, A2, A3, Ce) and the input rate in mg/min."""
    ce_per_a1 = ke0_per_min * NG_ML_PER_MG_L / v1_l
    return np.array(
        [
            [-(K10 + K12 + K13), K21, K31, 0.0, 1.0],
            [K12, -K21, 0.0, 0.0, 0.0],
            [K13, 0.0, -K31, 0.0, 0.0],
            [ce_per_a1, 0.0, 0.0, -ke0_per_min, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )


def _expm(matrix: Array) -> Array:
    """exp(matrix) by scaling and squaring: halve until small, sum the series, square back."""
    norm = float(np.abs(matrix).sum(axis=1).max())
    squarings = max(0, int(np.ceil(np.log2(norm / 0.5)))) if norm > 0.5 else 0
    scaled = matrix / 2.0**squarings
    result = np.eye(len(matrix))
    term = np.eye(len(matrix))
    for k in range(1, _TAYLOR_TERMS + 1):
        term = term @ scaled / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result
