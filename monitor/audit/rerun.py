"""A stored session run again through the core, next to what the record says it did.

`rerun_session` replays the site's journal from its start (the chair needs everything before the
admission: its clock, its alarm count, which alarms it had) through a fresh core, as
`monitor.replay` does, with the same simulated ticks, and keeps what the core makes for the
session: its alarm transitions and its recovery updates, each as the service records it.
`differences` names every way they differ from the stored ones; none means the record's alarm
and recovery history is what the core makes of the messages the record holds.

How this works: times. A transition caused by a message is stamped with event time (a reading's,
a command's own time, or for an input placed on the chair's clock, the chair's clock at the
message's recorded arrival), and alarm ids are made from that time and the chair's count of
alarms: compared exactly. A transition caused by a clock tick (`vitals_stale` and the per-vital
stale alarms, `recovery_overdue` and the `overdue` recovery update, reminders of acknowledged
alarms, `clock_step` ending) is stamped with the chair's clock *at the tick* (its newest reading's
time carried on by the wall time since it arrived), not with the moment its condition began
(the window's end, the acknowledgement plus the reminder time). The record does not hold the
live service's tick times, and the rerun ticks every `tick_s` from the journal's first message,
so such a transition can only be placed between the rerun's tick before and its tick after the
one that made it (a `TickWindow`): its time is compared against that window, and an alarm raised
at a tick has an id made from the tick's time, so it is matched by its place in the history and
its later transitions by that match. Its value and text measure the tick too (seconds without a
valid value, minutes since the stop): the value is compared within the window's wall span (plus
the 0.1 the core rounds to), the text with its numbers left out. Everything else (kinds, states,
priorities, limits, who acknowledged and when, the order of transitions, recovery statuses,
`recovered_at`, `infusion_stopped_at`) is compared exactly.

What the record cannot tell, and so shows as a difference: a condition that lasted less than a
tick interval, caught by one run's tick and not the other's; a tick-made transition one run made
before a message and the other after it; the time the service was down (the rerun ticks through
it); an acknowledgement naming a tick-raised alarm by its id (the rerun's id differs, so the
rerun's core rejects it); what the paging routes did (not in the journal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from monitor.audit import SessionNotFound
from monitor.audit.times import utc
from monitor.pipeline.intake import Intake, Result
from monitor.pipeline.router import Outcome
from monitor.record import AlarmEntry, EventEntry, Recorder, SessionEntry
from monitor.replay import MAX_TICKS_PER_GAP, fresh_intake
from monitor.settings import Settings

__all__ = ["RemadeAlarm", "RemadeUpdate", "Rerun", "TickWindow", "differences", "rerun_session"]

RECOVERY_UPDATE = "RecoveryUpdate"
ROUNDING = 0.1  # the coarsest rounding of a value measured at a tick (stale seconds)
EXACT_ALARM_FIELDS = ("site", "chair", "session", "kind", "alarm_class", "priority", "state",
                      "limit", "acknowledged_by", "acknowledged_at", "suppressed_by")  # fmt: skip
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class TickWindow:
    """Where the live service's tick that made a transition may have fallen: between the
    chair's clock at the rerun's tick before (`earliest`) and at its tick after (`latest`),
    `wall_s` seconds of wall time apart."""

    earliest: float
    latest: float
    wall_s: float

    def holds(self, ts: float) -> bool:
        return self.earliest - 1e-6 <= ts <= self.latest + 1e-6


@dataclass(frozen=True, slots=True)
class RemadeAlarm:
    """An alarm transition the rerun made; `tick`: made by a clock tick (None: by a message)."""

    entry: AlarmEntry
    tick: TickWindow | None = None


@dataclass(frozen=True, slots=True)
class RemadeUpdate:
    """A recovery update the rerun made; `tick` as for `RemadeAlarm`."""

    entry: EventEntry
    tick: TickWindow | None = None


@dataclass(frozen=True, slots=True)
class Rerun:
    """A session's stored alarm transitions and recovery updates, in the order recorded, next
    to those the core made of the journal again."""

    session: SessionEntry
    recorded_alarms: tuple[AlarmEntry, ...]
    alarms: tuple[RemadeAlarm, ...]
    recorded_recovery: tuple[EventEntry, ...]
    recovery: tuple[RemadeUpdate, ...]


def rerun_session(recorder: Recorder, session: str, settings: Settings) -> Rerun:
    """Run the journal of `session`'s site through a fresh core with `settings` (limits,
    chairs, paging, topic root, `tick_s`: those the live service ran with), until the session
    is over (or, while it is still open, on to its chair's newest snapshot: the service ran
    until then).

    Raises:
        SessionNotFound: the record holds no session `session`.
        RecordError: the record cannot be read.
    """
    summary = next((s for s in recorder.sessions() if s.id == session), None)
    if summary is None:
        raise SessionNotFound(f"no session {session!r} in the record")
    run = _Run(fresh_intake(settings, summary.site), summary, settings.tick_s)
    for message in recorder.journal(summary.site):
        retained = message.outcome == Outcome.RETAINED.value
        run.message(message.topic, message.payload.encode(), message.received_at, retained)
        if run.over:
            break
    else:
        saved = [s.saved_at for s in recorder.snapshots(summary.site) if s.chair == summary.chair]
        if saved:
            run.tick_until(max(saved))
    alarms, recovery = run.finish()
    return Rerun(
        session=summary,
        recorded_alarms=tuple(recorder.alarms(session=session)),
        alarms=alarms,
        recorded_recovery=tuple(recorder.events(session=session, type=RECOVERY_UPDATE)),
        recovery=recovery,
    )


@dataclass(slots=True)
class _Made:
    entry: AlarmEntry | EventEntry
    ticked: bool = False
    earliest: float = 0.0  # the chair's clock at the tick before
    wall_before: float = 0.0
    latest: float | None = None  # the chair's clock at the tick after, once it came
    wall_after: float = 0.0


@dataclass(slots=True)
class _Run:
    """The journal through the core, message by message, with the ticks between (the same
    schedule as `monitor.replay`); keeps what the session got."""

    intake: Intake
    summary: SessionEntry
    tick_s: float
    made: list[_Made] = field(default_factory=list)
    waiting: list[_Made] = field(default_factory=list)  # made at a tick, before the next tick
    last_tick: float | None = None
    clock_before: float = 0.0  # the chair's clock at the last tick
    opened: bool = False
    over: bool = False

    def message(self, topic: str, payload: bytes, wall: float, retained: bool) -> None:
        if self.last_tick is None:
            self.last_tick, self.clock_before = wall, self._clock(wall)
        self.tick_until(wall)
        self._keep(self.intake.message(topic, payload, wall, retained=retained), ticked=False)
        ref = self._chair_session()
        self.opened = self.opened or ref == self.summary.id
        self.over = self.opened and ref != self.summary.id

    def tick_until(self, wall: float) -> None:
        last = self.last_tick
        if last is None or wall <= last:
            return
        step = max(self.tick_s, (wall - last) / MAX_TICKS_PER_GAP)
        tick = last + step
        while tick <= wall:
            self._tick(tick)
            tick += step

    def finish(self) -> tuple[tuple[RemadeAlarm, ...], tuple[RemadeUpdate, ...]]:
        if self.last_tick is not None:
            after = self.last_tick + self.tick_s
            self._close_windows(self._clock(after), after)
        alarms = tuple(
            RemadeAlarm(m.entry, _window(m)) for m in self.made if isinstance(m.entry, AlarmEntry)
        )
        updates = tuple(
            RemadeUpdate(m.entry, _window(m)) for m in self.made if isinstance(m.entry, EventEntry)
        )
        return alarms, updates

    def _tick(self, wall: float) -> None:
        clock = self._clock(wall)
        self._close_windows(clock, wall)
        before, wall_before = self.clock_before, self.last_tick or wall
        for made in self._keep(self.intake.tick(wall), ticked=True):
            made.earliest, made.wall_before = before, wall_before
            self.waiting.append(made)
        self.last_tick, self.clock_before = wall, clock

    def _close_windows(self, clock: float, wall: float) -> None:
        for made in self.waiting:
            made.latest, made.wall_after = clock, wall
        self.waiting.clear()

    def _keep(self, result: Result, *, ticked: bool) -> list[_Made]:
        kept = [
            _Made(entry, ticked)
            for entry in result.entries
            if isinstance(entry, AlarmEntry | EventEntry)
            and entry.session == self.summary.id
            and (isinstance(entry, AlarmEntry) or entry.type == RECOVERY_UPDATE)
        ]
        self.made += kept
        return kept

    def _clock(self, wall: float) -> float:
        """The session's chair's clinical clock at `wall` (wall time before it exists)."""
        clinic, name = self.intake.clinic, self.summary.chair
        return clinic.chair(name).clinical_now(wall) if name in clinic else wall

    def _chair_session(self) -> str | None:
        clinic, name = self.intake.clinic, self.summary.chair
        return clinic.chair(name).session_ref if name in clinic else None


def _window(made: _Made) -> TickWindow | None:
    if not made.ticked:
        return None
    latest = made.latest if made.latest is not None else made.entry.ts
    return TickWindow(made.earliest, latest, made.wall_after - made.wall_before)


def differences(rerun: Rerun) -> list[str]:
    """Each way the rerun differs from the record, in words; empty when it reproduces the
    session's alarm and recovery history."""
    return _AlarmComparison(rerun).run() + _recovery_differences(rerun)


