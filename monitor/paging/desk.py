"""The paging desk: between the site's paging policy (pure, in the domain) and the delivery
routes. It sends what the policy decided, tells the policy what the routes did, and checks
every route end to end on a timer.

How this works: `send(reports)` takes the `PageSent` events of the core's reports and hands
each to the dispatcher as a contract page (`PageOut`) for its pager's route. Every delivery
attempt is recorded (`record`). A page still undelivered after its retries becomes a
`DeliveryFailed` site input (`feed`): the policy raises `paging_failed` and pages the fail-safe
group with the hint `failsafe`, which the desk sends by every route that is not failing (the
pager's own first, then the others by the pager's id): another route, as the fail-safe must.
A route that delivers again, or passes its self-test, becomes `DeliveryRecovered`. `run` sends a
self-test (`kind` test, never answered) through every route a pager uses every
`self_test_every_s`, so a broken path is found before an alarm needs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from monitor.domain.clinic import DeliveryFailed, DeliveryRecovered, Report, SiteInput
from monitor.domain.events import PageSent
from monitor.paging.config import MQTT, WEBHOOK, PagerAddress, PagingDelivery
from monitor.paging.dispatch import Attempt, Dispatcher, close_routes
from monitor.paging.routes import Route
from monitor.wire.outbound import PageOut

log = logging.getLogger(__name__)

FAILSAFE = "failsafe"  # the policy's route hint: deliver by another route
REMEMBERED = 4096  # pages whose chair the desk remembers, for the record of their attempts
SELF_TEST = "selftest-"  # the page id of a self-test starts so (dispatch.self_test_page)
BY_ID = (MQTT, WEBHOOK)  # routes on which a pager's id is an address (WCTP needs its own)


class PagerDesk:
    def __init__(
        self,
        delivery: PagingDelivery,
        routes: Sequence[Route],
        *,
        feed: Callable[[SiteInput], None],
        record: Callable[[Attempt, str | None], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.delivery, self.routes, self.feed, self.record = delivery, routes, feed, record
        self.clock = clock
        self.addresses = {pager.id: pager for pager in delivery.pagers}
        settings = delivery.delivery
        self.dispatcher = Dispatcher(
            routes, on_attempt=self._attempted, retries=settings.retries,
            timeout_s=settings.timeout_s, backoff_s=settings.backoff_s, clock=clock,
        )  # fmt: skip
        self.failing: dict[str, str] = {}  # route -> why, as last told to the policy
        self._chairs: OrderedDict[str, str] = OrderedDict()  # page id -> chair

    # Pages out ---------------------------------------------------------------------------

    def send(self, reports: Sequence[Report]) -> None:
        """Deliver the pages among `reports` (site reports carry them)."""
        for report in reports:
            if report.chair is not None:
                continue
            for event in report.events:
                if isinstance(event, PageSent):
                    self._send(event)

    def _send(self, page: PageSent) -> None:
        message = PageOut(
            page=page.page, ts=page.ts, alarm=page.alarm, chair=page.chair,
            priority=page.priority.value, text=page.text, kind=page.kind.value,
        )  # fmt: skip
        self._remember(page.page, page.chair)
        targets = self.targets(page.pager, failsafe=page.route_hint == FAILSAFE)
        if not targets:
            reason = f"pager {page.pager!r} has no delivery address"
            log.error("page %s: %s", page.page, reason)
            self.feed(DeliveryFailed(self.clock(), page.page, page.pager, "none", reason))
            return
        for target in targets:
            self.dispatcher.submit(target, message)

    def targets(self, pager: str, *, failsafe: bool = False) -> list[PagerAddress]:
        """Where a page to `pager` goes: its own route; for the fail-safe, also every other
        route that is not failing on which its id is an address (its own first, failing or
        not, when every route fails)."""
        own = self.addresses.get(pager)
        if not failsafe:
            return [own] if own is not None else []
        working = [r.name for r in self.routes if r.name not in self.failing]
        chosen: list[PagerAddress] = []
        if own is not None and (own.route in working or not working):
            chosen.append(own)
        for route in working:
            if route in BY_ID and (own is None or route != own.route):
                chosen.append(PagerAddress(pager, route, pager))
        if not chosen and own is not None:
            chosen.append(own)
        return chosen

    # What the routes did -----------------------------------------------------------------

    def _attempted(self, attempt: Attempt) -> None:
        """Every attempt is recorded; the last one of a page (or a self-test) tells the policy
        whether its route works."""
        self.record(attempt, self._chairs.get(attempt.page))
        if not attempt.final:
            return
        if attempt.ok:
            self._recovered(attempt.route)
            return
        self.failing[attempt.route] = attempt.detail
        test = attempt.page.startswith(SELF_TEST)
        page, reason = (
            (None, f"self-test: {attempt.detail}") if test else (attempt.page, attempt.detail)
        )
        self.feed(DeliveryFailed(attempt.ts, page, attempt.pager, attempt.route, reason))

    def _recovered(self, route: str) -> None:
        if self.failing.pop(route, None) is not None:
            self.feed(DeliveryRecovered(self.clock(), route))

    # Self-tests --------------------------------------------------------------------------

    async def run(self) -> None:
        """Self-test every route a pager uses, every `self_test_every_s`, until cancelled."""
        every = self.delivery.delivery.self_test_every_s
        while True:
            await self.self_test()
            await asyncio.sleep(every)

    async def self_test(self) -> None:
        """One self-test through each route (its outcome comes back as an attempt)."""
        await self.dispatcher.self_test(self.delivery.pagers)

    async def close(self) -> None:
        await self.dispatcher.close()
        await close_routes(list(self.routes))

    def _remember(self, page: str, chair: str) -> None:
        self._chairs[page] = chair
        while len(self._chairs) > REMEMBERED:
            self._chairs.popitem(last=False)
