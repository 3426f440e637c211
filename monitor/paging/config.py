"""The delivery part of the paging configuration: each pager's route and address, the routes'
settings and the retry policy, read from the `[paging]` table of the TOML config (as a dict).

The pagers' names, roles and the chairs they cover are the domain's to read from the same table;
this module reads only `route` and `address` of each pager, `[paging.routes.*]` and
`[paging.delivery]`. Every error is a `PagingConfigError` (a ValueError) naming the field, and a
pager naming a route that is not configured is refused. Secrets (the webhook's key, the WCTP
security code) are kept in `Secret`, which never shows its value in a repr, a log or an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.wire.topics import check_name

MQTT, WCTP, WEBHOOK = "mqtt", "wctp", "webhook"
ROUTES = (MQTT, WCTP, WEBHOOK)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = (1.0, 2.0, 4.0)
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_SELF_TEST_EVERY_S = 300.0
MAX_RETRIES = 20
MAX_TIMEOUT_S = 60.0


class PagingConfigError(ValueError):
    """The paging configuration cannot be used; the message names the field and what to fix."""


class Secret:
    """A value that is never shown: its repr and str are `'***'`; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class PagerAddress:
    """Where one pager's pages go: `route` (mqtt, wctp, webhook) and the address on it (the
    pager topic's last level, the WCTP recipientID, the webhook's pager id)."""

    id: str
    route: str
    address: str


@dataclass(frozen=True, slots=True)
class WctpSettings:
    url: str
    sender: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    security_code: Secret | None = field(default=None, repr=False)
    notify: bool = False  # ask for delivery notifications (the host must be able to take them)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret: Secret = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    retries: int = DEFAULT_RETRIES
    backoff_s: tuple[float, ...] = DEFAULT_BACKOFF_S
    timeout_s: float = DEFAULT_TIMEOUT_S  # for one attempt, whatever the route
    self_test_every_s: float = DEFAULT_SELF_TEST_EVERY_S


@dataclass(frozen=True, slots=True)
class PagingDelivery:
    pagers: tuple[PagerAddress, ...]
    delivery: DeliverySettings = DeliverySettings()
    wctp: WctpSettings | None = None
    webhook: WebhookSettings | None = None

    @property
    def routes(self) -> tuple[str, ...]:
        """The routes configured (mqtt, the service's own broker link, always is)."""
        return (MQTT, *(name for name in (WCTP, WEBHOOK) if getattr(self, name) is not None))


def parse_paging(table: Mapping[str, Any]) -> PagingDelivery:
    """The delivery settings of the `[paging]` table; PagingConfigError naming the field."""
    routes = _table(table, "routes", "paging.routes")
    _only(routes, set(ROUTES), "paging.routes")
    wctp = _wctp(_table(routes, WCTP, "paging.routes.wctp")) if WCTP in routes else None
    webhook = (
        _webhook(_table(routes, WEBHOOK, "paging.routes.webhook")) if WEBHOOK in routes else None
    )
    delivery = _delivery(_table(table, "delivery", "paging.delivery"))
    configured = {MQTT} | ({WCTP} if wctp else set()) | ({WEBHOOK} if webhook else set())
    pagers = table.get("pagers", [])
    if not isinstance(pagers, list):
        raise PagingConfigError("paging.pagers must be a list of tables ([[paging.pagers]])")
    found = tuple(_pager(p, i, configured) for i, p in enumerate(pagers))
    _unique([p.id for p in found])
    return PagingDelivery(pagers=found, delivery=delivery, wctp=wctp, webhook=webhook)


