"""One timeline per chair, whatever the device clocks do (CLINICAL.md, safety rule 2).

How this works: a chair keeps its own clinical clock, anchored on its first timed input and
carried on by the newest reading (and by wall time between them, `Timeline.now`). Each source of
timestamps has its own offset to that clock, estimated on arrival: the bedside monitor (readings
and device reports), the pump (infusion events) and the station (session and nurse commands).

- A source's time maps to the chair's as `ts - offset`. A new source whose time is close to the
  chair's (within its tolerance) gets offset 0; one far from it gets the offset it shows.
- When a mapped time lands further from the chair's clock than the tolerance (the monitor's
  clock stepped back 60 minutes, one reading came stamped 15 minutes ahead), the source has
  stepped: its offset absorbs the step, the input is placed at the chair's `now`, and the step is
  reported so the chair can raise `clock_step` naming it. Evaluation never stops: no sequence of
  device timestamps can make current readings "out of order".
- A reading a little older than the newest (a cuff stamped when its measurement started) is
  within the monitor's tolerance, keeps its own time, and is late history for its vitals.
- Devices never anchor the chair on a time more than `FAR_AHEAD_S` ahead of the service's
  clock (a monitor whose date is years off); the chair then anchors on wall time.

Nothing here moves the chair's clock: `Chair` commits a placement only once the input is
accepted, so a refused reading or command moves no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    MONITOR = "monitor"
    PUMP = "pump"
    STATION = "station"


# How far a source's mapped time may be from the chair's clock before it is a step (s). The
# monitor's equals the reorder window: a cuff stamped at the start of its measurement arrives
# up to about a minute after later HR and SpO2 values.
TOLERANCE_S: dict[Source, float] = {
    Source.MONITOR: 120.0,
    Source.PUMP: 30.0,
    Source.STATION: 30.0,
}
FAR_AHEAD_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an input lands on the chair's timeline, and what that says about its source."""

    source: Source
    ts: float  # on the chair's timeline
    offset: float  # the source's offset after this input
    step_s: float | None = None  # the source's clock moved by this much (None: no step)
    anchor: bool = False  # this input anchors a chair that had no clock yet
    first: bool = False  # the source's first message: an offset found, not a step


@dataclass(slots=True)
class Timeline:
    anchor_ts: float | None = None  # the chair's clock at `anchor_wall`
    anchor_wall: float | None = None
    offsets: dict[Source, float] = field(default_factory=dict)

    def now(self, wall: float) -> float:
        """The chair's clinical clock: its newest reading's time, carried on by wall time."""
        if self.anchor_ts is None or self.anchor_wall is None:
            return wall
        return self.anchor_ts + max(0.0, wall - self.anchor_wall)

    def place(self, source: Source, ts: float, *, wall: float) -> Placement:
        """Map a source's time `ts`, arriving at wall time `wall`, onto the chair's timeline."""
        if self.anchor_ts is None:
            if ts - wall > FAR_AHEAD_S:
                return Placement(source, wall, ts - wall, step_s=ts - wall, anchor=True, first=True)
            return Placement(source, ts, 0.0, anchor=True)
        now, tolerance = self.now(wall), TOLERANCE_S[source]
        offset = self.offsets.get(source)
        if offset is None:
            seen = ts - now
            if abs(seen) <= tolerance:
                return Placement(source, ts, 0.0)
            return Placement(source, now, seen, step_s=seen, first=True)
        mapped = ts - offset
        drift = mapped - now
        if drift > tolerance or drift < -tolerance:
            return Placement(source, now, offset + drift, step_s=drift)
        return Placement(source, mapped, offset)

    def place_report(self, ts: float | None, *, wall: float) -> float:
        """Where a device report lands: its own time when it agrees with the chair's clock,
        else now. A Last Will's time is often stale, so reports never step or anchor."""
        now = self.now(wall)
        if ts is None:
            return now
        mapped = ts - self.offsets.get(Source.MONITOR, 0.0)
        return mapped if abs(mapped - now) <= TOLERANCE_S[Source.MONITOR] else now

    def commit(self, placement: Placement, *, wall: float, advances: bool) -> None:
        """Take an accepted input's placement; `advances`: a reading, which moves the chair's
        clock when it is the newest."""
        self.offsets[placement.source] = placement.offset
        newest = self.anchor_ts is None or placement.ts > self.anchor_ts
        if placement.anchor or (advances and newest):
            self.anchor_ts, self.anchor_wall = placement.ts, wall
