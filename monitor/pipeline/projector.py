"""The core's reports as outbound MQTT messages, with chair states coalesced.

A chair's retained `state` goes out at once when something happened there (an alarm
transition, a phase change, a refusal); new values alone are coalesced into the next tick, so a
burst of readings costs one state message per chair per tick. A tick also sends the state of a
chair whose published picture has changed (an alarm's state, the recovery status, the monitor
going offline) or that has not been sent for `heartbeat_s`. Alarm transitions and recovery
updates go out as events, each once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.domain.chair import Chair
from monitor.domain.clinic import Clinic, Report
from monitor.domain.events import (
    AlarmTransition,
    ArtefactRecorded,
    CoverageChanged,
    EscalationEnded,
    EscalationStepped,
    PageAnswered,
    PageSent,
    RecoveryUpdate,
)
from monitor.domain.paging import PagingPolicy
from monitor.wire.outbound import (
    Outgoing,
    ServiceStatusOut,
    alarm_out,
    chair_state,
    coverage_out,
    recovery_out,
)
from monitor.wire.topics import Outbound, chair_topic, coverage_topic, status_topic

PAGING_EVENTS = (PageSent, PageAnswered, EscalationStepped, EscalationEnded)  # of a chair's alarm


class Projector:
    def __init__(
        self,
        clinic: Clinic,
        *,
        site: str,
        root: str,
        heartbeat_s: float = 15.0,
        paging: PagingPolicy | None = None,
    ) -> None:
        self.clinic, self.site, self.root, self.heartbeat_s = clinic, site, root, heartbeat_s
        self.policy = paging
        self._published: dict[str, tuple[tuple[Any, ...], float]] = {}  # signature, wall
        self._dirty: set[str] = set()  # chairs with new values not yet published

    def status(self, online: bool, wall: float | None) -> Outgoing:
        """The service's retained status (also its Last Will, with `wall` None)."""
        payload = ServiceStatusOut(ts=wall, state="online" if online else "offline", site=self.site)
        return Outgoing(status_topic(self.root, self.site), payload.to_json(), retain=True)

    def message(self, reports: Sequence[Report], wall: float) -> list[Outgoing]:
        """What one inbound message's reports publish."""
        outgoing = self._events(reports) + self._coverage_changed(reports, wall)
        outgoing += [self.state(chair, wall) for chair in self._paged(reports)]
        for report in reports:
            if report.chair is None or report.chair not in self.clinic:
                continue  # the site's own, or a chair that was refused: no tile
            if any(not isinstance(e, ArtefactRecorded) for e in report.events):
                outgoing.append(self.state(self.clinic.chair(report.chair), wall))
            else:
                self._dirty.add(report.chair)
        return outgoing

    def tick(self, reports: Sequence[Report], wall: float) -> list[Outgoing]:
        """A clock tick's reports, then every chair whose state is due."""
        outgoing = self._events(reports) + self._coverage_changed(reports, wall)
        paged = {chair.name for chair in self._paged(reports)}
        for chair in self.clinic:
            published = self._published.get(chair.name)
            if (
                published is None
                or chair.name in self._dirty
                or chair.name in paged
                or published[0] != _signature(chair)
                or wall - published[1] >= self.heartbeat_s
            ):
                outgoing.append(self.state(chair, wall))
        return outgoing

    def states(self, wall: float) -> list[Outgoing]:
        """Every chair's state (and the paging coverage), as published on (re)connection."""
        coverage = [self.coverage(wall)] if self.policy is not None else []
        return [*coverage, *(self.state(chair, wall) for chair in self.clinic)]

    def coverage(self, wall: float) -> Outgoing:
        """Who covers which chairs (retained; paging sites only)."""
        assert self.policy is not None
        out = coverage_out(self.policy, site=self.site, wall=wall)
        return Outgoing(coverage_topic(self.root, self.site), out.to_json(), retain=True)

    def _coverage_changed(self, reports: Sequence[Report], wall: float) -> list[Outgoing]:
        changed = any(
            isinstance(event, CoverageChanged)
            for report in reports
            if report.chair is None
            for event in report.events
        )
        return [self.coverage(wall)] if changed and self.policy is not None else []

    def state(self, chair: Chair, wall: float) -> Outgoing:
        self._published[chair.name] = (_signature(chair), wall)
        self._dirty.discard(chair.name)
        paging = self.policy.status if self.policy is not None else None
        state = chair_state(chair, site=self.site, wall=wall, paging=paging)
        topic = chair_topic(self.root, self.site, chair.name, Outbound.STATE)
        return Outgoing(topic, state.to_json(), retain=True)

    def _paged(self, reports: Sequence[Report]) -> list[Chair]:
        """Chairs whose alarms' paging changed (a page sent or answered, an escalation's step
        or end): their state goes out at once, so stations show it."""
        names = {
            event.chair
            for report in reports
            if report.chair is None
            for event in report.events
            if isinstance(event, PAGING_EVENTS) and event.chair in self.clinic
        }
        return [self.clinic.chair(name) for name in sorted(names)]

    def _events(self, reports: Sequence[Report]) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        for report in reports:
            if report.chair is None or report.chair not in self.clinic:
                continue
            chair = self.clinic.chair(report.chair)
            session = chair.session
            for event in report.events:
                if isinstance(event, AlarmTransition):
                    patient = session.patient if session else None
                    out = alarm_out(event, site=self.site, chair=chair.name, patient=patient)
                    topic = chair_topic(self.root, self.site, chair.name, Outbound.ALARM)
                    outgoing.append(Outgoing(topic, out.to_json()))
                elif isinstance(event, RecoveryUpdate):
                    out_r = recovery_out(event, site=self.site, chair=chair.name, session=session)
                    topic = chair_topic(self.root, self.site, chair.name, Outbound.RECOVERY)
                    outgoing.append(Outgoing(topic, out_r.to_json()))
        return outgoing


def _signature(chair: Chair) -> tuple[Any, ...]:
    """What, if changed, makes a chair's state worth publishing again outside a message."""
    state = chair.state
    alarms = tuple(
        (a.id, a.state, a.priority, a.suppressed_by) for a in state.board.alarms.values()
    )
    recovery = chair.session.recovery.status if chair.session and chair.session.recovery else None
    return (chair.phase, state.device_online, state.audio_paused_until, alarms, recovery)
