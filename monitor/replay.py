"""Offline replay: a recorded journal of inbound messages through the core, alarms out.

A journal is JSON Lines, one inbound message per line, in arrival order:

    {"received": 1795256102.0, "topic": "clinic/north/chair/c01/vitals", "payload": {...}}

`received` is the wall time it arrived (epoch seconds); `payload` is the JSON payload as an object
or as the raw text; `"retained": true` (or the record's `"outcome": "retained"`) marks a message
the broker delivered from its store, which the service refuses (so does the replay). The service's record holds the same journal, so
`infusion-monitor replay sqlite:///audit.db` replays what a service saw. Wall time is simulated
with a tick every `tick_s` between messages, as the service ticks, so the same journal gives the
same alarms, ids included, every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from monitor.domain.clinic import Report
from monitor.domain.events import PageSent
from monitor.pipeline.intake import Intake
from monitor.record import open_recorder
from monitor.settings import Settings
from monitor.wire.outbound import AlarmOut, Outgoing, PageOut
from monitor.wire.topics import pager_topic

# Beyond this gap between two messages, ticks are spaced out: nothing in the core needs finer
# time than its delays when no message arrives.
MAX_TICKS_PER_GAP = 600


class JournalError(ValueError):
    """A journal line that cannot be replayed; the message names the line."""


def read_journal(source: str) -> Iterator[dict[str, Any]]:
    """Journal entries from a JSONL file or from a service's record (sqlite:///PATH)."""
    if source.startswith("sqlite:///"):
        recorder = open_recorder(source)
        try:
            for entry in recorder.journal():
                yield {"received": entry.received_at, "topic": entry.topic,
                       "payload": entry.payload, "outcome": entry.outcome}  # fmt: skip
        finally:
            recorder.close()
        return
    with Path(source).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                float(entry["received"])
                str(entry["topic"])
                entry["payload"]
            except (ValueError, KeyError, TypeError) as exc:
                raise JournalError(f"{source}:{number}: not a journal entry ({exc})") from None
            yield entry


def replay(entries: Iterable[dict[str, Any]], settings: Settings) -> list[AlarmOut]:
    """Run `entries` through a fresh core; return every alarm transition, in order."""
    return [
        AlarmOut.model_validate_json(message.payload)
        for message in replay_outgoing(entries, settings)
        if message.topic.endswith("/alarm")
    ]


def fresh_intake(settings: Settings, site: str) -> Intake:
    """A fresh core for `site`, as the service builds it from `settings` (limits, chairs,
    paging and its reminders)."""
    clinic, policy = settings.core()
    return Intake(clinic, site=site, root=settings.root, paging=policy)


def replay_outgoing(entries: Iterable[dict[str, Any]], settings: Settings) -> list[Outgoing]:
    """Run `entries` through a fresh core; return everything the service would publish, its
    pages included (with the settings' `[paging]`, the same journal gives the same pages; what
    the delivery routes did is not in a journal, so a page the live service could not deliver
    is not replayed as such)."""
    intake = fresh_intake(settings, settings.site)
    outgoing: list[Outgoing] = []
    last_tick: float | None = None
    for entry in entries:
        wall = float(entry["received"])
        last_tick = _tick_until(intake, last_tick, wall, settings.tick_s, outgoing, settings)
        payload = entry["payload"]
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        # A message the broker delivered from its store was refused as such: so it is again.
        retained = bool(entry.get("retained")) or entry.get("outcome") == "retained"
        result = intake.message(str(entry["topic"]), raw, wall, retained=retained)
        outgoing += result.outgoing + pages(result.reports, settings)
    return outgoing


def pages(reports: Sequence[Report], settings: Settings) -> list[Outgoing]:
    """The pages among `reports`, as the MQTT route would publish them."""
    found = []
    for report in reports:
        for event in report.events if report.chair is None else ():
            if isinstance(event, PageSent):
                page = PageOut(page=event.page, ts=event.ts, alarm=event.alarm, chair=event.chair,
                               priority=event.priority.value, text=event.text,
                               kind=event.kind.value)  # fmt: skip
                topic = pager_topic(settings.root, settings.site, event.pager)
                found.append(Outgoing(topic, page.to_json()))
    return found


def _tick_until(
    intake: Intake,
    last: float | None,
    wall: float,
    step: float,
    outgoing: list[Outgoing],
    settings: Settings,
) -> float:
    if last is None:
        return wall
    gap = wall - last
    if gap <= 0:
        return last
    step = max(step, gap / MAX_TICKS_PER_GAP)
    tick = last + step
    while tick <= wall:
        result = intake.tick(tick)
        outgoing += result.outgoing + pages(result.reports, settings)
        last, tick = tick, tick + step
    return last


def describe(alarm: AlarmOut) -> str:
    ts = json.loads(alarm.model_dump_json(include={"ts"}))["ts"]
    by = f" by {alarm.acknowledged_by}" if alarm.acknowledged_by else ""
    return f"{ts} {alarm.chair} {alarm.kind} {alarm.state} {alarm.priority}{by}: {alarm.text}"
