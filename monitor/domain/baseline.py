"""The patient's own baseline: the median of what was measured before the infusion started.

How this works: while a chair is in its baseline phase, every valid cuff reading and every valid
HR and SpO2 value is kept (HR and SpO2 only for the last `CONTINUOUS_WINDOW_S`). The baseline is
the median of the cuff readings (at least `MIN_NIBP_READINGS`) and of the continuous values. A
value a nurse entered at admission wins over a computed one. The baseline freezes when the
infusion starts; relative alarms and the recovery check use the frozen one.

Safety rule 10: a baseline must be trustworthy. Two cuffs further apart than
`baseline_spread_mmhg` do not make a baseline (which one is right?): they ask for a third, and the
median of three or more is taken. A baseline without a BP says why (`missing`), so the nurse sees
"baseline incomplete" instead of silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from statistics import median

from monitor.domain.vitals import CONTINUOUS_VITALS, Screened, Vital

MIN_NIBP_READINGS = 2
CONTINUOUS_WINDOW_S = 300.0
BASELINE_VITALS = (Vital.SBP, Vital.DBP, Vital.HR, Vital.SPO2)


class BaselineSource(StrEnum):
    MEASURED = "measured"
    ENTERED = "entered"
    MIXED = "mixed"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Baseline:
    """Baseline values per vital; a vital without enough data has no baseline (None)."""

    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    spo2: float | None = None
    source: BaselineSource = BaselineSource.NONE
    nibp_readings: int = 0
    missing: str | None = None  # why there is no BP baseline

    def value(self, vital: Vital) -> float | None:
        value: float | None = getattr(self, vital.value, None) if vital in BASELINE_VITALS else None
        return value

    @property
    def has_bp(self) -> bool:
        return self.sbp is not None and self.dbp is not None

    def as_dict(self) -> dict[str, float]:
        return {v.value: x for v in BASELINE_VITALS if (x := self.value(v)) is not None}


@dataclass(slots=True)
class BaselineSamples:
    """Pre-infusion measurements kept to compute the baseline."""

    nibp: list[tuple[float, float]] = field(default_factory=list)
    continuous: dict[Vital, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, screened: Screened) -> None:
        if screened.has_nibp:
            self.nibp.append((screened.values[Vital.SBP], screened.values[Vital.DBP]))
        for vital in CONTINUOUS_VITALS:
            if vital in screened.values:
                kept = self.continuous.setdefault(vital, [])
                kept.append((screened.ts, screened.values[vital]))
                cutoff = screened.ts - CONTINUOUS_WINDOW_S
                while kept and kept[0][0] < cutoff:
                    kept.pop(0)


DEFAULT_SPREAD_MMHG = 20.0


def compute_baseline(
    samples: BaselineSamples,
    entered: dict[Vital, float],
    *,
    spread_mmhg: float = DEFAULT_SPREAD_MMHG,
) -> Baseline:
    """Median of the samples, with entered values taking precedence vital by vital."""
    measured: dict[Vital, float] = {}
    missing = _bp_missing(samples.nibp, spread_mmhg)
    if missing is None:
        measured[Vital.SBP] = round(median(s for s, _ in samples.nibp), 1)
        measured[Vital.DBP] = round(median(d for _, d in samples.nibp), 1)
    for vital in CONTINUOUS_VITALS:
        kept = samples.continuous.get(vital)
        if kept:
            measured[vital] = round(median(v for _, v in kept), 1)
    values = {**measured, **entered}
    return Baseline(
        sbp=values.get(Vital.SBP),
        dbp=values.get(Vital.DBP),
        hr=values.get(Vital.HR),
        spo2=values.get(Vital.SPO2),
        source=_source(measured=set(measured) - set(entered), entered=set(entered)),
        nibp_readings=len(samples.nibp),
        missing=None if Vital.SBP in values and Vital.DBP in values else missing,
    )


def _bp_missing(cuffs: list[tuple[float, float]], spread_mmhg: float) -> str | None:
    """Why these cuffs make no BP baseline, or None when they do."""
    if len(cuffs) < MIN_NIBP_READINGS:
        return f"{len(cuffs)} of {MIN_NIBP_READINGS} baseline cuff readings"
    if len(cuffs) == MIN_NIBP_READINGS:
        (s1, d1), (s2, d2) = cuffs
        apart = max(abs(s1 - s2), abs(d1 - d2))
        if apart > spread_mmhg + 1e-9:
            return (
                f"baseline cuffs {s1:g}/{d1:g} and {s2:g}/{d2:g} differ by {apart:g} mmHg: "
                "take a third"
            )
    return None


def _source(*, measured: set[Vital], entered: set[Vital]) -> BaselineSource:
    if measured and entered:
        return BaselineSource.MIXED
    if entered:
        return BaselineSource.ENTERED
    if measured:
        return BaselineSource.MEASURED
    return BaselineSource.NONE
