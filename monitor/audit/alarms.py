"""Each alarm of a session as one story, from its transitions in the record.

The record keeps every transition of an alarm (raised, updated, acknowledged, latched, cleared)
as its own entry, all with the alarm's id. An auditor asks of the alarm as a whole: when it was
raised, how bad it was, who acknowledged it and how long that took, when it was over. The first
transition of an id in the session is its raising (or, for an alarm the chair had before the
admission, when the session took it on); the priority is the highest it had; the value and limit
are those it was raised with; acknowledged by and at are the last ones recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.domain.vocabulary import AlarmPriority, AlarmState
from monitor.record import AlarmEntry

__all__ = ["AlarmStory", "alarm_stories"]


@dataclass(frozen=True, slots=True)
class AlarmStory:
    alarm: str
    kind: str
    alarm_class: str
    priority: str
    raised_at: float
    text: str  # as raised: "SBP 186 > 180 mmHg"
    value: float | None
    limit: float | None
    acknowledged_by: str | None
    acknowledged_at: float | None
    cleared_at: float | None
    transitions: tuple[AlarmEntry, ...]

    @property
    def seconds_to_acknowledge(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return self.acknowledged_at - self.raised_at


def alarm_stories(transitions: Iterable[AlarmEntry]) -> list[AlarmStory]:
    """The alarms among `transitions` (in the order recorded), by when each was raised."""
    by_alarm: dict[str, list[AlarmEntry]] = {}
    for entry in transitions:
        by_alarm.setdefault(entry.alarm, []).append(entry)
    stories = [_story(entries) for entries in by_alarm.values()]
    return sorted(stories, key=lambda story: story.raised_at)


def _story(entries: list[AlarmEntry]) -> AlarmStory:
    first = entries[0]
    acknowledged = [e for e in entries if e.acknowledged_by is not None]
    cleared = [e.ts for e in entries if e.state == AlarmState.CLEARED]
    return AlarmStory(
        alarm=first.alarm,
        kind=str(first.kind),
        alarm_class=str(first.alarm_class),
        priority=max((str(e.priority) for e in entries), key=_rank),
        raised_at=first.ts,
        text=first.text,
        value=first.value,
        limit=first.limit,
        acknowledged_by=acknowledged[-1].acknowledged_by if acknowledged else None,
        acknowledged_at=acknowledged[-1].acknowledged_at if acknowledged else None,
        cleared_at=cleared[-1] if cleared else None,
        transitions=tuple(entries),
    )


def _rank(priority: str) -> int:
    try:
        return AlarmPriority(priority).rank
    except ValueError:
        return 0  # a priority this version does not know ranks lowest
