"""The chairs of one site: routes each input to its chair and lets time act on all of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from monitor.domain.chair import Chair, ChairState
from monitor.domain.commands import Input
from monitor.domain.events import Event
from monitor.domain.limits import DEFAULT_LIMITS, Limits


class UnknownChair(LookupError):
    """A message named a chair this clinic is not configured with."""


class Clinic:
    """Chairs by name. With `chairs` given, only those exist; otherwise a chair appears on its
    first message."""

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, chairs: Iterable[str] = ()) -> None:
        self.limits = limits
        self.configured = frozenset(chairs)
        self._chairs: dict[str, Chair] = {
            name: Chair(name, limits=limits) for name in sorted(self.configured)
        }

    def __iter__(self) -> Iterator[Chair]:
        """Chairs in name order (c01, c02, ...), as a screen lists them."""
        return iter([self._chairs[name] for name in sorted(self._chairs)])

    def __contains__(self, name: object) -> bool:
        return name in self._chairs

    def chair(self, name: str) -> Chair:
        chair = self._chairs.get(name)
        if chair is not None:
            return chair
        if self.configured:
            known = ", ".join(sorted(self.configured))
            raise UnknownChair(f"chair {name!r} is not configured (configured chairs: {known})")
        chair = self._chairs[name] = Chair(name, limits=self.limits)
        return chair

    def restore(self, state: ChairState) -> Chair:
        """Put back a chair from a snapshot (after a restart)."""
        chair = self._chairs[state.name] = Chair(state.name, limits=self.limits, state=state)
        return chair

    def handle(self, chair: str, item: Input, *, wall: float) -> list[Event]:
        return self.chair(chair).handle(item, wall=wall)

    def tick(self, wall: float) -> dict[str, list[Event]]:
        return {chair.name: events for chair in self if (events := chair.tick(wall))}
