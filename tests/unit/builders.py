"""A tiny session builder for the unit tests: one chair driven by a fake clock.

`Bedside` keeps the fake clock (`now`, epoch seconds). Every input it sends carries `now` as its
event time and arrives at wall time `now + lag`, so a test can make event time and wall time
differ (a replay) or agree (live). Nothing here sleeps or reads a real clock: tests move time with
`wait`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from monitor.domain.alarms import Alarm, AlarmKind
from monitor.domain.chair import Chair
from monitor.domain.commands import (
    Acknowledge,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
)
from monitor.domain.events import AlarmTransition, Event
from monitor.domain.limits import DEFAULT_LIMITS, Limits
from monitor.domain.session import Phase, Step
from monitor.domain.vitals import Reading, Vital

E = TypeVar("E")

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z: a fake clock's start, far from the falsy 0.0

BASELINE_BP = (120.0, 80.0)
BASELINE_HR = 70.0
BASELINE_SPO2 = 98.0


class Bedside:
    """One chair and the fake clock that drives it."""

    def __init__(
        self,
        name: str = "c01",
        *,
        limits: Limits = DEFAULT_LIMITS,
        t0: float = T0,
        lag: float = 0.0,
    ) -> None:
        self.chair = Chair(name, limits=limits)
        self.now = t0
        self.lag = lag
        self.seq = 0
        self.log: list[Event] = []

    # Time ---------------------------------------------------------------------------------

    @property
    def wall(self) -> float:
        return self.now + self.lag

    def wait(self, seconds: float) -> Bedside:
        self.now += seconds
        return self

    def tick(self, *, after: float = 0.0) -> list[Event]:
        """Let wall time act `after` seconds past the current wall time (no input arrives)."""
        return self._record(self.chair.tick(self.wall + after))

    # Inputs -------------------------------------------------------------------------------

    def send(self, item: Input) -> list[Event]:
        return self._record(self.chair.handle(item, wall=self.wall))

    def read(
        self,
        *,
        hr: float | None = None,
        pr: float | None = None,
        spo2: float | None = None,
        bp: tuple[float, float] | None = None,
        sbp: float | None = None,
        dbp: float | None = None,
        mean: float | None = None,
        technical: Iterable[str] = (),
        seq: int | None = None,
    ) -> list[Event]:
        """One reading at `now`; `bp` is (sys, dia), or give `sbp` / `dbp` on their own."""
        if bp is not None:
            sbp, dbp = bp
        self.seq += 1
        reading = Reading(
            ts=self.now,
            seq=self.seq if seq is None else seq,
            hr=hr,
            spo2=spo2,
            sbp=sbp,
            dbp=dbp,
            map=mean,
            technical=frozenset(technical),
            pr=pr,
        )
        return self.send(reading)

    def hold(self, seconds: int, *, every: float = 1.0, **vitals: Any) -> list[Event]:
        """The same reading once every `every` s for `seconds` s: first now, last `seconds` later.

        Returns all the events; the clock ends at the last reading.
        """
        events = self.read(**vitals)
        for _ in range(round(seconds / every)):
            self.wait(every)
            events += self.read(**vitals)
        return events

    def admit(
        self,
        patient: str = "P-0042",
        *,
        baseline: dict[Vital, float] | None = None,
        limits: dict[str, float] | None = None,
        weight_kg: float | None = 70.0,
    ) -> list[Event]:
        return self.send(Admit(self.now, patient, weight_kg, baseline or {}, limits or {}))

    def infusion(self, step: Step) -> list[Event]:
        if step is Step.START:
            return self.send(InfusionEvent(self.now, step, "ketamine", 0.5, 40.0))
        return self.send(InfusionEvent(self.now, step))

    def start(self) -> list[Event]:
        return self.infusion(Step.START)

    def pause(self) -> list[Event]:
        return self.infusion(Step.PAUSE)

    def resume(self) -> list[Event]:
        return self.infusion(Step.RESUME)

    def stop(self) -> list[Event]:
        return self.infusion(Step.STOP)

    def discharge(self, *, by: str | None = "nurse-ana", over_alarms: bool = False) -> list[Event]:
        return self.send(Discharge(self.now, by=by, over_alarms=over_alarms))

    def ack(self, alarm: str, *, by: str = "nurse-ana") -> list[Event]:
        return self.send(Acknowledge(self.now, alarm, by))

    def pause_audio(self, seconds: float, *, by: str = "nurse-ana") -> list[Event]:
        return self.send(PauseAudio(self.now, seconds, by))

    def device(self, *, online: bool, name: str | None = "bedside-7") -> list[Event]:
        return self.send(DeviceReport(self.now, online, name))

    # Looking at the chair -----------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.chair.phase

    @property
    def alarms(self) -> dict[AlarmKind, Alarm]:
        return self.chair.state.board.alarms

    def alarm(self, kind: str) -> Alarm:
        return self.alarms[AlarmKind(kind)]

    def _record(self, events: list[Event]) -> list[Event]:
        self.log += events
        return events


# Whole sessions up to a phase ---------------------------------------------------------------


def admitted(
    *,
    bp: tuple[float, float] = BASELINE_BP,
    hr: float = BASELINE_HR,
    spo2: float = BASELINE_SPO2,
    cuff_readings: int = 2,
    **bedside: Any,
) -> Bedside:
    """A chair with a patient admitted and `cuff_readings` baseline readings 5 min apart."""
    side = Bedside(**bedside)
    side.admit()
    for index in range(cuff_readings):
        if index:
            side.wait(300)
        side.read(hr=hr, spo2=spo2, bp=bp)
    side.wait(30)
    return side


def infusing(**kwargs: Any) -> Bedside:
    side = admitted(**kwargs)
    side.start()
    return side


def recovering(**kwargs: Any) -> Bedside:
    """Admitted, a 40-minute infusion run and stopped; the clock is at the stop."""
    side = infusing(**kwargs)
    side.wait(2400)
    side.stop()
    return side


# Picking events -----------------------------------------------------------------------------


def transitions(events: Iterable[Event], kind: str | None = None) -> list[AlarmTransition]:
    return [
        e for e in events if isinstance(e, AlarmTransition) and (kind is None or e.kind == kind)
    ]


def kinds_raised(events: Iterable[Event]) -> set[str]:
    return {t.kind for t in transitions(events) if t.reason == "raised"}


def of_type(events: Iterable[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]
