"""A chair's stored snapshot: the versioned format a restart reads back, decoupled from the domain.

How this works: the service saves each chair's `ChairState` so that a restart picks up its open
session and its active alarms. The stored shape is spelled out here, model by model, and owns its
field names; the domain's dataclasses may rename or regroup their fields without touching what is
on disk, because `dump_chair` and `load_chair` translate field by field. Each snapshot says its
`format`:

- format 1: what `TypeAdapter(ChairState)` wrote before formats were numbered (no `format` key).
  Frozen: it is only read, through `_upcast_1_to_2`, which also fills the defaults format 1's
  reader gave to fields older snapshots lack and drops fields it no longer knew.
- format 2 (`SNAPSHOT_FORMAT`, what `dump_chair` writes): these models. Alarms are a list (each
  names its kind), pairs are named (`{"ts", "value"}`, `{"sbp", "dbp"}`), the monitor's status
  and the audio pause are grouped.

`load_chair` reads the format (no key: 1), applies the upcasters from that format to the newest
one by one (pure functions over dicts), then validates the newest models. A snapshot it cannot
read, or of a format newer than it knows, raises `SnapshotError` saying what is wrong; the
service logs it, keeps the row, and starts that chair empty.

Changing the format (any change to these models, or to the meaning of a value):

1. bump `SNAPSHOT_FORMAT` and change the models;
2. add an upcaster from the previous format to `UPCASTERS` (a pure function over dicts), so
   every snapshot already stored still reads;
3. commit a fixture of the previous format, written by the code that wrote it, under
   `tests/unit/data/snapshot_v<N>_*.json`, and a test that reads it back into a working chair.

Enum-typed values use the domain's enums, so their stored form is their value (`"spo2_low"`),
the same string the MQTT contract carries; renaming an enum value is a format change too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from monitor.domain.alarms import (
    Alarm,
    AlarmBoard,
    AlarmClass,
    AlarmKind,
    AlarmPriority,
    AlarmState,
)
from monitor.domain.baseline import Baseline, BaselineSamples, BaselineSource
from monitor.domain.chair import ChairState
from monitor.domain.clock import Source, Timeline
from monitor.domain.limits import Limits
from monitor.domain.recovery import RecoveryStatus, RecoveryTracker
from monitor.domain.session import Infusion, Phase, Session
from monitor.domain.vitals import Vital

SNAPSHOT_FORMAT = 2


class SnapshotError(ValueError):
    """A stored snapshot that cannot be read back into a chair; the text says why."""


# Format 2 -------------------------------------------------------------------------------------


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimedValue(_Stored):
    ts: float
    value: float


class CuffValue(_Stored):
    sbp: float
    dbp: float


class LimitsSnapshot(_Stored):
    """A session's limits as they were at admission (the clinic's may have changed since).

    The names are the clinic's configuration vocabulary (the same as limit overrides)."""

    sbp_high: float
    sbp_low: float
    dbp_high: float
    hr_high: float
    hr_low: float
    spo2_low: float
    spo2_critical: float
    sbp_rise: float
    dbp_rise: float
    preinfusion_sbp_warn: float
    preinfusion_dbp_warn: float
    preinfusion_sbp_stop: float
    preinfusion_dbp_stop: float
    hr_delay_s: float
    spo2_delay_s: float
    bp_hysteresis_mmhg: float
    hr_hysteresis_per_min: float
    spo2_hysteresis_pct: float
    bp_worse_mmhg: float
    hr_worse_per_min: float
    spo2_worse_pct: float
    recovery_tolerance: float
    recovery_window_s: float
    recovery_readings: int
    recovery_cuff_spacing_s: float
    recovery_spo2_min: float
    recovery_spo2_drop: float
    baseline_spread_mmhg: float
    continuous_stale_s: float
    nibp_stale_s: float


class AlarmSnapshot(_Stored):
    id: str
    kind: AlarmKind
    alarm_class: AlarmClass
    priority: AlarmPriority
    state: AlarmState
    value: float | None
    limit: float | None
    text: str
    raised_at: float
    updated_at: float
    latching: bool
    session: str | None
    acknowledged_by: str | None
    acknowledged_at: float | None
    acknowledged_value: float | None
    note: str | None
    suppressed_by: AlarmKind | None


