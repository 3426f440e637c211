"""What a chair remembers: plain data the shell snapshots (through `monitor.wire.snapshot`) and
restores. Its own module so that the chair and its vitals side (`vigil`) both name it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain.alarms import AlarmBoard
from monitor.domain.clock import Timeline
from monitor.domain.session import Session
from monitor.domain.vitals import Vital


@dataclass(slots=True)
class ChairState:
    """Everything a chair remembers; plain data, so the shell can snapshot and restore it."""

    name: str
    board: AlarmBoard
    session: Session | None = None
    sessions_opened: int = 0
    session_wall: float | None = None
    device_online: bool | None = None
    device_name: str | None = None
    device_since: float | None = None
    device_in_use: bool = False
    timeline: Timeline = field(default_factory=Timeline)
    newest_reading_ts: float | None = None
    placed_ts: float | None = None  # where the last reading landed on the chair's timeline
    clock_step_at: float | None = None
    recent_readings: list[str] = field(default_factory=list)
    latest: dict[Vital, tuple[float, float]] = field(default_factory=dict)
    valid_wall: dict[Vital, float] = field(default_factory=dict)
    missing_since: dict[Vital, float] = field(default_factory=dict)  # first reading without it
    audio_paused_until: float | None = None
    audio_paused_by: str | None = None
    audio_pause_rank: int = 0
