"""The site: the one door into the core. Every inbound item and every clock tick of a site goes
through `Clinic`, and what happened comes back as reports (a chair's events, or the site's own).

How this works: a chair's input goes to its chair; an input for a chair the site is not
configured with is refused here, as an event, not raised. A site configured with no chair list
makes a chair on its first input, up to `max_chairs`: beyond that a new name is refused too, so
junk on the wire cannot grow the site (and its record, and every screen) without bound.
Site-level inputs (a pager's reply, a hand-over, a delivery failure) go to the site policies
(paging is one) in turn until one takes it; none taking it is a refusal too. A policy that takes
one may ask for an input to be applied to a chair (`Forward`: a pager's accept acknowledges the
alarm at its chair); the clinic applies it through the chair's own door, like any input. Every
report, from an input or a tick, is shown to each policy, which may answer with reports of its
own (a page to send, say). Pure like the rest
of the core: wall time is an argument, nothing here does I/O, so the same inputs give the same
reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from monitor.domain.alarms import as_transition
from monitor.domain.chair import Chair, ChairState
from monitor.domain.commands import Input
from monitor.domain.events import Event
from monitor.domain.limits import DEFAULT_LIMITS, DEFAULT_REMINDERS, Limits, Reminders

DEFAULT_MAX_CHAIRS = 64  # chairs made from the wire with no chair list: a large clinic's room


class UnknownChair(LookupError):
    """A chair this clinic is not configured with."""


class TooManyChairs(UnknownChair):
    """A new chair beyond `max_chairs` (no chair list configured)."""


@dataclass(frozen=True, slots=True)
class PagerAnswer:
    """A pager holder's reply to a page (accept or decline)."""

    ts: float
    pager: str
    page: str
    accept: bool


@dataclass(frozen=True, slots=True)
class HandOver:
    """A nurse on a break hands the chairs her pager covers to another pager."""

    ts: float
    from_pager: str
    to_pager: str
    by: str


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """The shell could not deliver a page (or a self-test page, `page` None) after its retries."""

    ts: float
    page: str | None
    pager: str
    route: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeliveryRecovered:
    """A route that failed delivers again (a page or a self-test went through)."""

    ts: float
    route: str


SiteInput = PagerAnswer | HandOver | DeliveryFailed | DeliveryRecovered
SITE_INPUTS = (PagerAnswer, HandOver, DeliveryFailed, DeliveryRecovered)


class Refusal(StrEnum):
    """Why the site refused an input before any chair saw it."""

    UNKNOWN_CHAIR = "unknown_chair"
    TOO_MANY_CHAIRS = "too_many_chairs"  # a new chair beyond max_chairs
    UNMATCHED = "unmatched"  # a site input no policy takes (a reply to no page of ours)


@dataclass(frozen=True, slots=True)
class InputRefused:
    """The site refused an input; `ts` is the wall time it arrived."""

    ts: float
    refusal: Refusal
    reason: str


SiteEvent = Event | InputRefused


@dataclass(frozen=True, slots=True)
class Forward:
    """A policy's request that the clinic apply `item` to `chair` (a pager's accept: the
    acknowledgement at the chair); the chair's report comes back, and is observed, as usual."""

    chair: str
    item: Input


@dataclass(frozen=True, slots=True)
class Report:
    """What happened at one chair (or, with `chair` None, at the site) in one step."""

    chair: str | None
    events: Sequence[SiteEvent] = ()


class SitePolicy(Protocol):
    """Site-level logic beside the chairs (paging): pure, given the reports and the time."""

    def take(self, item: SiteInput, *, wall: float) -> list[Report | Forward] | None:
        """Handle a site input, or None when it is not this policy's; a `Forward` in the
        answer is applied to its chair in its place."""
        ...

    def observe(self, reports: Sequence[Report], *, wall: float) -> list[Report]:
        """Reports of its own in answer to what happened."""
        ...

    def tick(self, *, wall: float) -> list[Report]:
        """Let time act (timers)."""
        ...