class BoardSnapshot(_Stored):
    alarms: list[AlarmSnapshot]  # in the board's order; the board belongs to the chair
    onsets: dict[AlarmKind, float]  # conditions waiting out their delay, since
    raised_count: int


class BaselineSnapshot(_Stored):
    sbp: float | None
    dbp: float | None
    hr: float | None
    spo2: float | None
    source: BaselineSource
    nibp_readings: int
    missing: str | None


class SamplesSnapshot(_Stored):
    nibp: list[CuffValue]
    continuous: dict[Vital, list[TimedValue]]


class InfusionSnapshot(_Stored):
    started_at: float | None
    stopped_at: float | None
    paused_at: float | None
    paused_s: float
    drug: str | None
    dose_mg_per_kg: float | None
    planned_minutes: float | None


class RecoverySnapshot(_Stored):
    session: str
    stopped_at: float
    baseline: BaselineSnapshot
    limits: LimitsSnapshot
    status: RecoveryStatus
    consecutive: int
    counted_at: float | None
    recovered_at: float | None
    reason: str | None
    discharged_by: str | None
    before_discharge: RecoveryStatus | None
    latest: dict[str, float]
    off_baseline: dict[str, float]


class SessionSnapshot(_Stored):
    id: str
    patient: str
    admitted_at: float
    admitted_by: str | None
    limits: LimitsSnapshot
    phase: Phase
    phase_since: float
    weight_kg: float | None
    entered_baseline: dict[Vital, float]
    limit_overrides: dict[str, float]
    samples: SamplesSnapshot
    baseline: BaselineSnapshot | None
    infusion: InfusionSnapshot
    recovery: RecoverySnapshot | None
    closed_at: float | None


class DeviceSnapshot(_Stored):
    online: bool | None  # None: never heard of
    name: str | None
    since: float | None
    in_use: bool


class TimelineSnapshot(_Stored):
    anchor_ts: float | None
    anchor_wall: float | None
    offsets: dict[Source, float]


class AudioPauseSnapshot(_Stored):
    until: float | None  # None: not paused
    by: str | None
    rank: int


class ChairSnapshot(_Stored):
    format: Literal[2]
    chair: str
    board: BoardSnapshot
    session: SessionSnapshot | None
    sessions_opened: int
    session_wall: float | None
    device: DeviceSnapshot
    timeline: TimelineSnapshot
    newest_reading_ts: float | None
    placed_ts: float | None
    clock_step_at: float | None
    recent_readings: list[str]
    latest: dict[Vital, TimedValue]
    valid_wall: dict[Vital, float]
    missing_since: dict[Vital, float]
    audio_pause: AudioPauseSnapshot

    @model_validator(mode="after")
    def _one_alarm_per_kind(self) -> ChairSnapshot:
        kinds = [alarm.kind for alarm in self.board.alarms]
        twice = sorted({kind.value for kind in kinds if kinds.count(kind) > 1})
        if twice:
            raise ValueError(f"a chair has one alarm per kind; board has {', '.join(twice)} twice")
        return self


# Reading and writing ----------------------------------------------------------------------------


def dump_chair(state: ChairState) -> str:
    """The chair's state as a format-`SNAPSHOT_FORMAT` snapshot (JSON)."""
    return _chair_out(state).model_dump_json()


def load_chair(text: str) -> ChairState:
    """A chair's state from a snapshot of any known format.

    Raises:
        SnapshotError: the text is not a snapshot, is of a format newer than this service
            knows, or does not validate; the message names what is wrong.
    """
    data = _parse(text)
    found = _format_of(data)
    for version in range(found, SNAPSHOT_FORMAT):
        data = _upcast(version, data)
    try:
        snapshot = ChairSnapshot.model_validate(data)
    except ValidationError as exc:
        raise SnapshotError(f"format {found} snapshot is invalid: {_summary(exc)}") from exc
    return _chair_in(snapshot)


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"snapshot is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError(f"snapshot is a JSON {type(data).__name__}, not an object")
    return data


def _format_of(data: Mapping[str, Any]) -> int:
    """The snapshot's format: its `format`, or 1 (written before formats were numbered)."""
    found = data.get("format", 1)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise SnapshotError(f"snapshot format must be a whole number from 1, not {found!r}")
    if found > SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"snapshot format {found} is newer than this service reads (formats 1 to "
            f"{SNAPSHOT_FORMAT}): it was written by a newer version; run that version again "
            "or keep the snapshot until it is deployed"
        )
    return found


