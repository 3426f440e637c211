"""`audit export --format fhir`: one session as an HL7 FHIR R4B (4.3.0) Bundle of type
`collection`, built with the `fhir.resources` models and checked by reading it back with them.

Which FHIR: `fhir.resources` 8 (the maintained FHIR models, on pydantic v2) offers R5 and R4B,
not R4 itself; R4B is R4 with a few resources added and is read by R4 servers for everything
used here (Patient, Encounter, Observation). The Bundle says so in `meta.tag`
(http://hl7.org/fhir/FHIR-version 4.3.0).

What goes in (docs/audit.md has the table):

- a Patient with the session's patient label as its only identifier: the record holds no
  demographics, and none are made up;
- an Encounter: the session, `AMB` (ambulatory), period admitted..closed, `finished` once
  closed, else `in-progress`, its chair and site as the location's display;
- per reading, one vital-signs Observation per vital measured: heart rate (LOINC 8867-4, /min),
  SpO2 (2708-6 and 59408-5, %), and a blood-pressure panel (85354-9) with systolic (8480-6),
  diastolic (8462-4) and mean (8478-0) components in mm[Hg]; each with the IEEE 11073 code
  CLINICAL.md gives. Its time is the chair's timeline (the one the alarms use). A value the
  service set aside as an artefact (an SpO2 of 0 is "no valid value") has no value but a
  `dataAbsentReason` of `error` and a note saying what the monitor sent and why. The oximeter's
  own pulse rate is left out (CLINICAL.md gives it no code of its own; JSON Lines and CSV keep it);
- per alarm, one Observation (below);
- the recovery outcome: an Observation with the outcome in words (`valueString`), the period
  from the end of the infusion to the return to baseline (or the discharge), and the outcome,
  the recovery time and the minutes it took as components.

Why alarms are Observations. An alarm here is a condition observed in the patient's vitals over
a time (raised, cleared), with the value that raised it and the limit it crossed: what an
Observation holds (value, `referenceRange`, `interpretation`, `effectivePeriod`), and how
bedside monitors themselves report alarms (IHE PCD ACM's PCD-04 is an observation message). A
Flag is meant for standing warnings about a patient ("fall risk") and its guidance says not to
use it for what an Observation conveys; a DetectedIssue is a problem with a clinical action (a
drug interaction), not a physiological condition. FHIR R6 adds DeviceAlert for exactly this;
until then, one Observation per alarm (not per transition), category `alarm` of this service's
own code system, the alarm kind as its code, the priority, class and last state as components,
and the acknowledgement as a note whose author and time are who acknowledged it and when.

Identifiers of this service's own vocabularies are URNs under `urn:infusion-monitor:`. Every
fullUrl is `urn:uuid:` with a UUID 5 derived from the session id and the resource's place in the
session (`reading/17/hr`, `alarm/<id>`), and nothing depends on the time of the export, so a
session exports to the same bytes every time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.encounter import Encounter, EncounterLocation
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.observation import (
    Observation,
    ObservationComponent,
    ObservationReferenceRange,
)
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from monitor.audit.alarms import AlarmStory, alarm_stories
from monitor.audit.outcome import outcome_of, recovery_of
from monitor.audit.record import AuditedSession
from monitor.audit.times import utc
from monitor.record import ReadingEntry

__all__ = ["FHIR_VERSION", "fhir_bundle", "fhir_bundle_json"]

FHIR_VERSION = "4.3.0"  # R4B
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:iso:std:iso:11073:10101"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OURS = "urn:infusion-monitor"


@dataclass(frozen=True, slots=True)
class VitalCode:
    codes: tuple[tuple[str, str, str], ...]  # (system, code, display)
    unit: str  # UCUM

    def concept(self) -> CodeableConcept:
        codings = [Coding(system=s, code=c, display=d) for s, c, d in self.codes]
        return CodeableConcept(coding=codings, text=self.codes[0][2])


VITALS = {
    "hr": VitalCode(
        ((LOINC, "8867-4", "Heart rate"), (MDC, "147842", "MDC_ECG_HEART_RATE")), "/min"
    ),
    "spo2": VitalCode(
        (
            (LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
            (LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            (MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),
        ),
        "%",
    ),
}
BP_PANEL = VitalCode(
    ((LOINC, "85354-9", "Blood pressure panel with all children optional"),), "mm[Hg]"
)
BP_PARTS = {
    "sbp": VitalCode(
        ((LOINC, "8480-6", "Systolic blood pressure"), (MDC, "150301", "MDC_PRESS_CUFF_SYS")),
        "mm[Hg]",
    ),
    "dbp": VitalCode(
        ((LOINC, "8462-4", "Diastolic blood pressure"), (MDC, "150302", "MDC_PRESS_CUFF_DIA")),
        "mm[Hg]",
    ),
    "map": VitalCode(
        ((LOINC, "8478-0", "Mean blood pressure"), (MDC, "150303", "MDC_PRESS_CUFF_MEAN")), "mm[Hg]"
    ),
}
_Artefacts = dict[tuple[float, str], str]  # (chair time, vital): why it was set aside
# The unit of an alarm's value, by the vital its kind is about (the kind's first word).
ALARM_UNITS = {"sbp": "mm[Hg]", "dbp": "mm[Hg]", "hr": "/min", "spo2": "%"}


class _Places:
    """Deterministic ids: a UUID 5 per place in the session (`reading/3/hr`)."""

    def __init__(self, session: str) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"{OURS}:session:{session}")

    def id(self, place: str) -> str:
        return str(uuid.uuid5(self.namespace, place))

    def url(self, place: str) -> str:
        return f"urn:uuid:{self.id(place)}"


def fhir_bundle_json(audited: AuditedSession) -> str:
    """The Bundle as JSON (one line, then a newline), checked by parsing it back."""
    text = fhir_bundle(audited).model_dump_json(by_alias=True, exclude_none=True)
    Bundle.model_validate_json(text)  # what we emit, the library reads: else raise here
    return text + "\n"


def fhir_bundle(audited: AuditedSession) -> Bundle:
    session = audited.session
    places = _Places(session.id)
    subject = Reference(reference=places.url("patient"), display=session.patient)
    encounter = Reference(reference=places.url("encounter"))
    artefacts: _Artefacts = {
        (e.ts, str(e.data.get("vital"))): str(e.data.get("reason"))
        for e in audited.events
        if e.type == "ArtefactRecorded"
    }
    entries: list[tuple[str, Resource]] = [
        ("patient", _patient(audited)),
        ("encounter", _encounter(audited, subject)),
    ]
    for index, reading in enumerate(audited.readings):
        for name, vital in _vital_signs(reading, artefacts, subject, encounter):
            entries.append((f"reading/{index}/{name}", vital))
    for alarm in alarm_stories(audited.alarms):
        entries.append((f"alarm/{alarm.alarm}", _alarm(alarm, subject, encounter)))
    entries.append(("recovery", _recovery(audited, subject, encounter)))
    for place, made in entries:
        made.id = places.id(place)
    return Bundle(
        id=places.id("bundle"),
        meta=Meta(
            tag=[
                Coding(system="http://hl7.org/fhir/FHIR-version", code=FHIR_VERSION, display="R4B")
            ]
        ),
        identifier=Identifier(system=f"{OURS}:session", value=session.id),
        type="collection",
        timestamp=utc(_last_time(audited)),
        entry=[
            BundleEntry(fullUrl=places.url(place), resource=resource) for place, resource in entries
        ],
    )


def _last_time(audited: AuditedSession) -> float:
    """The latest time the session's record holds: the Bundle's time, whenever it is made."""
    times = [audited.session.admitted_at, audited.session.closed_at or 0.0]
    times += [r.chair_ts for r in audited.readings[-1:]]
    times += [a.ts for a in audited.alarms] + [e.ts for e in audited.events]
    return max(times)


def _patient(audited: AuditedSession) -> Patient:
    label = Identifier(use="usual", system=f"{OURS}:patient-label", value=audited.session.patient)
    return Patient(identifier=[label])


def _encounter(audited: AuditedSession, subject: Reference) -> Encounter:
    session = audited.session
    closed = session.closed_at
    place = Reference(display=f"chair {session.chair}, site {session.site}")
    return Encounter(
        identifier=[Identifier(system=f"{OURS}:session", value=session.id)],
        status="finished" if closed is not None else "in-progress",
        class_fhir=Coding(system=ACT_CODE, code="AMB", display="ambulatory"),
        type=[CodeableConcept(text="IV ketamine infusion session")],
        subject=subject,
        period=Period(
            start=utc(session.admitted_at), end=utc(closed) if closed is not None else None
        ),
        location=[EncounterLocation(location=place)],
    )


@dataclass(frozen=True, slots=True)
class _Measured:
    """A vital's value, or why it has none (the monitor's value set aside as an artefact)."""

    quantity: Quantity | None
    absent: CodeableConcept | None
    note: str | None


def _measured(name: str, raw: float, unit: str, at: float, artefacts: _Artefacts) -> _Measured:
    aside = artefacts.get((at, name))
    if aside is None:
        return _Measured(Quantity(value=raw, unit=unit, system=UCUM, code=unit), None, None)
    absent = CodeableConcept(coding=[Coding(system=DATA_ABSENT, code="error", display="Error")])
    return _Measured(None, absent, f"{name}: the monitor sent {raw:g}: {aside}")


def _vital_signs(
    reading: ReadingEntry, artefacts: _Artefacts, subject: Reference, encounter: Reference
) -> list[tuple[str, Observation]]:
    """The reading's vital-sign Observations, each with its place's last part."""
    found: list[tuple[str, Observation]] = []
    at = reading.chair_ts

    device = [f"device reported: {', '.join(reading.technical)}"] if reading.technical else []

    def observation(code: VitalCode, notes: list[str], **more: Any) -> Observation:
        notes = device + notes
        return Observation(
            status="final",
            category=[_category("vital-signs", "Vital Signs")],
            code=code.concept(),
            subject=subject,
            encounter=encounter,
            effectiveDateTime=utc(at),
            note=[Annotation(text=text) for text in notes] or None,
            **more,
        )

    for name, code in VITALS.items():
        raw = getattr(reading, name)
        if raw is not None:
            value = _measured(name, raw, code.unit, at, artefacts)
            notes = [value.note] if value.note else []
            made = observation(
                code, notes, valueQuantity=value.quantity, dataAbsentReason=value.absent
            )
            found.append((name, made))
    parts = {
        n: _measured(n, getattr(reading, n), c.unit, at, artefacts)
        for n, c in BP_PARTS.items()
        if getattr(reading, n) is not None
    }
    if parts:
        components = [
            ObservationComponent(
                code=BP_PARTS[n].concept(), valueQuantity=v.quantity, dataAbsentReason=v.absent
            )
            for n, v in parts.items()
        ]
        notes = [v.note for v in parts.values() if v.note]
        found.append(("bp", observation(BP_PANEL, notes, component=components)))
    return found


def _category(code: str, display: str, system: str = CATEGORY) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display)])


def _concept(system: str, code: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=f"{OURS}:{system}", code=code)], text=code)


def _alarm(alarm: AlarmStory, subject: Reference, encounter: Reference) -> Observation:
    unit = ALARM_UNITS.get(alarm.kind.split("_")[0])
    value = None
    if alarm.value is not None:
        value = Quantity(value=alarm.value, unit=unit, system=UCUM if unit else None, code=unit)
    high = alarm.kind.endswith(("_high", "_rise"))
    ranges = []
    if alarm.limit is not None and unit:
        limit = Quantity(value=alarm.limit, unit=unit, system=UCUM, code=unit)
        ranges = [
            ObservationReferenceRange(high=limit) if high else ObservationReferenceRange(low=limit)
        ]
    notes = [Annotation(text=alarm.text)]
    if alarm.acknowledged_by and alarm.acknowledged_at is not None:
        seconds = alarm.seconds_to_acknowledge or 0.0
        notes.append(
            Annotation(
                authorString=alarm.acknowledged_by,
                time=utc(alarm.acknowledged_at),
                text=f"acknowledged {seconds:.0f} s after it was raised",
            )
        )
    return Observation(
        identifier=[Identifier(system=f"{OURS}:alarm", value=alarm.alarm)],
        status="final" if alarm.cleared_at is not None else "preliminary",
        category=[_category("alarm", "Alarm condition", f"{OURS}:observation-category")],
        code=_concept("alarm-kind", alarm.kind),
        subject=subject,
        encounter=encounter,
        effectivePeriod=Period(
            start=utc(alarm.raised_at),
            end=utc(alarm.cleared_at) if alarm.cleared_at is not None else None,
        ),
        valueQuantity=value,
        referenceRange=ranges or None,
        interpretation=[_interpretation(high)]
        if ranges and alarm.alarm_class == "physiological"
        else None,
        component=[
            ObservationComponent(
                code=_concept("alarm-attribute", "priority"),
                valueCodeableConcept=_concept("alarm-priority", alarm.priority),
            ),
            ObservationComponent(
                code=_concept("alarm-attribute", "class"),
                valueCodeableConcept=_concept("alarm-class", alarm.alarm_class),
            ),
            ObservationComponent(
                code=_concept("alarm-attribute", "state"),
                valueCodeableConcept=_concept("alarm-state", str(alarm.transitions[-1].state)),
            ),
        ],
        note=notes,
    )


def _interpretation(high: bool) -> CodeableConcept:
    code, display = ("H", "High") if high else ("L", "Low")
    return CodeableConcept(coding=[Coding(system=INTERPRETATION, code=code, display=display)])


def _recovery(audited: AuditedSession, subject: Reference, encounter: Reference) -> Observation:
    session = audited.session
    outcome = outcome_of(session)
    recovery = recovery_of(audited.events)
    stopped, back = recovery.infusion_stopped_at, recovery.recovered_at
    end = back if back is not None else session.closed_at
    components = [
        ObservationComponent(
            code=_concept("recovery-attribute", "outcome"),
            valueCodeableConcept=_concept("outcome", outcome.value),
        )
    ]
    if back is not None:
        components.append(
            ObservationComponent(
                code=_concept("recovery-attribute", "recovered-at"), valueDateTime=utc(back)
            )
        )
    if back is not None and stopped is not None:
        minutes = round((back - stopped) / 60, 1)
        components.append(
            ObservationComponent(
                code=_concept("recovery-attribute", "minutes-to-baseline"),
                valueQuantity=Quantity(value=minutes, unit="min", system=UCUM, code="min"),
            )
        )
    return Observation(
        status="final" if session.closed_at is not None else "preliminary",
        category=[_category("recovery", "Recovery check", f"{OURS}:observation-category")],
        code=CodeableConcept(
            coding=[
                Coding(
                    system=f"{OURS}:observation",
                    code="recovery-outcome",
                    display="Return to baseline after the infusion",
                )
            ],
            text="Return to baseline after the infusion",
        ),
        subject=subject,
        encounter=encounter,
        effectivePeriod=Period(start=utc(stopped), end=utc(end) if end is not None else None)
        if stopped is not None
        else None,
        valueString=recovery.words(outcome, when=utc),
        component=components,
    )
