"""The artefact screen: what a reading may be trusted for, and why the rest was set aside."""

from __future__ import annotations

import pytest

from monitor.domain.vitals import (
    NIBP_VITALS,
    PLAUSIBLE_RANGE,
    Reading,
    TechnicalCondition,
    Vital,
    screen,
)

TS = 1_795_000_000.0


def _reading(**kwargs: object) -> Reading:
    return Reading(ts=TS, seq=1, **kwargs)


def _artefact_vitals(reading: Reading) -> dict[Vital, str]:
    return {a.vital: a.reason for a in screen(reading).artefacts}


def test_a_plausible_reading_passes_whole() -> None:
    reading = _reading(hr=72, spo2=97, sbp=134, dbp=86, map=102, technical=frozenset())

    screened = screen(reading)

    assert screened.values == {
        Vital.HR: 72,
        Vital.SPO2: 97,
        Vital.SBP: 134,
        Vital.DBP: 86,
        Vital.MAP: 102,
    }
    assert screened.artefacts == ()
    assert screened.ts == TS
    assert screened.has_nibp


@pytest.mark.parametrize(
    ("fields", "vital"),
    [
        ({"hr": 0, "spo2": 97}, Vital.HR),
        ({"spo2": 0, "hr": 70}, Vital.SPO2),
        ({"sbp": 0, "dbp": 80}, Vital.SBP),
        ({"sbp": 120, "dbp": 0}, Vital.DBP),
        ({"sbp": 120, "dbp": 80, "map": 0}, Vital.MAP),
    ],
)
def test_zero_means_no_valid_value(fields: dict[str, float], vital: Vital) -> None:
    screened = screen(_reading(**fields))

    assert vital not in screened.values
    reasons = {a.vital: a.reason for a in screened.artefacts}
    assert "0 means no valid value" in reasons[vital]
    assert next(a for a in screened.artefacts if a.vital is vital).value == 0


@pytest.mark.parametrize(
    ("fields", "vital", "shown"),
    [
        ({"hr": 19}, Vital.HR, "HR 19 outside 20-250"),
        ({"hr": 251}, Vital.HR, "HR 251 outside"),
        ({"hr": 277}, Vital.HR, "HR 277 outside"),
        ({"hr": -5}, Vital.HR, "HR -5 outside"),
        ({"spo2": 39}, Vital.SPO2, "SpO2 39 outside 40-100"),
        ({"spo2": 101}, Vital.SPO2, "SpO2 101 outside"),
        ({"sbp": 49, "dbp": 30}, Vital.SBP, "SBP 49 outside 50-280"),
        ({"sbp": 281, "dbp": 100}, Vital.SBP, "SBP 281 outside"),
        ({"sbp": 120, "dbp": 19}, Vital.DBP, "DBP 19 outside 20-180"),
        ({"sbp": 250, "dbp": 181}, Vital.DBP, "DBP 181 outside"),
        ({"sbp": 120, "dbp": 80, "map": 29}, Vital.MAP, "MAP 29 outside 30-220"),
        ({"sbp": 120, "dbp": 80, "map": 221}, Vital.MAP, "MAP 221 outside"),
    ],
)
def test_values_no_living_patient_shows_are_artefacts(
    fields: dict[str, float], vital: Vital, shown: str
) -> None:
    screened = screen(_reading(**fields))

    assert vital not in screened.values
    assert shown in _artefact_vitals(_reading(**fields))[vital]


@pytest.mark.parametrize("vital", list(Vital))
def test_the_edges_of_the_plausible_range_are_valid(vital: Vital) -> None:
    low, high = PLAUSIBLE_RANGE[vital]
    for value in (low, high):
        fields: dict[str, float] = {vital.value: value}
        if vital in NIBP_VITALS:  # a cuff value needs its partner to stand
            fields = {"sbp": 200, "dbp": 100, vital.value: value}
            if vital is Vital.DBP:
                fields["sbp"] = max(value * 1.4, 100)  # a pulse pressure of a real cuff reading
            if vital is Vital.SBP:
                fields["dbp"] = min(value - 20, 100)

        screened = screen(_reading(**fields))

        assert screened.values[vital] == value, screened.artefacts


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sbp": 130}, "without both SBP and DBP"),
        ({"dbp": 85}, "without both SBP and DBP"),
        ({"sbp": 130, "map": 100}, "without both SBP and DBP"),
        ({"sbp": 100, "dbp": 91}, "pulse pressure 9 mmHg below 10"),
        ({"sbp": 60, "dbp": 58, "map": 59}, "pulse pressure 2 mmHg below 10"),
        ({"sbp": 300, "dbp": 80, "map": 150}, "rest of an implausible cuff reading"),
        ({"sbp": 120, "dbp": 10, "map": 50}, "rest of an implausible cuff reading"),
    ],
)
def test_a_cuff_reading_that_cannot_stand_is_set_aside_whole(
    fields: dict[str, float], reason: str
) -> None:
    screened = screen(_reading(hr=70, **fields))

    assert not screened.has_nibp
    assert not any(v in screened.values for v in NIBP_VITALS)
    set_aside = {a.vital for a in screened.artefacts}
    assert set_aside == {Vital(name) for name in fields}
    assert any(reason in a.reason for a in screened.artefacts)
    assert screened.values == {Vital.HR: 70}  # the rest of the reading still stands


