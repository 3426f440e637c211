"""One inbound message, or one clock tick, through router, clinic, projector and scribe.

Synchronous and clock-free like the core (wall time is an argument), so the async adapter
around it stays thin: it publishes `outgoing`, hands `entries` to the record's writer, and
counts and logs from `outcome`, `kind`, `reasons` and `reports`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.domain.chair import ChairState
from monitor.domain.clinic import Clinic, InputRefused, Refusal, Report, SiteInput
from monitor.domain.events import CommandRejected, ReadingRejected
from monitor.domain.paging import PagingPolicy
from monitor.domain.vitals import Reading
from monitor.pipeline.projector import Projector
from monitor.pipeline.router import Outcome, Refused, Router, chair_of
from monitor.pipeline.scribe import Scribe
from monitor.record.base import Entry
from monitor.wire.outbound import Outgoing, RefusedChairsOut
from monitor.wire.topics import Inbound

_REFUSAL_OUTCOME = {
    Refusal.UNKNOWN_CHAIR: Outcome.UNKNOWN_CHAIR,
    Refusal.TOO_MANY_CHAIRS: Outcome.TOO_MANY_CHAIRS,
    Refusal.UNMATCHED: Outcome.UNMATCHED,
}


MAX_TALLIED = 10_000  # distinct refused chair names remembered (junk must not grow memory)


class RefusedChairs:
    """A tally of messages for chairs the site refused (unknown, or past the cap), for the
    service's status: the station warns with it."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.messages = 0
        self.latest: RefusedChairsOut | None = None

    def count(self, chair: str, outcome: Outcome, wall: float) -> None:
        if len(self.names) < MAX_TALLIED:
            self.names.add(chair)
        self.messages += 1
        reason = "too_many_chairs" if outcome is Outcome.TOO_MANY_CHAIRS else "unknown_chair"
        self.latest = RefusedChairsOut(
            chairs=len(self.names), messages=self.messages, latest=chair, at=wall, reason=reason
        )


_CHAIR_REFUSED = frozenset({Outcome.UNKNOWN_CHAIR, Outcome.TOO_MANY_CHAIRS})


@dataclass(slots=True)
class Result:
    outgoing: list[Outgoing] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    outcome: Outcome = Outcome.ACCEPTED
    kind: Inbound | None = None
    reasons: list[str] = field(default_factory=list)


class Intake:
    def __init__(
        self,
        clinic: Clinic,
        *,
        site: str,
        root: str,
        heartbeat_s: float = 15.0,
        snapshot_s: float = 5.0,
        dump: Callable[[ChairState], str] | None = None,
        paging: PagingPolicy | None = None,
    ) -> None:
        self.clinic, self.site, self.root = clinic, site, root
        self.router = Router(site=site, root=root)
        self.projector = Projector(
            clinic, site=site, root=root, heartbeat_s=heartbeat_s, paging=paging
        )
        scribe_options = {"dump": dump} if dump is not None else {}
        self.scribe = Scribe(clinic, site=site, snapshot_s=snapshot_s, **scribe_options)
        self.refused_chairs = RefusedChairs()

    def message(self, topic: str, payload: bytes, wall: float, *, retained: bool = False) -> Result:
        """Handle one inbound message that arrived at wall time `wall` (`retained`: the broker
        delivered it from its store, not as it was sent)."""
        routed = self.router.route(topic, payload, retained=retained)
        if isinstance(routed, Refused):
            refused = Result(outcome=routed.outcome, kind=routed.kind, reasons=[routed.reason])
            return self._journal(refused, topic, payload, wall)
        reports = self.clinic.handle(routed.chair, routed.item, wall=wall)
        result = Result(reports=reports, kind=routed.kind)
        for report in reports:
            for event in report.events:
                if isinstance(event, InputRefused):
                    result.outcome = _REFUSAL_OUTCOME[event.refusal]
                    result.reasons.append(event.reason)
                elif isinstance(event, CommandRejected | ReadingRejected):
                    if result.outcome is Outcome.ACCEPTED:
                        result.outcome = Outcome.REJECTED
                    result.reasons.append(event.reason)
        self._journal(result, topic, payload, wall)
        if result.outcome in _CHAIR_REFUSED and routed.chair is not None:
            self.refused_chairs.count(routed.chair, result.outcome, wall)
        if (
            isinstance(routed.item, Reading)
            and result.outcome is Outcome.ACCEPTED
            and routed.chair is not None
        ):
            result.entries.append(
                self.scribe.reading(self.clinic.chair(routed.chair), routed.item, wall)
            )
        result.entries += self.scribe.reports(reports, wall)
        result.outgoing += self.projector.message(reports, wall)
        return result

    def site_input(self, item: SiteInput, wall: float) -> Result:
        """A site input of the service's own making (a page it could not deliver, a route
        that works again): through the clinic like a message, with no journal entry (there is
        no message; its events are recorded)."""
        result = self._happened(self.clinic.handle(None, item, wall=wall), wall)
        for report in result.reports:
            for event in report.events:
                if isinstance(event, InputRefused):
                    result.outcome = _REFUSAL_OUTCOME[event.refusal]
                    result.reasons.append(event.reason)
        return result

    def resume(self, wall: float) -> Result:
        """After a restore: the site policies pick up the alarms standing (paging goes on)."""
        return self._happened(self.clinic.resume(wall), wall)

    def _happened(self, reports: list[Report], wall: float) -> Result:
        """What reports with no message of their own record and publish."""
        result = Result(reports=reports)
        result.entries += self.scribe.reports(reports, wall)
        result.outgoing += self.projector.message(reports, wall)
        return result

    def tick(self, wall: float) -> Result:
        """Let wall time act on the site: what changed goes out, snapshots due are taken."""
        reports = self.clinic.tick(wall)
        result = Result(reports=reports)
        result.entries += self.scribe.reports(reports, wall)
        result.entries += self.scribe.due(wall)
        result.outgoing += self.projector.tick(reports, wall)
        return result

    def status(self, online: bool, wall: float | None) -> Outgoing:
        return self.projector.status(online, wall)

    def states(self, wall: float) -> list[Outgoing]:
        return self.projector.states(wall)

    def final_snapshots(self, wall: float) -> list[Entry]:
        return self.scribe.final(wall)

    def _journal(self, result: Result, topic: str, payload: bytes, wall: float) -> Result:
        chair = chair_of(topic, self.root)
        entry = self.scribe.message(topic, payload, wall, outcome=result.outcome,
                                    kind=result.kind, chair=chair, reasons=result.reasons)  # fmt: skip
        result.entries.insert(0, entry)
        return result
