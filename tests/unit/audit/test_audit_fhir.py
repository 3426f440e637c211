"""`audit export --format fhir`: a FHIR R4B Bundle the library reads back, coded as CLINICAL.md
says, one Observation per vital per reading."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from audit_day import T0, Day, Ward
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from monitor.audit.export import Format, export
from monitor.record import MemoryRecorder, Recorder
from monitor.wire.payloads import parse_event_time

LOINC = "http://loinc.org"


def _bundle(recorder: Recorder, session: str) -> Bundle:
    return Bundle.model_validate_json(export(recorder, session, format=Format.FHIR))


def _resources(bundle: Bundle, kind: type[Any]) -> list[Any]:
    return [e.resource for e in bundle.entry or [] if isinstance(e.resource, kind)]


def _loinc(observation: Observation) -> set[str]:
    return {c.code for c in observation.code.coding or [] if c.system == LOINC}


def _category(observation: Observation) -> str | None:
    return observation.category[0].coding[0].code if observation.category else None


def _time(value: Any) -> float:
    return parse_event_time(value.isoformat() if hasattr(value, "isoformat") else str(value))


def test_the_bundle_is_a_collection_that_says_its_fhir_version(
    recorder: Recorder, day: Day
) -> None:
    bundle = _bundle(recorder, day.first)

    assert bundle.type == "collection"
    assert [(t.system, t.code) for t in bundle.meta.tag] == [
        ("http://hl7.org/fhir/FHIR-version", "4.3.0")
    ]
    assert bundle.identifier.value == day.first
    urls = [e.fullUrl for e in bundle.entry]
    assert len(set(urls)) == len(urls)
    assert all(u.startswith("urn:uuid:") for u in urls)
    references = {o.subject.reference for o in _resources(bundle, Observation)}
    references |= {o.encounter.reference for o in _resources(bundle, Observation)}
    assert references <= set(urls)


def test_one_vital_signs_observation_per_vital_per_reading(recorder: Recorder, day: Day) -> None:
    readings = recorder.readings(session=day.first)
    vitals = [
        o
        for o in _resources(_bundle(recorder, day.first), Observation)
        if _category(o) == "vital-signs"
    ]

    counts = Counter(frozenset(_loinc(o)) for o in vitals)
    assert counts == {
        frozenset({"8867-4"}): sum(r.hr is not None for r in readings),
        frozenset({"2708-6", "59408-5"}): sum(r.spo2 is not None for r in readings),
        frozenset({"85354-9"}): sum(r.sbp is not None for r in readings),
    }
    assert counts[frozenset({"85354-9"})] == 14
    units = {(o.valueQuantity.system, o.valueQuantity.code) for o in vitals if o.valueQuantity}
    assert units == {("http://unitsofmeasure.org", "/min"), ("http://unitsofmeasure.org", "%")}


def test_the_blood_pressure_panel_has_its_components_in_mm_hg(recorder: Recorder, day: Day) -> None:
    panels = [
        o for o in _resources(_bundle(recorder, day.first), Observation) if "85354-9" in _loinc(o)
    ]
    [high] = [p for p in panels if any(c.valueQuantity.value == 186 for c in p.component)]

    parts = {
        next(c.code for c in part.code.coding if c.system == LOINC): part.valueQuantity
        for part in high.component
    }
    assert {code: q.value for code, q in parts.items()} == {
        "8480-6": 186,
        "8462-4": 100,
        "8478-0": 129,
    }
    assert {q.code for q in parts.values()} == {"mm[Hg]"}
    assert _time(high.effectiveDateTime) == T0 + 900


def test_the_encounter_is_the_sessions_period_and_the_patient_only_its_label(
    recorder: Recorder, day: Day
) -> None:
    bundle = _bundle(recorder, day.first)
    session = recorder.session(day.first).session
    assert session is not None
    assert session.closed_at is not None

    [encounter] = _resources(bundle, Encounter)
    assert (encounter.status, encounter.class_fhir.code) == ("finished", "AMB")
    assert (_time(encounter.period.start), _time(encounter.period.end)) == (
        session.admitted_at,
        session.closed_at,
    )
    [patient] = _resources(bundle, Patient)
    assert [i.value for i in patient.identifier] == ["P-0042"]
    assert (patient.name, patient.gender, patient.birthDate, patient.address) == (
        None,
        None,
        None,
        None,
    )


def test_an_open_session_is_an_encounter_in_progress(recorder: Recorder, day: Day) -> None:
    [encounter] = _resources(_bundle(recorder, day.third), Encounter)

    assert encounter.status == "in-progress"
    assert encounter.period.end is None


def test_each_alarm_is_one_observation_with_who_acknowledged_it(
    recorder: Recorder, day: Day
) -> None:
    alarms = [
        o for o in _resources(_bundle(recorder, day.first), Observation) if _category(o) == "alarm"
    ]

    assert sorted(o.code.coding[0].code for o in alarms) == ["sbp_high", "sbp_rise"]
    [high] = [o for o in alarms if o.code.coding[0].code == "sbp_high"]
    assert (
        high.valueQuantity.value,
        high.valueQuantity.code,
        high.referenceRange[0].high.value,
    ) == (186, "mm[Hg]", 180)
    assert (_time(high.effectivePeriod.start), _time(high.effectivePeriod.end)) == (
        T0 + 900,
        T0 + 960,
    )
    [ack] = [n for n in high.note if n.authorString]
    assert (ack.authorString, _time(ack.time), ack.text) == (
        "nurse.ana",
        T0 + 960,
        "acknowledged 60 s after it was raised",
    )
    assert {c.code.text: c.valueCodeableConcept.text for c in high.component} == {
        "priority": "high",
        "class": "physiological",
        "state": "cleared",
    }


def test_the_recovery_outcome_is_an_observation_in_words_with_its_times(
    recorder: Recorder, day: Day
) -> None:
    [first] = [
        o
        for o in _resources(_bundle(recorder, day.first), Observation)
        if _category(o) == "recovery"
    ]
    [second] = [
        o
        for o in _resources(_bundle(recorder, day.second), Observation)
        if _category(o) == "recovery"
    ]

    assert first.valueString.startswith(
        "recovered: back to baseline at 2026-11-19T10:55:00.000Z, 5 min after"
    )
    assert (_time(first.effectivePeriod.start), _time(first.effectivePeriod.end)) == (
        T0 + 3000,
        T0 + 3300,
    )
    assert {c.code.text: c.valueQuantity.value for c in first.component if c.valueQuantity} == {
        "minutes-to-baseline": 5.0
    }
    assert second.valueString.startswith("not recovered in the window")
    assert "by nurse.lee" in second.valueString
    assert [c.valueCodeableConcept.text for c in second.component if c.valueCodeableConcept] == [
        "overdue"
    ]


def test_a_value_set_aside_as_an_artefact_has_no_value_but_the_reason() -> None:
    ward = Ward()
    ward.send("c01", "session", {"command": "admit", "patient": "P-7", "by": "nurse.kim"})
    ward.send("c01", "vitals", {"seq": 1, "hr": 80, "spo2": 0, "nibp": {"sys": 120, "dia": 80}})
    recorder = MemoryRecorder()
    recorder.append(ward.entries)

    observations = _resources(_bundle(recorder, ward.session_id("c01")), Observation)

    [spo2] = [o for o in observations if "59408-5" in _loinc(o)]
    assert spo2.valueQuantity is None
    assert spo2.dataAbsentReason.coding[0].code == "error"
    assert "the monitor sent 0" in spo2.note[0].text
    [hr] = [o for o in observations if "8867-4" in _loinc(o)]
    assert hr.valueQuantity.value == 80


@pytest.mark.parametrize("session", ["first", "second", "third"])
def test_exporting_twice_gives_the_same_bytes(recorder: Recorder, day: Day, session: str) -> None:
    once = export(recorder, getattr(day, session), format=Format.FHIR)

    assert once == export(recorder, getattr(day, session), format=Format.FHIR)
    assert (
        Bundle.model_validate_json(once).model_dump_json(by_alias=True, exclude_none=True) + "\n"
        == once
    )
