"""The screen: what is impossible and set aside, what is valid, and what is valid but in doubt."""

from __future__ import annotations

import pytest

from monitor.domain.vitals import (
    CHECK_CUFF,
    CHECK_LEADS,
    CHECK_PROBE,
    MOTION_NOTE,
    NIBP_VITALS,
    Reading,
    TechnicalCondition,
    Vital,
    screen,
)

TS = 1_795_000_000.0


def _reading(**kwargs: object) -> Reading:
    return Reading(ts=TS, seq=1, **kwargs)


def _reasons(reading: Reading) -> dict[Vital, str]:
    return {a.vital: a.reason for a in screen(reading).artefacts}


def test_a_plain_reading_passes_whole_with_no_doubt() -> None:
    reading = _reading(hr=72, pr=71, spo2=97, sbp=134, dbp=86, map=102)

    screened = screen(reading)

    assert screened.values == {
        Vital.HR: 72,
        Vital.PR: 71,
        Vital.SPO2: 97,
        Vital.SBP: 134,
        Vital.DBP: 86,
        Vital.MAP: 102,
    }
    assert screened.artefacts == ()
    assert screened.doubts == {}
    assert screened.ts == TS
    assert screened.has_nibp


@pytest.mark.parametrize(
    ("fields", "vital"),
    [
        ({"hr": 0, "spo2": 97}, Vital.HR),
        ({"spo2": 0, "hr": 70}, Vital.SPO2),
        ({"pr": 0, "hr": 70}, Vital.PR),
        ({"sbp": 0, "dbp": 80}, Vital.SBP),
        ({"sbp": 120, "dbp": 0}, Vital.DBP),
        ({"sbp": 120, "dbp": 80, "map": 0}, Vital.MAP),
    ],
)
def test_zero_means_no_valid_value(fields: dict[str, float], vital: Vital) -> None:
    screened = screen(_reading(**fields))

    assert vital not in screened.values
    assert "0 means no valid value" in _reasons(_reading(**fields))[vital]


@pytest.mark.parametrize(
    ("fields", "vital", "shown"),
    [
        ({"hr": 351}, Vital.HR, "HR 351 above 350 /min: impossible"),
        ({"hr": -5}, Vital.HR, "HR -5 is negative"),
        ({"pr": 400}, Vital.PR, "PR 400 above 350"),
        ({"spo2": 101}, Vital.SPO2, "SpO2 101 above 100 %"),
        ({"spo2": -1}, Vital.SPO2, "negative"),
        ({"sbp": 301, "dbp": 100}, Vital.SBP, "SBP 301 above 300 mmHg"),
        ({"sbp": 120, "dbp": -10}, Vital.DBP, "negative"),
        ({"sbp": 120, "dbp": 80, "map": 320}, Vital.MAP, "MAP 320 above 300"),
    ],
)
def test_only_the_physically_impossible_is_set_aside(
    fields: dict[str, float], vital: Vital, shown: str
) -> None:
    screened = screen(_reading(**fields))

    assert vital not in screened.values
    assert shown in _reasons(_reading(**fields))[vital]


@pytest.mark.parametrize(
    "fields",
    [
        {"sbp": 48, "dbp": 30},
        {"sbp": 90, "dbp": 18},
        {"sbp": 72, "dbp": 64},
        {"hr": 18},
        {"hr": 277},
        {"sbp": 220},  # a cuff reading with no DBP
        {"dbp": 85},
        {"map": 99},
        {"spo2": 30},
        {"sbp": 150, "dbp": 115},
        {"sbp": 190, "dbp": 145},
        {"sbp": 300, "dbp": 80},
        {"hr": 350, "spo2": 100},
    ],
)
def test_odd_but_possible_values_are_valid(fields: dict[str, float]) -> None:
    screened = screen(_reading(**fields))

    assert screened.artefacts == ()
    assert {v.value: x for v, x in screened.values.items()} == fields


@pytest.mark.parametrize(
    ("fields", "doubted", "advice", "why"),
    [
        ({"sbp": 150, "dbp": 115}, {Vital.SBP, Vital.DBP}, CHECK_CUFF, "narrow pulse pressure"),
        ({"sbp": 146, "dbp": 111}, {Vital.SBP, Vital.DBP}, CHECK_CUFF, "narrow"),
        ({"sbp": 72, "dbp": 64}, {Vital.SBP, Vital.DBP}, CHECK_CUFF, "narrow"),
        ({"sbp": 48, "dbp": 30}, {Vital.SBP}, CHECK_CUFF, "SBP 48 below 50"),
        ({"hr": 18}, {Vital.HR}, CHECK_LEADS, "HR 18 below 25"),
        ({"spo2": 45}, {Vital.SPO2}, CHECK_PROBE, "SpO2 45 below 50"),
    ],
)
def test_questionable_values_stay_valid_with_a_note(
    fields: dict[str, float], doubted: set[Vital], advice: str, why: str
) -> None:
    screened = screen(_reading(**fields))

    assert set(screened.values) == {Vital(name) for name in fields}
    assert set(screened.doubts) == doubted
    for vital in doubted:
        note = screened.note(vital)
        assert note is not None
        assert note.startswith(advice)
        assert why in note


