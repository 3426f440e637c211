"""Paging configuration: the pagers, who covers which chair, and the escalation chain and
reminder time of each priority, with the defaults and their reasons.

Defaults (clinic policy, configurable; CLINICAL.md "Escalation"):

- high: the chair's primary nurse when nobody acknowledged at the station within 30 s (a high
  alarm wants an immediate response, and a nurse at the station answers within seconds); the
  charge nurse 60 s later (the primary had a minute to answer or decline); the fail-safe group
  120 s after that, and again every 120 s until someone owns it (a decline of the last step
  pages the fail-safe group at once). The fail-safe group always
  exists, so an escalation never ends in silence.
- medium: the primary nurse after 120 s (a prompt response; most medium alarms are answered at
  the station before that), and again every 120 s while nobody answers; a decline pages the
  fail-safe group.
- low: never paged (awareness only; paging them is how alarm fatigue starts).
- reminders: an acknowledged alarm whose condition persists sounds again after 180 s (high) or
  600 s (medium), as bedside monitors re-announce, and re-enters its escalation from step 1.
  The shell builds the `Clinic` with `PagingConfig.reminders`, so station and pagers agree.

`PagingConfig.from_mapping` reads the `[paging]` table of the clinic's TOML (already loaded);
a value it cannot use raises `PagingConfigError` naming the field (`paging.pagers[1].role`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from monitor.domain.events import Target
from monitor.domain.limits import DEFAULT_REMINDERS, LimitsError, Reminders
from monitor.domain.vocabulary import AlarmPriority

E = TypeVar("E", bound=StrEnum)


class PagingConfigError(ValueError):
    """Paging configuration the service cannot page by; the message names the field."""


class Role(StrEnum):
    NURSE = "nurse"
    CHARGE = "charge"
    FAILSAFE = "failsafe"


@dataclass(frozen=True, slots=True)
class Pager:
    """A pager (or a nurse's paging handle). `route` is read by the shell's delivery."""

    id: str
    name: str
    role: Role = Role.NURSE
    route: str = "mqtt"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who is paged for a chair: its primary nurse (or `default`), the charge nurse, and the
    fail-safe group (never empty)."""

    charge: str
    failsafe: tuple[str, ...]
    primary: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None

    def primary_of(self, chair: str) -> str | None:
        return self.primary.get(chair, self.default)

    def pagers(self, to: Target, chair: str) -> tuple[str, ...]:
        """The pagers a step to `to` pages for `chair`; a chair with no primary falls to the
        charge nurse rather than to nobody."""
        if to is Target.FAILSAFE:
            return self.failsafe
        if to is Target.PRIMARY and (primary := self.primary_of(chair)) is not None:
            return (primary,)
        return (self.charge,)


@dataclass(frozen=True, slots=True)
class Step:
    """Page `to` once `after_s` have passed since the previous step (step 1: since raised)."""

    after_s: float
    to: Target


@dataclass(frozen=True, slots=True)
class Chain:
    steps: tuple[Step, ...] = ()


DEFAULT_CHAINS: Mapping[AlarmPriority, Chain] = {
    AlarmPriority.HIGH: Chain(
        (Step(30, Target.PRIMARY), Step(60, Target.CHARGE), Step(120, Target.FAILSAFE))
    ),
    AlarmPriority.MEDIUM: Chain((Step(120, Target.PRIMARY),)),
    AlarmPriority.LOW: Chain(),
}


@dataclass(frozen=True, slots=True)
class PagingConfig:
    pagers: tuple[Pager, ...]
    coverage: Coverage
    chains: Mapping[AlarmPriority, Chain] = field(default_factory=lambda: dict(DEFAULT_CHAINS))
    reminders: Reminders = DEFAULT_REMINDERS

    def __post_init__(self) -> None:
        ids = [p.id for p in self.pagers]
        if not ids:
            raise PagingConfigError("paging.pagers: at least one pager is needed")
        if duplicated := sorted({i for i in ids if ids.count(i) > 1}):
            raise PagingConfigError(f"paging.pagers: pager id {', '.join(duplicated)} twice")
        if not self.coverage.failsafe:
            raise PagingConfigError("paging.coverage.failsafe: the fail-safe group is empty")
        for where, pager in _references(self.coverage):
            if pager not in ids:
                raise PagingConfigError(
                    f"{where}: unknown pager {pager!r} (pagers: {', '.join(sorted(ids))})"
                )

    def pager(self, pager_id: str) -> Pager | None:
        return next((p for p in self.pagers if p.id == pager_id), None)

    def chain(self, priority: AlarmPriority) -> Chain:
        return self.chains.get(priority, Chain())

    def check_coverage(self, chairs: Iterable[str]) -> None:
        """Refuse a site where a chair would have no primary nurse, naming every such chair."""
        if self.coverage.default is not None:
            return
        listed = sorted(set(chairs))
        if not listed:
            raise PagingConfigError(
                "paging.coverage.default: with no chair list, chairs appear from the wire and "
                "none would have a primary nurse; set coverage.default or list the chairs"
            )
        uncovered = [c for c in listed if c not in self.coverage.primary]
        if uncovered:
            raise PagingConfigError(
                f"paging.coverage.primary: chair {', '.join(uncovered)} uncovered (no primary "
                "and no coverage.default)"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PagingConfig:
        """Read the `[paging]` table; missing escalation and reminder sections take the
        defaults."""
        pagers = tuple(
            _pager(p, f"paging.pagers[{i}]") for i, p in enumerate(_list(data, "pagers"))
        )
        coverage = _coverage(_table(data.get("coverage"), "paging.coverage"))
        chains = dict(DEFAULT_CHAINS)
        escalation = _table(data.get("escalation", {}), "paging.escalation")
        for name, value in escalation.items():
            where = f"paging.escalation.{name}"
            priority = _enum(AlarmPriority, name, where)
            chains[priority] = _chain(_table(value, where), where)
        reminders = _reminders(_table(data.get("reminder", {}), "paging.reminder"))
        return cls(pagers, coverage, chains, reminders)


def _references(coverage: Coverage) -> list[tuple[str, str]]:
    found = [("paging.coverage.charge", coverage.charge)]
    found += [(f"paging.coverage.failsafe[{i}]", p) for i, p in enumerate(coverage.failsafe)]
    found += [(f"paging.coverage.primary.{c}", p) for c, p in sorted(coverage.primary.items())]
    if coverage.default is not None:
        found.append(("paging.coverage.default", coverage.default))
    return found


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PagingConfigError(f"{where}: expected a table, not {value!r}")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise PagingConfigError(f"paging.{key}: expected a list of tables, not {value!r}")
    return value


def _text(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise PagingConfigError(f"{where}.{key}: expected a non-empty string, not {value!r}")
    return value


def _enum(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise PagingConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _pager(value: Any, where: str) -> Pager:
    data = _table(value, where)
    role = _enum(Role, data.get("role", "nurse"), f"{where}.role")
    route = _text(data, "route", where, "mqtt")
    return Pager(_text(data, "id", where), _text(data, "name", where), role, route)


def _coverage(data: Mapping[str, Any]) -> Coverage:
    where = "paging.coverage"
    failsafe = data.get("failsafe")
    if not isinstance(failsafe, list) or not all(isinstance(p, str) for p in failsafe):
        raise PagingConfigError(f"{where}.failsafe: expected a list of pager ids, not {failsafe!r}")
    primary = _table(data.get("primary", {}), f"{where}.primary")
    for chair, pager in primary.items():
        if not isinstance(pager, str):
            raise PagingConfigError(f"{where}.primary.{chair}: expected a pager id, not {pager!r}")
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise PagingConfigError(f"{where}.default: expected a pager id, not {default!r}")
    return Coverage(_text(data, "charge", where), tuple(failsafe), dict(primary), default)


def _chain(data: Mapping[str, Any], where: str) -> Chain:
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise PagingConfigError(f"{where}.steps: expected a list of steps, not {steps!r}")
    return Chain(tuple(_step(s, f"{where}.steps[{i}]") for i, s in enumerate(steps)))


def _step(value: Any, where: str) -> Step:
    data = _table(value, where)
    after = data.get("after_s")
    if isinstance(after, bool) or not isinstance(after, int | float):
        raise PagingConfigError(f"{where}.after_s: expected seconds, not {after!r}")
    if not (math.isfinite(after) and 0 <= after <= 3600):
        raise PagingConfigError(f"{where}.after_s: {after:g} is outside 0-3600 s")
    return Step(float(after), _enum(Target, data.get("to"), f"{where}.to"))


def _reminders(data: Mapping[str, Any]) -> Reminders:
    times: dict[str, float] = {}
    for key in ("high_s", "medium_s"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PagingConfigError(f"paging.reminder.{key}: expected seconds, not {value!r}")
            times[key] = float(value)
    if unknown := sorted(set(data) - {"high_s", "medium_s"}):
        raise PagingConfigError(f"paging.reminder.{unknown[0]}: unknown (high_s, medium_s)")
    try:
        return Reminders(**times)
    except LimitsError as exc:
        raise PagingConfigError(f"paging.reminder: {exc}") from None
