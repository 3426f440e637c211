"""Delivering pages: each page tried on its pager's route with a timeout, retried with backoff,
and every attempt reported, the last one marked final.

How this works: `submit` starts one task per page and returns at once; at most
`max_in_flight` deliveries run together, and a page beyond that is refused on the spot (an
`Attempt` with ok=False, final=True: refused is never silent). A delivery makes attempt 1,
and after a failure waits `backoff_before(n)` and makes attempt n, up to `1 + retries`
attempts; `is_final` says which attempt is the last. Each attempt is bounded by `timeout_s`
whatever the route does. `on_attempt` hears every attempt, as it ends; what follows a final
failure (paging_failed, another route) is the caller's to decide. The schedule and the final
rule are pure functions, tested without I/O; sleep and clock are parameters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from monitor.paging.config import PagerAddress, PagingDelivery
from monitor.paging.routes import DeliveryError, MqttRoute, Route
from monitor.paging.wctp import WctpRoute
from monitor.paging.webhook import WebhookRoute
from monitor.wire.outbound import Outgoing, PageOut

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 200
TOO_MANY = "too many pages in flight"
SELF_TEST_TEXT = "paging self-test: no action needed"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering one page to one pager (attempt_no 0: refused without a try)."""

    ts: float
    page: str
    pager: str
    route: str
    attempt_no: int
    ok: bool
    detail: str
    final: bool


def backoff_before(attempt_no: int, backoff_s: tuple[float, ...]) -> float:
    """Seconds to wait before attempt `attempt_no` (1-based): none before the first; then the
    schedule in turn, its last step repeated when there are more retries than steps."""
    if attempt_no <= 1 or not backoff_s:
        return 0.0
    return backoff_s[min(attempt_no - 2, len(backoff_s) - 1)]


def is_final(attempt_no: int, *, ok: bool, retries: int) -> bool:
    """An attempt is the last when it delivered, or when it was the last one allowed."""
    return ok or attempt_no >= retries + 1


def self_test_page(pager: PagerAddress, *, ts: float) -> PageOut:
    """The self-test message sent through `pager`'s route (kind test: nothing to answer)."""
    return PageOut(
        page=f"selftest-{pager.route}-{int(ts * 1000)}",
        ts=ts,
        alarm="self-test",
        chair="-",
        priority="low",
        text=SELF_TEST_TEXT,
        kind="test",
    )


class Dispatcher:
    """Delivers pages on their pagers' routes; see the module's note for how."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        on_attempt: Callable[[Attempt], None],
        retries: int = 3,
        timeout_s: float = 5.0,
        backoff_s: tuple[float, ...] = (1.0, 2.0, 4.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.routes: Mapping[str, Route] = {route.name: route for route in routes}
        self.on_attempt, self.retries, self.timeout_s = on_attempt, retries, timeout_s
        self.backoff_s, self.sleep, self.clock = backoff_s, sleep, clock
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[Attempt]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, pager: PagerAddress, message: PageOut) -> bool:
        """Start delivering `message` to `pager`; False (and a final Attempt) when refused."""
        if len(self._tasks) >= self.max_in_flight:
            self._report(pager, message, attempt_no=0, ok=False, detail=TOO_MANY, final=True)
            return False
        task = asyncio.create_task(self.deliver(pager, message), name=f"page-{message.page}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def deliver(self, pager: PagerAddress, message: PageOut) -> Attempt:
        """Deliver with retries, reporting each attempt; the final Attempt is returned."""
        attempt_no = 0
        while True:
            attempt_no += 1
            await self._wait(backoff_before(attempt_no, self.backoff_s))
            ok, detail = await self._try(pager, message)
            final = is_final(attempt_no, ok=ok, retries=self.retries)
            attempt = self._report(
                pager, message, attempt_no=attempt_no, ok=ok, detail=detail, final=final
            )
            if final:
                return attempt

    async def self_test(self, pagers: Iterable[PagerAddress]) -> dict[str, Attempt]:
        """One `kind="test"` message through each configured route that a pager uses (to its
        first pager), all at once, one attempt each; the outcome per route name."""
        first: dict[str, PagerAddress] = {}
        for pager in pagers:
            first.setdefault(pager.route, pager)
        names = [name for name in self.routes if name in first]
        results = await asyncio.gather(*(self._test_one(first[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        """Cancel every delivery still running and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drained(self) -> None:
        """Wait until no delivery is running (for a clean stop, and for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _test_one(self, pager: PagerAddress) -> Attempt:
        message = self_test_page(pager, ts=self.clock())
        ok, detail = await self._try(pager, message)
        return self._report(pager, message, attempt_no=1, ok=ok, detail=detail, final=True)

    async def _try(self, pager: PagerAddress, message: PageOut) -> tuple[bool, str]:
        route = self.routes.get(pager.route)
        if route is None:
            return False, f"route {pager.route!r} is not configured"
        try:
            async with asyncio.timeout(self.timeout_s):
                return True, await route.send(pager, message)
        except DeliveryError as exc:
            return False, exc.reason
        except TimeoutError:
            return False, f"no answer within {self.timeout_s:g} s"
        except Exception as exc:  # a route's own bug must not lose the page silently
            log.exception("route %s failed on page %s", pager.route, message.page)
            return False, f"{type(exc).__name__} in route {pager.route}"

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            await self.sleep(seconds)

    def _report(
        self, pager: PagerAddress, message: PageOut, *, attempt_no: int, ok: bool, detail: str,
        final: bool,
    ) -> Attempt:  # fmt: skip
        attempt = Attempt(
            ts=self.clock(), page=message.page, pager=pager.id, route=pager.route,
            attempt_no=attempt_no, ok=ok, detail=detail, final=final,
        )  # fmt: skip
        try:
            self.on_attempt(attempt)
        except Exception:
            log.exception("on_attempt failed for page %s attempt %d", message.page, attempt_no)
        return attempt


# The routes of a configuration ----------------------------------------------------------------


def build_routes(
    delivery: PagingDelivery,
    *,
    publish: Callable[[Outgoing], None],
    connected: Callable[[], bool],
    root: str,
    site: str,
) -> list[Route]:
    """The configured routes: MQTT through the service's link always, WCTP and the webhook when
    their tables are there. Close them with `close_routes` when the service stops."""
    routes: list[Route] = [MqttRoute(publish, connected=connected, root=root, site=site)]
    if delivery.wctp is not None:
        w = delivery.wctp
        wctp = WctpRoute(
            w.url, sender=w.sender, security_code=w.security_code, notify=w.notify,
            timeout_s=w.timeout_s,
        )  # fmt: skip
        routes.append(wctp)
    if delivery.webhook is not None:
        h = delivery.webhook
        routes.append(WebhookRoute(h.url, secret=h.secret, site=site, timeout_s=h.timeout_s))
    return routes


async def close_routes(routes: list[Route]) -> None:
    """Close the HTTP clients of the routes that have one."""
    for route in routes:
        if isinstance(route, WctpRoute | WebhookRoute):
            await route.aclose()
