"""Paging: an alarm nobody answers at the station finds a nurse, escalates until someone owns
it, and a broken paging path is itself an alarm. A site policy beside the chairs (`Clinic`).

How this works (the defaults and their reasons are in `paging_config`):

- An alarm that goes ACTIVE (or LATCHED, still unacknowledged), is not shown under another
  and has a chain for its priority starts an escalation. Step 1 fires its `after_s` after the
  alarm was raised (on the wall time the clinic passes), each next step `after_s` after the
  previous. A step pages its target: the chair's primary nurse (from the current coverage),
  the charge nurse, or every member of the fail-safe group. Past the last step the last step
  is paged again every `after_s`: an escalation never goes silent while nobody owns the alarm.
- Accept (from any pager paged for the alarm): the escalation ends, the other pagers paged
  get an all-clear, and the alarm is acknowledged at its chair in the pager holder's name
  (`Forward`; the clinic applies it through the chair's door). Decline of the newest page:
  the next step at once (the last step declined: the fail-safe group is paged again).
  A reply from a pager that was not paged for that page id is refused.
- Acknowledged at the station, cleared, or shown under another alarm: the escalation ends and
  every pager paged gets an all-clear. ACKNOWLEDGED -> ACTIVE (a reminder, a worse value)
  starts the escalation again from step 1; a rising priority restarts it on the new chain.
- A hand-over moves the chairs a pager covers as primary nurse, and its default or charge
  role, to another known pager; steps not yet fired page the new holder. The fail-safe group
  does not change hands. A hand-over that cannot be made is refused and changes nothing.
- A page the shell could not deliver (`DeliveryFailed`) raises the site's technical alarm
  `paging_failed` (high, chair None: an `AlarmTransition` in a site report) and pages the
  fail-safe group with `route_hint="failsafe"`; `DeliveryRecovered` for every failing route
  clears it. The station cannot acknowledge it: it stands while a route is down.

Page ids are `{alarm}-p{n}` with one counter for the site, so the same inputs at the same
wall times give the same pages. State is plain dataclasses (a snapshot can be added later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from monitor.domain.clinic import (
    DeliveryFailed,
    DeliveryRecovered,
    Forward,
    HandOver,
    InputRefused,
    PagerAnswer,
    Refusal,
    Report,
    SiteEvent,
    SiteInput,
)
from monitor.domain.commands import Acknowledge
from monitor.domain.events import (
    AlarmTransition,
    CoverageChanged,
    EscalationEnded,
    EscalationStepped,
    PageAnswered,
    PageKind,
    PageSent,
    Target,
    alarm_id,
)
from monitor.domain.paging_config import Coverage, PagingConfig, Step
from monitor.domain.vocabulary import AlarmClass, AlarmKind, AlarmPriority, AlarmState

HISTORY = 256  # ended escalations remembered, for late replies and the dashboard's words
FAILSAFE_ROUTE = "failsafe"
REPEAT_MIN_S = 30.0  # the last step is paged again no sooner than this, whatever its after_s


@dataclass(frozen=True, slots=True)
class PageRecord:
    """One page of an escalation: who, when, at which step, and the answer if any."""

    page: str
    pager: str
    pager_name: str
    at: float
    step: int
    answer: str | None = None  # "accepted" or "declined"
    answered_at: float | None = None
    route_hint: str | None = None


@dataclass(slots=True)
class Escalation:
    alarm: str
    chair: str
    priority: AlarmPriority
    text: str
    started_at: float
    step: int = 0  # steps fired so far; the next step is steps[step] (or the last, repeated)
    due: float | None = None
    pages: list[PageRecord] = field(default_factory=list)
    ended: str | None = None
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class PagingStatus:
    """An alarm's paging state, for the dashboard to put into words."""

    alarm: str
    chair: str
    pages: tuple[PageRecord, ...]
    next_step: int | None  # 1-based; None once the escalation ended
    next_to: Target | None
    next_due: float | None
    next_in_s: float | None  # seconds from the `wall` asked about to the next step
    ended: str | None  # why it ended ("accepted by Kim (pager)"), None while running