class Clinic:
    """Chairs by name, and the site policies. With `chairs` given, only those exist; otherwise
    a chair appears on its first input, up to `max_chairs` of them."""

    def __init__(
        self,
        *,
        limits: Limits = DEFAULT_LIMITS,
        reminders: Reminders = DEFAULT_REMINDERS,
        chairs: Iterable[str] = (),
        policies: Sequence[SitePolicy] = (),
        max_chairs: int = DEFAULT_MAX_CHAIRS,
    ) -> None:
        if max_chairs < 1:
            raise ValueError(f"max_chairs must be at least 1, not {max_chairs}")
        self.limits = limits
        self.reminders = reminders
        self.max_chairs = max_chairs
        self.configured = frozenset(chairs)
        self.policies = tuple(policies)
        self._chairs: dict[str, Chair] = {
            name: self._new_chair(name) for name in sorted(self.configured)
        }

    # The door ----------------------------------------------------------------------------

    def handle(self, chair: str | None, item: Input | SiteInput, *, wall: float) -> list[Report]:
        """Apply one input that arrived at wall time `wall`: for `chair`, or the site's own
        when `chair` is None. Never raises for bad routing: that is an `InputRefused`."""
        if isinstance(item, SITE_INPUTS):
            reports = self._site_input(item, wall)
        elif chair is None:
            reason = f"a {type(item).__name__} input needs a chair"
            reports = [Report(None, [InputRefused(wall, Refusal.UNMATCHED, reason)])]
        else:
            try:
                target = self.chair(chair)
            except UnknownChair as exc:
                full = isinstance(exc, TooManyChairs)
                refusal = Refusal.TOO_MANY_CHAIRS if full else Refusal.UNKNOWN_CHAIR
                return [Report(chair, [InputRefused(wall, refusal, str(exc))])]
            reports = [Report(chair, target.handle(item, wall=wall))]
        return reports + self._observed(reports, wall)

    def tick(self, wall: float) -> list[Report]:
        """Let wall time act on every chair and policy; only reports with events come back."""
        reports = [Report(c.name, events) for c in self if (events := c.tick(wall))]
        reports += self._observed(reports, wall)
        for policy in self.policies:
            reports += policy.tick(wall=wall)
        return reports

    def resume(self, wall: float) -> list[Report]:
        """After the chairs were restored: show each policy the alarms standing at every chair,
        as if just seen, so an alarm nobody had answered before a restart escalates again from
        its first step, counted from the restart. What the policies answer comes back."""
        standing = [
            Report(
                chair.name, [as_transition(alarm) for alarm in chair.state.board.alarms.values()]
            )
            for chair in self
        ]
        return self._observed([report for report in standing if report.events], wall)

    def restore(self, state: ChairState) -> Chair:
        """Put back a chair from its snapshot (after a restart)."""
        chair = self._chairs[state.name] = Chair(
            state.name, limits=self.limits, reminders=self.reminders, state=state
        )
        return chair

    # Reading -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Chair]:
        """Chairs in name order (c01, c02, ...), as a screen lists them."""
        return iter([self._chairs[name] for name in sorted(self._chairs)])

    def __contains__(self, name: object) -> bool:
        return name in self._chairs

    def chair(self, name: str) -> Chair:
        """The chair called `name` (made on first use when no chairs are configured, up to
        `max_chairs`; TooManyChairs beyond). The shell reads chairs through this; it changes
        them only through `handle` and `tick`."""
        chair = self._chairs.get(name)
        if chair is not None:
            return chair
        if self.configured:
            known = ", ".join(sorted(self.configured))
            raise UnknownChair(f"chair {name!r} is not configured (configured chairs: {known})")
        if len(self._chairs) >= self.max_chairs:
            raise TooManyChairs(
                f"chair {name!r} is new and the site already has {len(self._chairs)} chairs, "
                f"the most the max_chairs setting allows ({self.max_chairs}): "
                "list the clinic's chairs in the chairs setting, or raise max_chairs"
            )
        chair = self._chairs[name] = self._new_chair(name)
        return chair

    def _new_chair(self, name: str) -> Chair:
        return Chair(name, limits=self.limits, reminders=self.reminders)

    # Pieces ------------------------------------------------------------------------------

    def _site_input(self, item: SiteInput, wall: float) -> list[Report]:
        for policy in self.policies:
            taken = policy.take(item, wall=wall)
            if taken is not None:
                return [self._forwarded(t, wall) if isinstance(t, Forward) else t for t in taken]
        reason = "no page of this service matches (paging is not configured)"
        return [Report(None, [InputRefused(wall, Refusal.UNMATCHED, reason)])]

    def _forwarded(self, forward: Forward, wall: float) -> Report:
        try:
            target = self.chair(forward.chair)
        except UnknownChair as exc:
            return Report(forward.chair, [InputRefused(wall, Refusal.UNKNOWN_CHAIR, str(exc))])
        return Report(forward.chair, target.handle(forward.item, wall=wall))

    def _observed(self, reports: list[Report], wall: float) -> list[Report]:
        if not reports:
            return []
        answers: list[Report] = []
        for policy in self.policies:
            answers += policy.observe(reports, wall=wall)
        return answers
