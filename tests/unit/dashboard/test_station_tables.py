"""The station's tables (sent to the browser in `hello`) say what the domain does, and only that."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from monitor.domain.alarms import AlarmPriority, AlarmState
from monitor.domain.chair import Chair
from monitor.domain.commands import MAX_AUDIO_PAUSE_S, Admit, InfusionEvent, PauseAudio
from monitor.domain.events import AlarmTransition, Event
from monitor.domain.session import IllegalStep, Phase, Step, next_phase
from monitor.domain.vitals import Reading
from monitor.wire.station import station_tables

TABLES = station_tables(audio_pause_s=120.0)
T0 = 1_795_000_000.0


@pytest.mark.parametrize("phase", list(Phase))
def test_every_step_listed_for_a_phase_is_accepted_and_every_other_is_refused(
    phase: Phase,
) -> None:
    listed = TABLES["steps"][phase.value]

    for step in Step:
        if step.value in listed:
            next_phase(phase, step)
        else:
            with pytest.raises(IllegalStep):
                next_phase(phase, step)


def test_the_steps_name_every_phase_and_step_in_the_domains_words() -> None:
    assert set(TABLES["steps"]) == {p.value for p in Phase}
    steps = {s for listed in TABLES["steps"].values() for s in listed}
    assert steps <= {s.value for s in Step}


def test_the_priorities_come_worst_first_with_ranks_that_fall() -> None:
    priorities = [p["priority"] for p in TABLES["priorities"]]
    ranks = [p["rank"] for p in TABLES["priorities"]]

    assert sorted(priorities) == sorted(p.value for p in AlarmPriority)
    assert ranks == [AlarmPriority(p).rank for p in priorities]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) == len(ranks)
    assert priorities[0] == AlarmPriority.HIGH.value


def test_the_in_session_phases_are_those_with_a_patient_in_the_chair() -> None:
    assert TABLES["in_session"] == [p.value for p in Phase if p.open]
    assert Phase.EMPTY.value not in TABLES["in_session"]
    assert Phase.DISCHARGED.value not in TABLES["in_session"]


def test_the_tables_survive_json() -> None:
    assert json.loads(json.dumps(TABLES)) == TABLES


def test_the_audio_pause_is_the_stations_own_within_the_services_limit() -> None:
    pause = station_tables(audio_pause_s=90.0)["audio_pause"]

    assert pause["seconds"] == 90.0
    assert pause["max_seconds"] == MAX_AUDIO_PAUSE_S


@pytest.mark.parametrize("seconds", [0.0, -5.0, MAX_AUDIO_PAUSE_S + 1])
def test_an_audio_pause_the_service_would_refuse_is_misuse(seconds: float) -> None:
    with pytest.raises(ValueError, match="audio pause"):
        station_tables(audio_pause_s=seconds)


# The audio pause's break rule, checked against a chair driven through its inputs -----------------


class Side:
    """One infusing chair on a fake clock."""

    def __init__(self) -> None:
        self.chair = Chair("c01")
        self.now = T0
        self.seq = 0
        self.send(Admit(self.now, "P-0042", 70.0))
        self.read(hr=70, spo2=98, sbp=120, dbp=80)
        self.now += 300
        self.read(hr=70, spo2=98, sbp=120, dbp=80)
        self.now += 30
        self.send(InfusionEvent(self.now, Step.START, "ketamine", 0.5, 40.0))

    def send(self, item: Admit | InfusionEvent | PauseAudio | Reading) -> list[Event]:
        return self.chair.handle(item, wall=self.now)

    def read(self, *, technical: frozenset[str] = frozenset(), **vitals: float) -> list[Event]:
        self.seq += 1
        return self.send(Reading(ts=self.now, seq=self.seq, technical=technical, **vitals))

    def hold(self, seconds: int, **vitals: float) -> list[Event]:
        events = self.read(**vitals)
        for _ in range(seconds):
            self.now += 1
            events += self.read(**vitals)
        return events

    @property
    def paused(self) -> bool:
        return self.chair.state.audio_paused_until is not None


def _raise_high(side: Side) -> list[Event]:
    return side.read(hr=70, spo2=80)


def _raise_medium(side: Side) -> list[Event]:
    return side.hold(10, hr=130, spo2=98)


def _raise_low(side: Side) -> list[Event]:
    return side.read(hr=70, spo2=98, technical=frozenset({"leads_off"}))


RAISE: dict[AlarmPriority, Callable[[Side], list[Event]]] = {
    AlarmPriority.HIGH: _raise_high,
    AlarmPriority.MEDIUM: _raise_medium,
    AlarmPriority.LOW: _raise_low,
}


def _newly_raised(events: list[Event]) -> set[str]:
    return {
        e.priority
        for e in events
        if isinstance(e, AlarmTransition)
        and e.state == AlarmState.ACTIVE.value
        and e.previous_state is None
    }


@pytest.mark.parametrize("priority", list(AlarmPriority))
def test_a_new_alarm_of_a_listed_priority_ends_even_a_pause_taken_over_a_high_alarm(
    priority: AlarmPriority,
) -> None:
    side = Side()
    side.read(hr=70, spo2=98, sbp=190, dbp=100)  # SBP high: the pause is over the highest rank
    side.send(PauseAudio(side.now, 120.0, "nurse-ana"))
    side.now += 10

    raised = _newly_raised(RAISE[priority](side))

    assert priority.value in raised  # the probe raised what it says
    assert side.paused is (priority.value not in TABLES["audio_pause"]["broken_by"])


@pytest.mark.parametrize("priority", TABLES["audio_pause"]["broken_by"])
def test_a_new_alarm_of_a_listed_priority_ends_a_pause_over_nothing_too(priority: str) -> None:
    side = Side()
    side.send(PauseAudio(side.now, 120.0, "nurse-ana"))
    side.now += 10

    RAISE[AlarmPriority(priority)](side)

    assert not side.paused
