"""Alarm limits: CLINICAL.md's defaults, and overrides that cannot silently switch an alarm off."""

from __future__ import annotations

import math

import pytest

from monitor.domain.limits import DEFAULT_LIMITS, Limits, LimitsError


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
    ],
)
def test_defaults_are_clinical_md(name: str, default: float) -> None:
    assert getattr(DEFAULT_LIMITS, name) == default


def test_the_defaults_pass_their_own_check() -> None:
    DEFAULT_LIMITS.check()


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

    assert "unknown limit sbp_hihg" in str(caught.value)
    assert "sbp_high" in str(caught.value)


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
        ({"hr_delay_s": -1}, "hr_delay_s must be positive"),
        ({"spo2_delay_s": -15}, "spo2_delay_s must be positive"),
        ({"hr_delay_s": 0}, "hr_delay_s must be positive"),
        ({"recovery_window_s": -1200}, "recovery_window_s must be positive"),
        ({"continuous_stale_s": 0}, "continuous_stale_s must be positive"),
        ({"bp_hysteresis_mmhg": -5}, "bp_hysteresis_mmhg must be positive"),
        ({"sbp_rise": -40}, "sbp_rise must be positive"),
        ({"spo2_low": 101, "spo2_critical": 95}, "spo2_low must be at most 100"),
        ({"recovery_tolerance": 1.0}, "recovery_tolerance is a fraction"),
        ({"recovery_tolerance": 20}, "recovery_tolerance is a fraction"),
        ({"recovery_readings": 0}, "recovery_readings must be positive"),
        ({"recovery_readings": 2.5}, "recovery_readings must be a whole number"),
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

    assert "sbp_low must be below sbp_high" in str(caught.value)
    assert "hr_delay_s must be positive" in str(caught.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sbp_high": math.nan},
        {"hr_delay_s": math.nan},
        {"spo2_low": math.nan},
    ],
)
def test_a_limit_that_is_not_a_number_is_rejected(overrides: dict[str, float]) -> None:
    """NaN compares false with everything: as a limit it would silently switch its alarm off."""
    with pytest.raises(LimitsError):
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