Pair = Callable[[int, int], None]


def _align(
    recorded: Sequence[object],
    remade: Sequence[object],
    *,
    pair: Pair,
    missing: Callable[[int], None],
    extra: Callable[[int], None],
) -> None:
    """Walk the two histories aligned on their keys: pairs compared, the rest named."""
    matcher = SequenceMatcher(None, list(recorded), list(remade), autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        both = min(i2 - i1, j2 - j1)
        for k in range(both):
            pair(i1 + k, j1 + k)
        for i in range(i1 + both, i2):
            missing(i)
        for j in range(j1 + both, j2):
            extra(j)


class _AlarmComparison:
    def __init__(self, rerun: Rerun) -> None:
        self.recorded, self.remade = rerun.recorded_alarms, rerun.alarms
        self.found: list[str] = []
        self.ids: dict[str, str] = {}  # a rerun id raised at a tick -> the recorded id
        self.at_tick: dict[str, TickWindow] = {}  # rerun ids raised at a tick
        self.seen: set[str] = set()

    def run(self) -> list[str]:
        _align(
            [(a.kind, a.state) for a in self.recorded],
            [(r.entry.kind, r.entry.state) for r in self.remade],
            pair=self._pair,
            missing=lambda i: self.found.append(
                f"{_alarm_name(i, self.recorded[i])}: not made by the rerun"
            ),
            extra=lambda j: self.found.append(
                f"the rerun made {_describe(self.remade[j].entry)}, not in the record"
            ),
        )
        return self.found

    def _pair(self, i: int, j: int) -> None:
        stored, remade = self.recorded[i], self.remade[j]
        made = remade.entry
        if made.alarm not in self.seen and remade.tick is not None:
            self.ids[made.alarm] = stored.alarm
            self.at_tick[made.alarm] = remade.tick
        self.seen.add(made.alarm)
        said = _alarm_name(i, stored)
        expected = self.ids.get(made.alarm, made.alarm)
        if stored.alarm != expected:
            self.found.append(f"{said}: alarm id recorded {stored.alarm}, rerun {expected}")
        for name in EXACT_ALARM_FIELDS:
            self._same(said, name, getattr(stored, name), getattr(made, name))
        self._times(said, stored, remade)
        self._measured(said, stored, made, self.at_tick.get(made.alarm))

    def _times(self, said: str, stored: AlarmEntry, remade: RemadeAlarm) -> None:
        made, tick = remade.entry, remade.tick
        if tick is None:
            self._same(said, "ts", stored.ts, made.ts)
        elif not tick.holds(stored.ts):
            self.found.append(
                f"{said}: made at a clock tick, recorded at {utc(stored.ts)}, outside the "
                f"rerun's tick window {utc(tick.earliest)} to {utc(tick.latest)}"
            )

    def _measured(
        self, said: str, stored: AlarmEntry, made: AlarmEntry, tick: TickWindow | None
    ) -> None:
        """Value, text and note: exact, or for an alarm raised at a tick, what the tick
        measured within its window."""
        if tick is None:
            for name in ("value", "text", "note"):
                self._same(said, name, getattr(stored, name), getattr(made, name))
            return
        close = (
            stored.value is None
            if made.value is None
            else stored.value is not None
            and abs(stored.value - made.value) <= tick.wall_s + ROUNDING
        )
        if not close:
            self.found.append(
                f"{said}: value recorded {stored.value!r}, rerun {made.value!r} "
                f"(measured at a tick, {tick.wall_s:g} s apart)"
            )
        for name in ("text", "note"):
            ours, theirs = getattr(stored, name), getattr(made, name)
            self._same(said, name, _unmeasured(ours), _unmeasured(theirs), ours, theirs)

    def _same(self, said: str, name: str, stored: object, made: object, *shown: object) -> None:
        if stored != made:
            was, now = shown if shown else (stored, made)
            self.found.append(f"{said}: {name} recorded {was!r}, rerun {now!r}")


def _unmeasured(text: str | None) -> str | None:
    return _NUMBER.sub("#", text) if text is not None else None


def _alarm_name(index: int, entry: AlarmEntry) -> str:
    return f"alarm transition {index + 1} of the record ({_describe(entry)})"


def _describe(entry: AlarmEntry) -> str:
    return f"{entry.kind} {entry.state} at {utc(entry.ts)}"


def _recovery_differences(rerun: Rerun) -> list[str]:
    recorded, remade = rerun.recorded_recovery, rerun.recovery
    found: list[str] = []

    def pair(i: int, j: int) -> None:
        said = f"recovery update {i + 1} of the record ({_update_name(recorded[i])})"
        found.extend(f"{said}: {d}" for d in _update_differences(recorded[i], remade[j]))

    _align(
        [_data(e).get("status") for e in recorded],
        [_data(r.entry).get("status") for r in remade],
        pair=pair,
        missing=lambda i: found.append(
            f"recovery update {i + 1} of the record ({_update_name(recorded[i])}): "
            "not made by the rerun"
        ),
        extra=lambda j: found.append(
            f"the rerun made recovery update {_update_name(remade[j].entry)}, not in the record"
        ),
    )
    return found


def _update_differences(stored: EventEntry, remade: RemadeUpdate) -> list[str]:
    ours, theirs, tick = _data(stored), _data(remade.entry), remade.tick
    found = [
        f"{name} recorded {getattr(stored, name)!r}, rerun {getattr(remade.entry, name)!r}"
        for name in ("site", "chair", "session")
        if getattr(stored, name) != getattr(remade.entry, name)
    ]
    timed = {"ts", "minutes_since_stop"} if tick is not None else set()
    for name in sorted((ours.keys() | theirs.keys()) - timed):
        if ours.get(name) != theirs.get(name):
            found.append(f"{name} recorded {ours.get(name)!r}, rerun {theirs.get(name)!r}")
    if tick is not None:
        found += _ticked_update(ours, theirs, tick)
    return found


def _ticked_update(ours: dict[str, Any], theirs: dict[str, Any], tick: TickWindow) -> list[str]:
    found = []
    ts = ours.get("ts")
    if not isinstance(ts, int | float) or not tick.holds(ts):
        found.append(
            f"made at a clock tick, recorded at {ts!r}, outside the rerun's tick window "
            f"{utc(tick.earliest)} to {utc(tick.latest)}"
        )
    minutes, again = ours.get("minutes_since_stop"), theirs.get("minutes_since_stop")
    slack = (tick.latest - tick.earliest) / 60.0 + 0.01  # rounded to 0.01 min
    if not (isinstance(minutes, int | float) and isinstance(again, int | float)) or (
        abs(minutes - again) > slack
    ):
        found.append(f"minutes_since_stop recorded {minutes!r}, rerun {again!r}")
    return found


def _data(entry: EventEntry) -> dict[str, Any]:
    """An event's data as the record reads it back (JSON: enums as their values)."""
    data: dict[str, Any] = json.loads(json.dumps(entry.data))
    return data


def _update_name(entry: EventEntry) -> str:
    return f"{_data(entry).get('status')} at {utc(entry.ts)}"