def test_a_pulse_pressure_of_exactly_ten_is_a_blood_pressure() -> None:
    screened = screen(_reading(sbp=100, dbp=90))

    assert screened.values == {Vital.SBP: 100, Vital.DBP: 90}
    assert screened.has_nibp


@pytest.mark.parametrize(
    ("flag", "vital", "reason"),
    [
        (TechnicalCondition.SPO2_PROBE_OFF, Vital.SPO2, "probe off"),
        (TechnicalCondition.LEADS_OFF, Vital.HR, "leads off"),
    ],
)
def test_a_value_reported_with_its_sensor_off_is_an_artefact(
    flag: TechnicalCondition, vital: Vital, reason: str
) -> None:
    screened = screen(_reading(hr=72, spo2=96, technical=frozenset({flag.value})))

    assert vital not in screened.values
    assert reason in _artefact_vitals(_reading(hr=72, spo2=96, technical=frozenset({flag})))[vital]
    assert len(screened.values) == 1  # the other vital is untouched
    assert screened.technical == frozenset({flag.value})


def test_motion_alone_does_not_discard_spo2() -> None:
    screened = screen(_reading(spo2=93, technical=frozenset({"spo2_motion"})))

    assert screened.values == {Vital.SPO2: 93}
    assert screened.artefacts == ()


def test_mimic_like_junk_is_all_artefact() -> None:
    """Seen in a real 72-minute record: NIBP 40/10 and a pulse of 277."""
    screened = screen(_reading(hr=277, sbp=40, dbp=10, map=20))

    assert screened.values == {}
    assert {a.vital for a in screened.artefacts} == {Vital.HR, Vital.SBP, Vital.DBP, Vital.MAP}
    assert all(a.reason for a in screened.artefacts)
    assert {a.vital: a.value for a in screened.artefacts} == {
        Vital.HR: 277,
        Vital.SBP: 40,
        Vital.DBP: 10,
        Vital.MAP: 20,
    }


def test_an_empty_reading_screens_to_nothing() -> None:
    screened = screen(_reading())

    assert screened.values == {}
    assert screened.artefacts == ()
    assert not screened.has_nibp


def test_reading_has_nibp_only_with_a_cuff_value() -> None:
    assert _reading(sbp=120).has_nibp
    assert _reading(dbp=80).has_nibp
    assert not _reading(hr=70, spo2=97, map=90).has_nibp


@pytest.mark.parametrize(
    ("sbp", "dbp", "artefact"),
    [
        (147, 118, True),  # MIMIC-II s25047: a narrow pulse with a high diastolic
        (130, 125, True),
        (140, 111, True),  # MIMIC-II s25047 again, next to 92/59 and 77/37
        (200, 140, False),  # a hypertensive crisis keeps a real pulse pressure
        (85, 70, False),  # narrow but low: shock is real, sbp_low must still fire
        (120, 80, False),
    ],
)
def test_a_narrow_pulse_pressure_is_an_artefact_only_with_a_high_diastolic(
    sbp: float, dbp: float, artefact: bool
) -> None:
    screened = screen(_reading(sbp=sbp, dbp=dbp))

    assert (Vital.SBP not in screened.values) is artefact
    assert (Vital.DBP not in screened.values) is artefact


def test_a_mean_pressure_alone_is_an_artefact() -> None:
    screened = screen(_reading(map=99))

    assert Vital.MAP not in screened.values
    assert [a.reason for a in screened.artefacts] == ["cuff reading without both SBP and DBP"]
