"""Offline replay: a recorded journal of inbound messages through the core, alarms out.

A journal is JSON Lines, one inbound message per line, in arrival order:

    {"received": 1795256102.0, "topic": "clinic/north/chair/c01/vitals", "payload": {...}}

`received` is the wall time it arrived (epoch seconds); `payload` is the JSON payload as an object
or as the raw text. The service's record holds the same journal, so
`infusion-monitor replay sqlite:///audit.db` replays what a service saw. Wall time is simulated
with a tick every `tick_s` between messages, as the service ticks, so the same journal gives the
same alarms, ids included, every time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from monitor.domain.clinic import Clinic
from monitor.pipeline.intake import Intake
from monitor.record import open_recorder
from monitor.settings import Settings
from monitor.wire.outbound import AlarmOut, Outgoing

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
                       "payload": entry.payload}  # fmt: skip
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


def replay_outgoing(entries: Iterable[dict[str, Any]], settings: Settings) -> list[Outgoing]:
    """Run `entries` through a fresh core; return everything the service would publish."""
    intake = Intake(
        Clinic(
            limits=settings.clinic_limits(), chairs=settings.chairs, max_chairs=settings.max_chairs
        ),
        site=settings.site,
        root=settings.root,
    )
    outgoing: list[Outgoing] = []
    last_tick: float | None = None
    for entry in entries:
        wall = float(entry["received"])
        last_tick = _tick_until(intake, last_tick, wall, settings.tick_s, outgoing)
        payload = entry["payload"]
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        outgoing += intake.message(str(entry["topic"]), raw, wall).outgoing
    return outgoing


def _tick_until(
    intake: Intake, last: float | None, wall: float, step: float, outgoing: list[Outgoing]
) -> float:
    if last is None:
        return wall
    gap = wall - last
    if gap <= 0:
        return last
    step = max(step, gap / MAX_TICKS_PER_GAP)
    tick = last + step
    while tick <= wall:
        outgoing += intake.tick(tick).outgoing
        last, tick = tick, tick + step
    return last


def describe(alarm: AlarmOut) -> str:
    ts = json.loads(alarm.model_dump_json(include={"ts"}))["ts"]
    by = f" by {alarm.acknowledged_by}" if alarm.acknowledged_by else ""
    return f"{ts} {alarm.chair} {alarm.kind} {alarm.state} {alarm.priority}{by}: {alarm.text}"
