"""An infusion step taken at a station says by whom (the record keeps it); the pump's own
steps say nobody."""

from __future__ import annotations

from monitor.domain.clinic import Clinic
from monitor.domain.commands import Admit, InfusionEvent
from monitor.domain.events import CommandAccepted, CommandName, PhaseChanged
from monitor.domain.session import Step
from monitor.domain.vitals import Reading

T0 = 1_795_000_000.0


def _admitted() -> Clinic:
    clinic = Clinic()
    clinic.handle("c01", Admit(T0, "P-0042", by="nurse.kim"), wall=T0)
    for n, minute in enumerate((1, 4)):
        reading = Reading(ts=T0 + minute * 60, seq=n + 1, hr=70, spo2=98, sbp=120, dbp=80)
        clinic.handle("c01", reading, wall=T0 + minute * 60)
    return clinic


def _events(clinic: Clinic, event: InfusionEvent) -> list[object]:
    return [e for r in clinic.handle("c01", event, wall=event.ts) for e in r.events]


def test_a_step_from_the_station_is_accepted_in_the_nurses_name() -> None:
    clinic = _admitted()
    start = InfusionEvent(T0 + 300, Step.START, "ketamine", 0.5, 40.0, by="nurse.kim")

    events = _events(clinic, start)

    accepted = [e for e in events if isinstance(e, CommandAccepted)]
    assert [(a.command, a.by) for a in accepted] == [(CommandName.START, "nurse.kim")]
    assert accepted[0].session == clinic.chair("c01").session_ref
    assert any(isinstance(e, PhaseChanged) for e in events)


def test_the_pumps_own_step_names_nobody() -> None:
    clinic = _admitted()
    clinic.handle("c01", InfusionEvent(T0 + 300, Step.START, "ketamine", 0.5, 40.0), wall=T0 + 300)

    events = _events(clinic, InfusionEvent(T0 + 900, Step.STOP))

    assert not [e for e in events if isinstance(e, CommandAccepted)]
    assert any(isinstance(e, PhaseChanged) for e in events)