@dataclass(slots=True)
class PagingState:
    coverage: Coverage
    live: dict[str, Escalation] = field(default_factory=dict)
    history: dict[str, Escalation] = field(default_factory=dict)
    serial: int = 0
    failing_routes: dict[str, str] = field(default_factory=dict)  # route -> why
    paging_failed: str | None = None  # the id of the standing paging_failed alarm
    paging_failed_at: float = 0.0
    alarms_raised: int = 0


class PagingPolicy:
    """The site's paging policy (a `SitePolicy`)."""

    def __init__(self, config: PagingConfig) -> None:
        self.config = config
        self.state = PagingState(coverage=config.coverage)

    # SitePolicy ----------------------------------------------------------------------------

    def take(self, item: SiteInput, *, wall: float) -> list[Report | Forward] | None:
        if isinstance(item, PagerAnswer):
            return self._answer(item, wall)
        if isinstance(item, HandOver):
            return [self._hand_over(item, wall)]
        if isinstance(item, DeliveryFailed):
            return self._delivery_failed(item, wall)
        return self._delivery_recovered(item, wall)

    def observe(self, reports: Sequence[Report], *, wall: float) -> list[Report]:
        events: list[SiteEvent] = []
        for report in reports:
            if report.chair is None:
                continue  # site reports: ours, or refusals
            for event in report.events:
                if isinstance(event, AlarmTransition):
                    events += self._transition(report.chair, event, wall)
        events += self._fire_due(wall)
        return [Report(None, events)] if events else []

    def tick(self, *, wall: float) -> list[Report]:
        events = self._fire_due(wall)
        return [Report(None, events)] if events else []

    def status(self, alarm: str, wall: float) -> PagingStatus | None:
        """Who was paged when, answered or not, and the next step and when it is due."""
        esc = self.state.live.get(alarm) or self.state.history.get(alarm)
        if esc is None:
            return None
        running = esc.ended is None
        return PagingStatus(
            alarm=esc.alarm,
            chair=esc.chair,
            pages=tuple(esc.pages),
            next_step=min(esc.step, self._last(esc)) + 1 if running else None,
            next_to=self._steps(esc)[min(esc.step, self._last(esc))].to if running else None,
            next_due=esc.due if running else None,
            next_in_s=esc.due - wall if running and esc.due is not None else None,
            ended=esc.ended,
        )

    # Alarms --------------------------------------------------------------------------------

    def _transition(self, chair: str, t: AlarmTransition, wall: float) -> list[SiteEvent]:
        esc = self.state.live.get(t.alarm)
        pageable = (
            t.state in (AlarmState.ACTIVE, AlarmState.LATCHED)
            and t.suppressed_by is None
            and bool(self.config.chain(t.priority).steps)
        )
        if not pageable:
            return self._end(esc, _why_over(t), wall, all_clear=True) if esc else []
        if esc is None or esc.priority is not t.priority:
            pages = esc.pages if esc else []
            self.state.live[t.alarm] = Escalation(
                t.alarm, chair, t.priority, t.text, wall, pages=pages, due=wall
            )
            self._schedule(self.state.live[t.alarm], wall)
        else:
            esc.text = t.text
        return []

    def _fire_due(self, wall: float) -> list[SiteEvent]:
        """Every step due by `wall`, earliest first, each at its own due time (a late tick
        catches up; it never skips a step)."""
        events: list[SiteEvent] = []
        while due := [e for e in self.state.live.values() if e.due is not None and e.due <= wall]:
            esc = min(due, key=lambda e: (e.due or 0.0, e.alarm))
            reason = self._no_answer_reason(esc)
            events += self._step(esc, at=esc.due or wall, reason=reason)
        return events

    def _step(
        self, esc: Escalation, *, at: float, reason: str, to: Target | None = None
    ) -> list[SiteEvent]:
        index = min(esc.step, self._last(esc))
        target = to or self._steps(esc)[index].to
        esc.step = index + 1
        events: list[SiteEvent] = [
            EscalationStepped(at, esc.alarm, esc.chair, esc.step, target, reason)
        ]
        for pager in self.state.coverage.pagers(target, esc.chair):
            events.append(self._page(esc, pager, at=at))
        self._schedule(esc, at)
        return events

    def _schedule(self, esc: Escalation, since: float) -> None:
        after = self._steps(esc)[min(esc.step, self._last(esc))].after_s
        if esc.step > self._last(esc):
            after = max(after, REPEAT_MIN_S)
        esc.due = since + after

    def _page(
        self, esc: Escalation, pager: str, *, at: float, route_hint: str | None = None
    ) -> PageSent:
        page = self._page_id(esc.alarm)
        name = self._name(pager)
        esc.pages.append(PageRecord(page, pager, name, at, esc.step, route_hint=route_hint))
        return PageSent(
            at,
            page,
            pager,
            name,
            esc.chair,
            esc.alarm,
            esc.priority,
            esc.text,
            esc.step,
            PageKind.PAGE,
            route_hint,
        )

    def _end(
        self, esc: Escalation, reason: str, wall: float, *, all_clear: bool, spare: str = ""
    ) -> list[SiteEvent]:
        esc.ended, esc.ended_at, esc.due = reason, wall, None
        self.state.live.pop(esc.alarm, None)
        self.state.history[esc.alarm] = esc
        while len(self.state.history) > HISTORY:
            self.state.history.pop(next(iter(self.state.history)))
        events: list[SiteEvent] = [EscalationEnded(wall, esc.alarm, esc.chair, reason)]
        if all_clear:
            paged = dict.fromkeys(p.pager for p in esc.pages if p.pager != spare)
            text = f"ALL CLEAR: {esc.chair} {esc.text} ({reason})"
            for pager in paged:
                page = self._page_id(esc.alarm)
                events.append(
                    PageSent(
                        wall,
                        page,
                        pager,
                        self._name(pager),
                        esc.chair,
                        esc.alarm,
                        esc.priority,
                        text,
                        0,
                        PageKind.ALL_CLEAR,
                    )
                )
        return events

    # Replies -------------------------------------------------------------------------------

    def _answer(self, item: PagerAnswer, wall: float) -> list[Report | Forward]:
        found = self._find_page(item.page)
        if found is None or found[1].pager != item.pager:
            why = (
                "no page of this service has that id"
                if found is None
                else (f"page {item.page} was sent to another pager, not {item.pager}")
            )
            return [Report(None, [InputRefused(wall, Refusal.UNMATCHED, f"pager reply: {why}")])]
        esc, record = found
        by = f"{record.pager_name} (pager)"
        answer = "accepted" if item.accept else "declined"
        index = esc.pages.index(record)
        esc.pages[index] = replace(record, answer=answer, answered_at=wall)
        if esc.ended is not None:
            note = f"the escalation had already ended: {esc.ended}"
            answered = PageAnswered(
                wall, item.page, item.pager, item.accept, by, esc.alarm, esc.chair, note
            )
            return [Report(None, [answered])]
        answered = PageAnswered(wall, item.page, item.pager, item.accept, by, esc.alarm, esc.chair)
        if item.accept:
            events = [
                answered,
                *self._end(esc, f"accepted by {by}", wall, all_clear=True, spare=item.pager),
            ]
            ack = Acknowledge(wall, esc.alarm, by)
            return [Report(None, events), Forward(esc.chair, ack)]
        if record.step < esc.step:
            note = "an earlier step's page: the escalation is already past it"
            return [Report(None, [replace(answered, note=note)])]
        last = esc.step > self._last(esc)
        to = Target.FAILSAFE if last else None
        events = [answered, *self._step(esc, at=wall, reason=f"declined by {by}", to=to)]
        return [Report(None, events)]

    def _find_page(self, page: str) -> tuple[Escalation, PageRecord] | None:
        for pool in (self.state.live, self.state.history):
            for esc in pool.values():
                for record in esc.pages:
                    if record.page == page:
                        return esc, record
        return None

    # Coverage ------------------------------------------------------------------------------

    def _hand_over(self, item: HandOver, wall: float) -> Report:
        coverage = self.state.coverage
        problem = None
        if self.config.pager(item.to_pager) is None:
            problem = f"unknown pager {item.to_pager!r}"
        elif self.config.pager(item.from_pager) is None:
            problem = f"unknown pager {item.from_pager!r}"
        elif item.from_pager == item.to_pager:
            problem = f"{item.from_pager} would hand over to itself"
        chairs = tuple(sorted(c for c, p in coverage.primary.items() if p == item.from_pager))
        roles = tuple(
            role
            for role, holder in (("default", coverage.default), ("charge", coverage.charge))
            if holder == item.from_pager
        )
        if problem is None and not chairs and not roles:
            problem = f"{item.from_pager} covers no chair to hand over"
        if problem is not None:
            reason = f"hand-over refused: {problem}; every chair stays covered as it was"
            return Report(None, [InputRefused(wall, Refusal.UNMATCHED, reason)])
        primary = {
            c: item.to_pager if p == item.from_pager else p for c, p in coverage.primary.items()
        }
        self.state.coverage = replace(
            coverage,
            primary=primary,
            default=item.to_pager if "default" in roles else coverage.default,
            charge=item.to_pager if "charge" in roles else coverage.charge,
        )
        changed = CoverageChanged(wall, item.from_pager, item.to_pager, chairs, roles, item.by)
        return Report(None, [changed])

    # Delivery ------------------------------------------------------------------------------

    def _delivery_failed(self, item: DeliveryFailed, wall: float) -> list[Report | Forward]:
        why = f"page {item.page or '(self-test)'} to {item.pager} by {item.route}: {item.reason}"
        self.state.failing_routes[item.route] = why
        events: list[SiteEvent] = []
        if self.state.paging_failed is None:
            self.state.alarms_raised += 1
            self.state.paging_failed = alarm_id(
                "site", "paging_failed", wall, self.state.alarms_raised
            )
            self.state.paging_failed_at = wall
            events.append(self._paging_failed(wall, AlarmState.ACTIVE, None, why))
        found = self._find_page(item.page) if item.page else None
        if found is not None and found[0].ended is None and found[1].route_hint is None:
            # Not again for a page already re-routed: a fail-safe route that is down too is
            # the standing paging_failed alarm's to say, not a loop of pages.
            esc, failsafe = found[0], self.state.coverage.failsafe
            events += [self._page(esc, p, at=wall, route_hint=FAILSAFE_ROUTE) for p in failsafe]
        return [Report(None, events)]

    def _delivery_recovered(self, item: DeliveryRecovered, wall: float) -> list[Report | Forward]:
        self.state.failing_routes.pop(item.route, None)
        if self.state.failing_routes or self.state.paging_failed is None:
            return [Report(None, [])]
        why = f"{item.route} delivers again"
        event = self._paging_failed(wall, AlarmState.CLEARED, AlarmState.ACTIVE, why)
        self.state.paging_failed = None
        return [Report(None, [event])]

    def _paging_failed(
        self, wall: float, state: AlarmState, previous: AlarmState | None, why: str
    ) -> AlarmTransition:
        assert self.state.paging_failed is not None
        return AlarmTransition(
            alarm=self.state.paging_failed,
            ts=wall,
            session=None,
            kind=AlarmKind.PAGING_FAILED,
            alarm_class=AlarmClass.TECHNICAL,
            priority=AlarmPriority.HIGH,
            state=state,
            previous_state=previous,
            reason="raised" if previous is None else "condition_ends",
            value=None,
            limit=None,
            text=f"Paging failed: {why}" if previous is None else f"Paging works again: {why}",
            raised_at=self.state.paging_failed_at,
        )

    # Pieces --------------------------------------------------------------------------------

    def _steps(self, esc: Escalation) -> Sequence[Step]:
        return self.config.chain(esc.priority).steps

    def _last(self, esc: Escalation) -> int:
        return len(self.config.chain(esc.priority).steps) - 1

    def _page_id(self, alarm: str) -> str:
        self.state.serial += 1
        return f"{alarm}-p{self.state.serial}"

    def _name(self, pager: str) -> str:
        found = self.config.pager(pager)
        return found.name if found else pager

    def _no_answer_reason(self, esc: Escalation) -> str:
        after = self._steps(esc)[min(esc.step, self._last(esc))].after_s
        if esc.step == 0:
            return f"not acknowledged at the station for {after:g} s"
        return f"no answer for {after:g} s"


def _why_over(t: AlarmTransition) -> str:
    if t.suppressed_by is not None and t.state in (AlarmState.ACTIVE, AlarmState.LATCHED):
        return f"shown under {t.suppressed_by.value}"
    if t.acknowledged_by and t.reason in ("acknowledge",):
        return f"acknowledged at the station by {t.acknowledged_by}"
    if t.state is AlarmState.CLEARED:
        return f"alarm over ({t.reason})"
    return f"alarm {t.state.value}"