def _pager(entry: Any, index: int, configured: set[str]) -> PagerAddress:
    where = f"paging.pagers[{index}]"
    if not isinstance(entry, Mapping):
        raise PagingConfigError(f"{where} must be a table with id, route and address")
    pager_id = _text(entry, "id", where)
    where = f"paging.pagers[{index}] ({pager_id!r})"
    route = _text(entry, "route", where, default=MQTT)
    if route not in ROUTES:
        raise PagingConfigError(f"{where}.route {route!r} must be one of {', '.join(ROUTES)}")
    if route not in configured:
        raise PagingConfigError(
            f"{where}.route {route!r} is not configured: add [paging.routes.{route}]"
        )
    address = _text(entry, "address", where, default=None if route == WCTP else pager_id)
    if route == MQTT:
        try:
            check_name(address, f"{where}.address (the last level of its pager topic)")
        except ValueError as exc:
            raise PagingConfigError(str(exc)) from None
    return PagerAddress(id=pager_id, route=route, address=address)


def _wctp(table: Mapping[str, Any]) -> WctpSettings:
    where = "paging.routes.wctp"
    _only(table, {"url", "sender", "timeout_s", "security_code", "notify"}, where)
    code = table.get("security_code")
    if code is not None and not isinstance(code, str):
        raise PagingConfigError(f"{where}.security_code must be a string")
    notify = table.get("notify", False)
    if not isinstance(notify, bool):
        raise PagingConfigError(f"{where}.notify must be true or false")
    return WctpSettings(
        url=_url(table, where),
        sender=_text(table, "sender", where, default="infusion-monitor"),
        timeout_s=_timeout(table, where),
        security_code=Secret(code) if code else None,
        notify=notify,
    )


def _webhook(table: Mapping[str, Any]) -> WebhookSettings:
    where = "paging.routes.webhook"
    _only(table, {"url", "secret", "timeout_s"}, where)
    secret = table.get("secret")
    if not isinstance(secret, str) or len(secret) < 16:
        raise PagingConfigError(f"{where}.secret must be a string of at least 16 characters")
    return WebhookSettings(
        url=_url(table, where), secret=Secret(secret), timeout_s=_timeout(table, where)
    )


def _delivery(table: Mapping[str, Any]) -> DeliverySettings:
    where = "paging.delivery"
    _only(table, {"retries", "backoff_s", "timeout_s", "self_test_every_s"}, where)
    retries = table.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise PagingConfigError(f"{where}.retries must be a whole number from 0 to {MAX_RETRIES}")
    backoff = table.get("backoff_s", list(DEFAULT_BACKOFF_S))
    if not isinstance(backoff, list) or not backoff or not all(_seconds(b) for b in backoff):
        raise PagingConfigError(f"{where}.backoff_s must be a list of seconds, each 0 to 600")
    every = table.get("self_test_every_s", DEFAULT_SELF_TEST_EVERY_S)
    if not _seconds(every) or every < 10:
        raise PagingConfigError(f"{where}.self_test_every_s must be 10 to 600 seconds")
    return DeliverySettings(
        retries=retries,
        backoff_s=tuple(float(b) for b in backoff),
        timeout_s=_timeout(table, where),
        self_test_every_s=float(every),
    )


def _seconds(value: Any, most: float = 600.0) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0 <= value <= most


def _timeout(table: Mapping[str, Any], where: str) -> float:
    value = table.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not _seconds(value, MAX_TIMEOUT_S) or value <= 0:
        raise PagingConfigError(
            f"{where}.timeout_s must be more than 0 and at most {MAX_TIMEOUT_S:g} s"
        )
    return float(value)


def _url(table: Mapping[str, Any], where: str) -> str:
    url = _text(table, "url", where)
    if not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise PagingConfigError(f"{where}.url must be an http:// or https:// address")
    return url


def _text(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise PagingConfigError(f"{where}.{key} must be a non-empty string")
    return value


def _table(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, Mapping):
        raise PagingConfigError(f"{where} must be a table")
    return value


def _only(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise PagingConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )


def _unique(ids: list[str]) -> None:
    seen: set[str] = set()
    for pager_id in ids:
        if pager_id in seen:
            raise PagingConfigError(f"paging.pagers: pager id {pager_id!r} is given twice")
        seen.add(pager_id)
