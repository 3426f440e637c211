"""Alarm limits: CLINICAL.md's defaults, and overrides that cannot silently switch an alarm off."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from monitor.domain.limits import DEFAULT_LIMITS, RANGES, Limit, Limits, LimitsError


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("sbp_high", 180),
        ("dbp_high", 110),
        ("sbp_rise", 40),
        ("dbp_rise", 25),
        ("sbp_low", 90),
        ("hr_high", 120),
        ("hr_low", 45),
        ("hr_delay_s", 10),
        ("spo2_low", 90),
        ("spo2_delay_s", 15),
        ("spo2_critical", 85),
        ("preinfusion_sbp_warn", 140),
        ("preinfusion_dbp_warn", 90),
        ("preinfusion_sbp_stop", 180),
        ("preinfusion_dbp_stop", 110),
        ("recovery_tolerance", 0.20),
        ("recovery_window_s", 20 * 60),
        ("recovery_readings", 2),
        ("recovery_cuff_spacing_s", 3 * 60),
        ("recovery_spo2_min", 94),
        ("recovery_spo2_drop", 3),
        ("bp_worse_mmhg", 20),
        ("hr_worse_per_min", 20),
        ("baseline_spread_mmhg", 20),
    ],
)
def test_defaults_are_clinical_md(name: str, default: float) -> None:
    assert getattr(DEFAULT_LIMITS, name) == default


def test_the_defaults_pass_their_own_check() -> None:
    DEFAULT_LIMITS.check()


def test_the_limit_names_are_the_fields_of_limits_in_their_order() -> None:
    """In order, too: `check` names the problems in this order."""
    assert [limit.value for limit in Limit] == [f.name for f in fields(Limits)]


@pytest.mark.parametrize("limit", list(Limit), ids=str)
def test_value_reads_the_limit_it_names_as_a_float(limit: Limit) -> None:
    value = DEFAULT_LIMITS.value(limit)

    assert isinstance(value, float)
    assert value == getattr(DEFAULT_LIMITS, limit.value)


def test_every_limit_has_a_clinical_range_and_its_default_lies_inside_it() -> None:
    names = [f.name for f in fields(Limits)]

    assert set(RANGES) == set(Limit)
    assert all(isinstance(name, Limit) for name in RANGES)
    assert sorted(RANGES) == sorted(names)
    outside = {
        name: (getattr(DEFAULT_LIMITS, name), RANGES[name])
        for name in names
        if not RANGES[name][0] <= getattr(DEFAULT_LIMITS, name) <= RANGES[name][1]
    }
    assert outside == {}
    assert all(low < high for low, high in RANGES.values())


# CLINICAL.md, safety rule 6: (limit, range, unit, what its partner must be for the edge to pass).
CLINICAL_RANGES: list[tuple[str, float, float, str, dict[str, float]]] = [
    ("sbp_low", 60, 120, "mmHg", {}),
    ("sbp_high", 140, 240, "mmHg", {}),
    ("dbp_high", 90, 140, "mmHg", {}),
    ("spo2_low", 80, 97, "%", {"spo2_critical": 75}),
    ("spo2_critical", 70, 92, "%", {"spo2_low": 95}),
    ("hr_low", 30, 60, "/min", {}),
    ("hr_high", 100, 180, "/min", {}),
    ("spo2_delay_s", 0, 30, "s", {}),
    ("hr_delay_s", 0, 30, "s", {}),
]


@pytest.mark.parametrize(
    ("name", "low", "high", "unit", "partner"), CLINICAL_RANGES, ids=[r[0] for r in CLINICAL_RANGES]
)
def test_clinical_md_s_ranges_accept_their_edges_and_refuse_just_outside(
    name: str, low: float, high: float, unit: str, partner: dict[str, float]
) -> None:
    assert RANGES[name] == (low, high)
    for edge in (low, high):
        assert getattr(DEFAULT_LIMITS.with_overrides({name: edge, **partner}), name) == edge
    for outside in (low - 0.5, high + 0.5):
        with pytest.raises(LimitsError) as caught:
            DEFAULT_LIMITS.with_overrides({name: outside, **partner})
        assert str(caught.value) == (
            f"{name} {outside:g} is outside its clinical range {low:g}-{high:g} {unit}"
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"sbp_hihg": 170},
        {"SBP_HIGH": 170},
        {"hr_delay": 5},
        {"sbp_high": 170, "spo2_lo": 88},
    ],
)
def test_an_unknown_limit_is_rejected_by_name(overrides: dict[str, float]) -> None:
    unknown = next(name for name in overrides if name not in DEFAULT_LIMITS.as_dict())

    with pytest.raises(LimitsError, match=unknown):
        DEFAULT_LIMITS.with_overrides(overrides)


def test_the_unknown_limit_message_lists_the_known_ones() -> None:
    with pytest.raises(LimitsError) as caught:
        DEFAULT_LIMITS.with_overrides({"sbp_hihg": 170})

    assert str(caught.value) == (
        f"unknown limit sbp_hihg; known limits: {', '.join(sorted(Limit))}"
    )
    assert "sbp_high" in str(caught.value)


@pytest.mark.parametrize("limit", list(Limit), ids=str)
def test_every_limit_can_be_named_in_an_override(limit: Limit) -> None:
    value = DEFAULT_LIMITS.value(limit)

    assert DEFAULT_LIMITS.with_overrides({limit.value: value}) == DEFAULT_LIMITS


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"sbp_low": 180}, "sbp_low must be below sbp_high"),
        ({"sbp_low": 200}, "sbp_low must be below sbp_high"),
        ({"sbp_high": 85}, "sbp_low must be below sbp_high"),
        ({"hr_low": 120}, "hr_low must be below hr_high"),
        ({"hr_high": 40}, "hr_low must be below hr_high"),
        ({"spo2_critical": 90}, "spo2_critical must be below spo2_low"),
        ({"spo2_low": 84}, "spo2_critical must be below spo2_low"),
        ({"preinfusion_sbp_warn": 180}, "preinfusion_sbp_warn must be below preinfusion_sbp_stop"),
        ({"preinfusion_dbp_stop": 85}, "preinfusion_dbp_warn must be below preinfusion_dbp_stop"),
        ({"spo2_critical": 90, "spo2_low": 90}, "spo2_critical must be below spo2_low"),
        (
            {"preinfusion_sbp_warn": 160, "preinfusion_sbp_stop": 150},
            "preinfusion_sbp_warn must be below preinfusion_sbp_stop",
        ),
        ({"sbp_low": 9}, "sbp_low 9 is outside its clinical range 60-120 mmHg"),
        ({"sbp_high": 1800}, "sbp_high 1800 is outside its clinical range 140-240 mmHg"),
        ({"hr_delay_s": -1}, "hr_delay_s -1 is outside its clinical range 0-30 s"),
        ({"spo2_delay_s": -15}, "spo2_delay_s -15 is outside its clinical range 0-30 s"),
        ({"spo2_delay_s": 1500}, "spo2_delay_s 1500 is outside its clinical range 0-30 s"),
        ({"recovery_window_s": -1200}, "recovery_window_s -1200 is outside its clinical range"),
        ({"continuous_stale_s": 0}, "continuous_stale_s 0 is outside its clinical range 10-300 s"),
        ({"bp_hysteresis_mmhg": -5}, "bp_hysteresis_mmhg -5 is outside its clinical range"),
        ({"sbp_rise": -40}, "sbp_rise -40 is outside its clinical range 20-80 mmHg"),
        ({"spo2_low": 101, "spo2_critical": 95}, "spo2_low 101 is outside its clinical range"),
        ({"spo2_low": 101, "spo2_critical": 95}, "spo2_critical 95 is outside its clinical range"),
        (
            {"recovery_tolerance": 1.0},
            "recovery_tolerance 1 is outside its clinical range 0.05-0.5",
        ),
        ({"recovery_tolerance": 20}, "recovery_tolerance 20 is outside its clinical range"),
        ({"recovery_readings": 1}, "recovery_readings 1 is outside its clinical range 2-5"),
        ({"recovery_readings": 6}, "recovery_readings 6 is outside its clinical range 2-5"),
        ({"recovery_readings": 2.5}, "recovery_readings must be a whole number"),
        ({"recovery_cuff_spacing_s": 0}, "recovery_cuff_spacing_s 0 is outside its clinical range"),
        ({"recovery_spo2_min": 80}, "recovery_spo2_min 80 is outside its clinical range 88-98 %"),
        ({"bp_worse_mmhg": 1000}, "bp_worse_mmhg 1000 is outside its clinical range 5-40 mmHg"),
        ({"hr_worse_per_min": 0}, "hr_worse_per_min 0 is outside its clinical range 5-40 /min"),
        ({"baseline_spread_mmhg": 200}, "baseline_spread_mmhg 200 is outside its clinical range"),
    ],
)
def test_nonsense_is_rejected_saying_what_is_wrong(
    overrides: dict[str, float], complaint: str
) -> None:
    with pytest.raises(LimitsError) as caught:
        DEFAULT_LIMITS.with_overrides(overrides)

    assert complaint in str(caught.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(LimitsError) as caught:
        DEFAULT_LIMITS.with_overrides({"sbp_low": 200, "hr_delay_s": -1})

    assert str(caught.value).split("; ") == [
        "sbp_low 200 is outside its clinical range 60-120 mmHg",
        "hr_delay_s -1 is outside its clinical range 0-30 s",
        "sbp_low must be below sbp_high",
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"sbp_high": math.nan},
        {"hr_delay_s": math.nan},
        {"spo2_low": math.nan},
        {"sbp_high": math.inf},
        {"sbp_low": -math.inf},
    ],
)
def test_a_limit_that_is_not_a_number_is_rejected(overrides: dict[str, float]) -> None:
    """NaN compares false with everything: as a limit it would silently switch its alarm off."""
    [name] = overrides
    with pytest.raises(LimitsError, match=f"{name} .* is outside its clinical range"):
        DEFAULT_LIMITS.with_overrides(overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sbp_high": 170}, {"sbp_high": 170.0}),
        ({"hr_high": 110, "hr_delay_s": 20}, {"hr_high": 110.0, "hr_delay_s": 20.0}),
        ({"spo2_low": 92, "spo2_critical": 88}, {"spo2_low": 92.0, "spo2_critical": 88.0}),
        ({"recovery_tolerance": 0.15}, {"recovery_tolerance": 0.15}),
        ({"recovery_readings": 3.0}, {"recovery_readings": 3}),
    ],
)
def test_valid_overrides_apply_and_nothing_else_moves(
    overrides: dict[str, float], expected: dict[str, float]
) -> None:
    limits = DEFAULT_LIMITS.with_overrides(overrides)

    after = limits.as_dict()
    before = DEFAULT_LIMITS.as_dict()
    assert {k: after[k] for k in expected} == expected
    assert {k: v for k, v in after.items() if k not in expected} == {
        k: v for k, v in before.items() if k not in expected
    }


def test_overrides_keep_each_limit_s_type() -> None:
    limits = DEFAULT_LIMITS.with_overrides({"sbp_high": 170, "recovery_readings": 3.0})

    assert isinstance(limits.sbp_high, float)
    assert isinstance(limits.recovery_readings, int)
    assert limits.recovery_readings == 3


def test_overrides_never_change_the_limits_they_start_from() -> None:
    clinic = Limits().with_overrides({"sbp_high": 170})

    patient = clinic.with_overrides({"hr_high": 110})

    assert DEFAULT_LIMITS.sbp_high == 180
    assert clinic.hr_high == 120
    assert (patient.sbp_high, patient.hr_high) == (170, 110)


def test_no_overrides_gives_equal_limits() -> None:
    assert DEFAULT_LIMITS.with_overrides({}) == DEFAULT_LIMITS


def test_a_patient_override_is_checked_against_the_clinic_s_limits() -> None:
    """A clinic that lowered sbp_high: a patient's sbp_low must still stay below it."""
    clinic = DEFAULT_LIMITS.with_overrides({"sbp_high": 150})

    with pytest.raises(LimitsError, match="sbp_low must be below sbp_high"):
        clinic.with_overrides({"sbp_low": 155})


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_whole_number_limit_that_is_not_finite_is_refused_not_crashed(value: float) -> None:
    with pytest.raises(
        LimitsError, match=r"recovery_readings .* is outside its clinical range 2-5"
    ):
        Limits().with_overrides({"recovery_readings": value})