@pytest.mark.parametrize(
    ("vital", "before", "now", "seconds", "doubted"),
    [
        (Vital.SBP, 120, 185, 600, True),
        (Vital.SBP, 120, 165, 600, False),  # 45 mmHg: within what ketamine does
        (Vital.SBP, 120, 185, 1500, False),  # long ago: no neighbour to compare with
        (Vital.HR, 70, 125, 2, True),
        (Vital.HR, 70, 125, 60, False),
        (Vital.SPO2, 98, 70, 3, True),
        (Vital.SPO2, 98, 85, 3, False),
    ],
)
def test_a_jump_far_from_the_previous_value_is_questionable(
    vital: Vital, before: float, now: float, seconds: float, doubted: bool
) -> None:
    fields: dict[str, float] = {vital.value: now}
    if vital is Vital.SBP:
        fields["dbp"] = 80
    previous = {vital: (TS - seconds, float(before))}

    screened = screen(_reading(**fields), previous=previous)

    assert (vital in screened.doubts) is doubted
    assert vital in screened.values


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sbp": 100, "dbp": 100}, "DBP 100 at or above SBP 100: impossible"),
        ({"sbp": 80, "dbp": 95, "map": 90}, "DBP 95 at or above SBP 80"),
    ],
)
def test_a_cuff_reading_whose_dbp_is_not_below_sbp_is_set_aside_whole(
    fields: dict[str, float], reason: str
) -> None:
    screened = screen(_reading(hr=70, **fields))

    assert not screened.has_cuff_value
    assert {a.vital for a in screened.artefacts} == {Vital(name) for name in fields}
    assert all(reason in a.reason for a in screened.artefacts)
    assert screened.values == {Vital.HR: 70}  # the rest of the reading still stands


def test_a_cuff_reading_flagged_failed_is_not_trusted_even_with_numbers() -> None:
    flagged = frozenset({TechnicalCondition.NIBP_FAILED.value})

    screened = screen(_reading(hr=70, sbp=210, dbp=120, map=150, technical=flagged))

    assert screened.values == {Vital.HR: 70}
    assert {a.vital for a in screened.artefacts} == set(NIBP_VITALS)
    assert all("nibp_failed" in a.reason for a in screened.artefacts)


def test_a_mean_outside_its_cuff_reading_is_dropped_alone() -> None:
    screened = screen(_reading(sbp=120, dbp=80, map=130))

    assert screened.values == {Vital.SBP: 120, Vital.DBP: 80}


@pytest.mark.parametrize(
    ("flag", "vitals", "reason"),
    [
        (TechnicalCondition.SPO2_PROBE_OFF, {Vital.SPO2, Vital.PR}, "probe off"),
        (TechnicalCondition.LEADS_OFF, {Vital.HR}, "leads off"),
    ],
)
def test_a_value_reported_with_its_sensor_off_is_set_aside(
    flag: TechnicalCondition, vitals: set[Vital], reason: str
) -> None:
    reading = _reading(hr=72, pr=72, spo2=96, technical=frozenset({flag.value}))

    screened = screen(reading)

    assert not vitals & set(screened.values)
    assert all(reason in why for why in _reasons(reading).values())
    assert screened.technical == frozenset({flag.value})


@pytest.mark.parametrize(
    ("fields", "motion"),
    [
        ({"spo2": 86, "hr": 72, "pr": 120}, True),
        ({"spo2": 86, "hr": 72, "pr": 92}, False),
        ({"spo2": 86, "hr": 72}, False),
        ({"spo2": 86, "technical": frozenset({"spo2_motion"})}, True),
    ],
)
def test_an_spo2_whose_pulse_disagrees_with_the_ecg_may_be_motion(
    fields: dict[str, object], motion: bool
) -> None:
    screened = screen(_reading(**fields))

    assert Vital.SPO2 in screened.values
    assert (screened.note(Vital.SPO2) == MOTION_NOTE) is motion


def test_an_empty_reading_screens_to_nothing() -> None:
    screened = screen(_reading())

    assert screened.values == {}
    assert screened.artefacts == ()
    assert not screened.has_nibp


def test_screen_can_place_a_reading_on_the_chair_timeline() -> None:
    assert screen(_reading(hr=70), ts=TS + 3600).ts == TS + 3600