def _upcast(version: int, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return UPCASTERS[version](data)
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(
            f"format {version} snapshot cannot be read as format {version + 1}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _summary(exc: ValidationError, shown: int = 3) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'snapshot'}: {e['msg']}" for e in errors]
    more = f" (and {len(parts) - shown} more)" if len(parts) > shown else ""
    return "; ".join(parts[:shown]) + more


# Domain to format 2 -----------------------------------------------------------------------------


def _chair_out(state: ChairState) -> ChairSnapshot:
    return ChairSnapshot(
        format=SNAPSHOT_FORMAT,
        chair=state.name,
        board=_board_out(state.board),
        session=_session_out(state.session) if state.session else None,
        sessions_opened=state.sessions_opened,
        session_wall=state.session_wall,
        device=DeviceSnapshot(
            online=state.device_online,
            name=state.device_name,
            since=state.device_since,
            in_use=state.device_in_use,
        ),
        timeline=TimelineSnapshot(
            anchor_ts=state.timeline.anchor_ts,
            anchor_wall=state.timeline.anchor_wall,
            offsets=dict(state.timeline.offsets),
        ),
        newest_reading_ts=state.newest_reading_ts,
        placed_ts=state.placed_ts,
        clock_step_at=state.clock_step_at,
        recent_readings=list(state.recent_readings),
        latest={v: TimedValue(ts=ts, value=x) for v, (ts, x) in state.latest.items()},
        valid_wall=dict(state.valid_wall),
        missing_since=dict(state.missing_since),
        audio_pause=AudioPauseSnapshot(
            until=state.audio_paused_until,
            by=state.audio_paused_by,
            rank=state.audio_pause_rank,
        ),
    )


def _board_out(board: AlarmBoard) -> BoardSnapshot:
    return BoardSnapshot(
        alarms=[_alarm_out(alarm) for alarm in board.alarms.values()],
        onsets=dict(board.onsets),
        raised_count=board.raised_count,
    )


def _alarm_out(alarm: Alarm) -> AlarmSnapshot:
    return AlarmSnapshot(
        id=alarm.id,
        kind=alarm.kind,
        alarm_class=alarm.alarm_class,
        priority=alarm.priority,
        state=alarm.state,
        value=alarm.value,
        limit=alarm.limit,
        text=alarm.text,
        raised_at=alarm.raised_at,
        updated_at=alarm.updated_at,
        latching=alarm.latching,
        session=alarm.session,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        acknowledged_value=alarm.acknowledged_value,
        note=alarm.note,
        suppressed_by=alarm.suppressed_by,
    )


def _session_out(session: Session) -> SessionSnapshot:
    return SessionSnapshot(
        id=session.id,
        patient=session.patient,
        admitted_at=session.admitted_at,
        admitted_by=session.admitted_by,
        limits=_limits_out(session.limits),
        phase=session.phase,
        phase_since=session.phase_since,
        weight_kg=session.weight_kg,
        entered_baseline=dict(session.entered_baseline),
        limit_overrides=dict(session.limit_overrides),
        samples=SamplesSnapshot(
            nibp=[CuffValue(sbp=s, dbp=d) for s, d in session.samples.nibp],
            continuous={
                v: [TimedValue(ts=ts, value=x) for ts, x in kept]
                for v, kept in session.samples.continuous.items()
            },
        ),
        baseline=_baseline_out(session.baseline) if session.baseline else None,
        infusion=_infusion_out(session.infusion),
        recovery=_recovery_out(session.recovery) if session.recovery else None,
        closed_at=session.closed_at,
    )


def _limits_out(limits: Limits) -> LimitsSnapshot:
    return LimitsSnapshot.model_validate(asdict(limits))


def _baseline_out(baseline: Baseline) -> BaselineSnapshot:
    return BaselineSnapshot(
        sbp=baseline.sbp,
        dbp=baseline.dbp,
        hr=baseline.hr,
        spo2=baseline.spo2,
        source=baseline.source,
        nibp_readings=baseline.nibp_readings,
        missing=baseline.missing,
    )


def _infusion_out(infusion: Infusion) -> InfusionSnapshot:
    return InfusionSnapshot(
        started_at=infusion.started_at,
        stopped_at=infusion.stopped_at,
        paused_at=infusion.paused_at,
        paused_s=infusion.paused_s,
        drug=infusion.drug,
        dose_mg_per_kg=infusion.dose_mg_per_kg,
        planned_minutes=infusion.planned_minutes,
    )


def _recovery_out(tracker: RecoveryTracker) -> RecoverySnapshot:
    return RecoverySnapshot(
        session=tracker.session,
        stopped_at=tracker.stopped_at,
        baseline=_baseline_out(tracker.baseline),
        limits=_limits_out(tracker.limits),
        status=tracker.status,
        consecutive=tracker.consecutive,
        counted_at=tracker.counted_at,
        recovered_at=tracker.recovered_at,
        reason=tracker.reason,
        discharged_by=tracker.discharged_by,
        before_discharge=tracker.before_discharge,
        latest=dict(tracker.latest),
        off_baseline=dict(tracker.off_baseline),
    )


# Format 2 to domain -----------------------------------------------------------------------------


def _chair_in(snapshot: ChairSnapshot) -> ChairState:
    device, audio = snapshot.device, snapshot.audio_pause
    return ChairState(
        name=snapshot.chair,
        board=_board_in(snapshot.board, chair=snapshot.chair),
        session=_session_in(snapshot.session) if snapshot.session else None,
        sessions_opened=snapshot.sessions_opened,
        session_wall=snapshot.session_wall,
        device_online=device.online,
        device_name=device.name,
        device_since=device.since,
        device_in_use=device.in_use,
        timeline=Timeline(
            anchor_ts=snapshot.timeline.anchor_ts,
            anchor_wall=snapshot.timeline.anchor_wall,
            offsets=dict(snapshot.timeline.offsets),
        ),
        newest_reading_ts=snapshot.newest_reading_ts,
        placed_ts=snapshot.placed_ts,
        clock_step_at=snapshot.clock_step_at,
        recent_readings=list(snapshot.recent_readings),
        latest={v: (p.ts, p.value) for v, p in snapshot.latest.items()},
        valid_wall=dict(snapshot.valid_wall),
        missing_since=dict(snapshot.missing_since),
        audio_paused_until=audio.until,
        audio_paused_by=audio.by,
        audio_pause_rank=audio.rank,
    )


def _board_in(board: BoardSnapshot, *, chair: str) -> AlarmBoard:
    return AlarmBoard(
        chair=chair,
        alarms={alarm.kind: _alarm_in(alarm) for alarm in board.alarms},
        onsets=dict(board.onsets),
        raised_count=board.raised_count,
    )


def _alarm_in(alarm: AlarmSnapshot) -> Alarm:
    return Alarm(
        id=alarm.id,
        kind=alarm.kind,
        alarm_class=alarm.alarm_class,
        priority=alarm.priority,
        state=alarm.state,
        value=alarm.value,
        limit=alarm.limit,
        text=alarm.text,
        raised_at=alarm.raised_at,
        updated_at=alarm.updated_at,
        latching=alarm.latching,
        session=alarm.session,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        acknowledged_value=alarm.acknowledged_value,
        note=alarm.note,
        suppressed_by=alarm.suppressed_by,
    )


def _session_in(session: SessionSnapshot) -> Session:
    return Session(
        id=session.id,
        patient=session.patient,
        admitted_at=session.admitted_at,
        admitted_by=session.admitted_by,
        limits=_limits_in(session.limits),
        phase=session.phase,
        phase_since=session.phase_since,
        weight_kg=session.weight_kg,
        entered_baseline=dict(session.entered_baseline),
        limit_overrides=dict(session.limit_overrides),
        samples=BaselineSamples(
            nibp=[(cuff.sbp, cuff.dbp) for cuff in session.samples.nibp],
            continuous={
                v: [(p.ts, p.value) for p in kept] for v, kept in session.samples.continuous.items()
            },
        ),
        baseline=_baseline_in(session.baseline) if session.baseline else None,
        infusion=_infusion_in(session.infusion),
        recovery=_recovery_in(session.recovery) if session.recovery else None,
        closed_at=session.closed_at,
    )


def _limits_in(limits: LimitsSnapshot) -> Limits:
    return Limits(**limits.model_dump())


def _baseline_in(baseline: BaselineSnapshot) -> Baseline:
    return Baseline(
        sbp=baseline.sbp,
        dbp=baseline.dbp,
        hr=baseline.hr,
        spo2=baseline.spo2,
        source=baseline.source,
        nibp_readings=baseline.nibp_readings,
        missing=baseline.missing,
    )


def _infusion_in(infusion: InfusionSnapshot) -> Infusion:
    return Infusion(
        started_at=infusion.started_at,
        stopped_at=infusion.stopped_at,
        paused_at=infusion.paused_at,
        paused_s=infusion.paused_s,
        drug=infusion.drug,
        dose_mg_per_kg=infusion.dose_mg_per_kg,
        planned_minutes=infusion.planned_minutes,
    )


def _recovery_in(tracker: RecoverySnapshot) -> RecoveryTracker:
    return RecoveryTracker(
        session=tracker.session,
        stopped_at=tracker.stopped_at,
        baseline=_baseline_in(tracker.baseline),
        limits=_limits_in(tracker.limits),
        status=tracker.status,
        consecutive=tracker.consecutive,
        counted_at=tracker.counted_at,
        recovered_at=tracker.recovered_at,
        reason=tracker.reason,
        discharged_by=tracker.discharged_by,
        before_discharge=tracker.before_discharge,
        latest=dict(tracker.latest),
        off_baseline=dict(tracker.off_baseline),
    )


# Format 1 to format 2 ---------------------------------------------------------------------------

# Format 1's defaults, as its reader (the dataclasses' own) filled them into older snapshots
# that lacked a field. Frozen with format 1: today's domain defaults may differ.
_V1_LIMITS: dict[str, float] = {
    "sbp_high": 180.0,
    "sbp_low": 90.0,
    "dbp_high": 110.0,
    "hr_high": 120.0,
    "hr_low": 45.0,
    "spo2_low": 90.0,
    "spo2_critical": 85.0,
    "sbp_rise": 40.0,
    "dbp_rise": 25.0,
    "preinfusion_sbp_warn": 140.0,
    "preinfusion_dbp_warn": 90.0,
    "preinfusion_sbp_stop": 180.0,
    "preinfusion_dbp_stop": 110.0,
    "hr_delay_s": 10.0,
    "spo2_delay_s": 15.0,
    "bp_hysteresis_mmhg": 5.0,
    "hr_hysteresis_per_min": 5.0,
    "spo2_hysteresis_pct": 1.0,
    "bp_worse_mmhg": 20.0,
    "hr_worse_per_min": 20.0,
    "spo2_worse_pct": 5.0,
    "recovery_tolerance": 0.20,
    "recovery_window_s": 1200.0,
    "recovery_readings": 2,
    "recovery_cuff_spacing_s": 180.0,
    "recovery_spo2_min": 94.0,
    "recovery_spo2_drop": 3.0,
    "baseline_spread_mmhg": 20.0,
    "continuous_stale_s": 60.0,
    "nibp_stale_s": 1200.0,
}


def _upcast_1_to_2(old: dict[str, Any]) -> dict[str, Any]:
    """Format 1 (the domain's dataclasses as they were) to format 2."""
    chair = _v1(
        old,
        "snapshot",
        ("name", "board"),
        session=None,
        sessions_opened=0,
        session_wall=None,
        device_online=None,
        device_name=None,
        device_since=None,
        device_in_use=False,
        timeline={},
        newest_reading_ts=None,
        placed_ts=None,
        clock_step_at=None,
        recent_readings=[],
        latest={},
        valid_wall={},
        missing_since={},
        audio_paused_until=None,
        audio_paused_by=None,
        audio_pause_rank=0,
    )
    timeline = _v1(chair["timeline"], "timeline", (), anchor_ts=None, anchor_wall=None, offsets={})
    return {
        "format": 2,
        "chair": chair["name"],
        "board": _v1_board(chair["board"]),
        "session": None if chair["session"] is None else _v1_session(chair["session"]),
        "sessions_opened": chair["sessions_opened"],
        "session_wall": chair["session_wall"],
        "device": {
            "online": chair["device_online"],
            "name": chair["device_name"],
            "since": chair["device_since"],
            "in_use": chair["device_in_use"],
        },
        "timeline": timeline,
        "newest_reading_ts": chair["newest_reading_ts"],
        "placed_ts": chair["placed_ts"],
        "clock_step_at": chair["clock_step_at"],
        "recent_readings": chair["recent_readings"],
        "latest": {vital: _v1_timed(pair) for vital, pair in chair["latest"].items()},
        "valid_wall": chair["valid_wall"],
        "missing_since": chair["missing_since"],
        "audio_pause": {
            "until": chair["audio_paused_until"],
            "by": chair["audio_paused_by"],
            "rank": chair["audio_pause_rank"],
        },
    }


def _v1_board(old: Any) -> dict[str, Any]:
    board = _v1(old, "board", (), alarms={}, onsets={}, raised_count=0)
    return {
        "alarms": [_v1_alarm(alarm) for alarm in board["alarms"].values()],
        "onsets": board["onsets"],
        "raised_count": board["raised_count"],
    }


def _v1_alarm(old: Any) -> dict[str, Any]:
    required = ("id", "kind", "alarm_class", "priority", "state", "value", "limit", "text")
    return _v1(
        old,
        "alarm",
        (*required, "raised_at", "updated_at"),
        latching=False,
        session=None,
        acknowledged_by=None,
        acknowledged_at=None,
        acknowledged_value=None,
        note=None,
        suppressed_by=None,
    )


def _v1_session(old: Any) -> dict[str, Any]:
    session = _v1(
        old,
        "session",
        ("id", "patient", "admitted_at", "limits"),
        phase="baseline",
        phase_since=0.0,
        weight_kg=None,
        entered_baseline={},
        limit_overrides={},
        samples={},
        baseline=None,
        infusion={},
        recovery=None,
        closed_at=None,
        admitted_by=None,
    )
    samples = _v1(session["samples"], "samples", (), nibp=[], continuous={})
    return {
        **session,
        "limits": _v1_limits(session["limits"]),
        "samples": {
            "nibp": [{"sbp": sbp, "dbp": dbp} for sbp, dbp in samples["nibp"]],
            "continuous": {
                vital: [_v1_timed(pair) for pair in kept]
                for vital, kept in samples["continuous"].items()
            },
        },
        "baseline": None if session["baseline"] is None else _v1_baseline(session["baseline"]),
        "infusion": _v1(
            session["infusion"],
            "infusion",
            (),
            started_at=None,
            stopped_at=None,
            paused_at=None,
            paused_s=0.0,
            drug=None,
            dose_mg_per_kg=None,
            planned_minutes=None,
        ),
        "recovery": None if session["recovery"] is None else _v1_recovery(session["recovery"]),
    }


def _v1_recovery(old: Any) -> dict[str, Any]:
    tracker = _v1(
        old,
        "recovery",
        ("session", "stopped_at", "baseline"),
        limits={},
        status="watching",
        consecutive=0,
        counted_at=None,
        recovered_at=None,
        reason=None,
        discharged_by=None,
        before_discharge=None,
        latest={},
        off_baseline={},
    )
    baseline, limits = _v1_baseline(tracker["baseline"]), _v1_limits(tracker["limits"])
    return {**tracker, "baseline": baseline, "limits": limits}


def _v1_baseline(old: Any) -> dict[str, Any]:
    return _v1(
        old,
        "baseline",
        (),
        sbp=None,
        dbp=None,
        hr=None,
        spo2=None,
        source="none",
        nibp_readings=0,
        missing=None,
    )


def _v1_limits(old: Any) -> dict[str, Any]:
    return _v1(old, "limits", (), **_V1_LIMITS)


def _v1_timed(pair: Any) -> dict[str, Any]:
    ts, value = pair
    return {"ts": ts, "value": value}


def _v1(old: Any, where: str, required: tuple[str, ...], **defaults: Any) -> dict[str, Any]:
    """The fields format 1 knew for `where`: the required ones, the others or their defaults
    (fields it did not know are dropped, as its reader ignored them)."""
    if not isinstance(old, Mapping):
        raise SnapshotError(f"format 1 snapshot: {where} is {type(old).__name__}, not an object")
    missing = [name for name in required if name not in old]
    if missing:
        raise SnapshotError(f"format 1 snapshot: {where} lacks {', '.join(missing)}")
    return {name: old[name] for name in required} | {
        name: old.get(name, default) for name, default in defaults.items()
    }


UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upcast_1_to_2}
