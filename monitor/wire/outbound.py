"""What the service publishes (contract v1): chair state, alarm transitions, recovery events,
pages and its own status, with builders from the domain's events and chair state.

Times go out as RFC 3339 UTC strings with milliseconds; the models also read them back, so a
dashboard or a test validates what it receives with the same classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from monitor import __version__
from monitor.domain.alarms import Alarm, as_transition
from monitor.domain.baseline import compute_baseline
from monitor.domain.chair import Chair
from monitor.domain.events import AlarmTransition, RecoveryUpdate
from monitor.domain.paging import PagingPolicy, PagingStatus
from monitor.domain.session import Session
from monitor.domain.technical import STALE_KIND_OF
from monitor.wire.payloads import format_event_time, parse_event_time

OutTime = Annotated[
    float,
    BeforeValidator(parse_event_time),
    PlainSerializer(format_event_time, return_type=str),
]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1


class OutboundModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="ignore")

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class AlarmOut(OutboundModel):
    alarm: str
    ts: OutTime
    site: str
    chair: str
    session: str | None
    patient: str | None
    kind: str
    alarm_class: Literal["physiological", "technical"] = Field(alias="class")
    priority: Literal["high", "medium", "low"]
    state: Literal["active", "acknowledged", "latched", "cleared"]
    value: float | None
    limit: float | None
    text: str
    raised_at: OutTime
    previous_state: str | None = None
    reason: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: OutTime | None = None
    note: str | None = (
        None  # v1.1: "questionable: repeat the cuff (...)", "possible motion artefact"
    )
    suppressed_by: str | None = None  # v1.1: shown under this ongoing absolute alarm


RecoveryStatusOut = Literal[
    "watching", "recovered", "overdue", "recovered_late", "cannot_assess", "discharged_unconfirmed"
]


class RecoveryOut(OutboundModel):
    ts: OutTime
    site: str
    chair: str
    session: str
    patient: str | None
    status: RecoveryStatusOut
    infusion_stopped_at: OutTime
    minutes_since_stop: float
    window_minutes: float
    tolerance: float
    baseline: dict[str, float]
    latest: dict[str, float]
    off_baseline: dict[str, float]
    consecutive_in_tolerance: int
    recovered_at: OutTime | None = None
    reason: str | None = None  # v1.1: why not (yet) recovered, or why it cannot be assessed
    discharged_by: str | None = None  # v1.1: with discharged_unconfirmed


class VitalOut(OutboundModel):
    value: float
    ts: OutTime
    age_s: float
    stale: bool = False  # v1.1: no valid value for longer than its stale limit (NO DATA)


class DeviceOut(OutboundModel):
    state: Literal["online", "offline", "unknown"]
    device: str | None = None
    since: OutTime | None = None


class BaselineOut(OutboundModel):
    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    spo2: float | None = None
    source: str
    nibp_readings: int
    complete: bool
    frozen: bool
    missing: str | None = None  # v1.1: why there is no BP baseline


class InfusionOut(OutboundModel):
    started_at: OutTime | None = None
    stopped_at: OutTime | None = None
    paused: bool = False
    running_minutes: float = 0.0
    planned_minutes: float | None = None
    drug: str | None = None
    dose_mg_per_kg: float | None = None


class RecoveryStateOut(OutboundModel):
    status: RecoveryStatusOut
    infusion_stopped_at: OutTime
    minutes_since_stop: float
    window_minutes: float
    recovered_at: OutTime | None = None
    off_baseline: dict[str, float] = {}
    reason: str | None = None


class AudioOut(OutboundModel):
    audible: bool
    paused_until: OutTime | None = None
    paused_by: str | None = None


class PageViewOut(OutboundModel):
    """v1.3: one page of an alarm's escalation, as a station shows it (a pager's holder, never
    a patient)."""

    pager: str
    pager_name: str
    at: OutTime
    step: int  # the escalation step that sent it (1-based)
    answer: Literal["accepted", "declined"] | None
    answered_at: OutTime | None


class PagingOut(OutboundModel):
    """v1.3: an alarm's paging, for a station to put into words ("paged Kim 0:45 ago, no
    answer; charge nurse in 0:15", "accepted by Kim")."""

    pages: list[PageViewOut]
    next_step: int | None  # 1-based; null once the escalation ended
    next_to: Literal["primary", "charge", "failsafe"] | None
    next_due: OutTime | None
    ended: str | None  # why it ended ("accepted by Kim (pager)"); null while it runs


Paging = Callable[[str, float], PagingStatus | None]  # an alarm (and the wall time): its paging


class ChairStateOut(OutboundModel):
    ts: OutTime
    site: str
    chair: str
    session: str | None
    patient: str | None
    phase: Literal["empty", "baseline", "infusing", "paused", "recovery", "discharged"]
    phase_since: OutTime | None
    device: DeviceOut
    baseline: BaselineOut | None
    infusion: InfusionOut | None
    vitals: dict[str, VitalOut]
    alarms: list[AlarmOut]
    recovery: RecoveryStateOut | None
    audio: AudioOut
    limits: dict[str, float]
    paging: dict[str, PagingOut] = Field(default_factory=dict)  # v1.3, by alarm id


class RecordStatusOut(OutboundModel):
    """v1.2: whether the service's record is writing (`failing`: stations raise the high-priority
    technical alarm `record_failing`; monitoring and alarms go on)."""

    state: Literal["ok", "failing"]
    since: OutTime | None = None  # when it started failing
    reason: str | None = None  # why, as the record says
    backlog: int = 0  # entries kept outside the record (memory and the spill file), to write
    lost: int = 0  # entries given up since the service started


class RefusedChairsOut(OutboundModel):
    """v1.3: messages for chairs this site does not take (not in its chair list, or new past
    `max_chairs`), since the service started: stations warn, so a monitor nobody sees (a chair
    misnamed, a chair list missing one) does not go unnoticed, and neither does junk."""

    chairs: int  # distinct chair names refused (counted up to MAX_TALLIED, then "at least")
    messages: int
    latest: str  # the last name refused
    at: OutTime  # when
    reason: Literal["unknown_chair", "too_many_chairs"]  # why the latest was refused


class PagingHealthOut(OutboundModel):
    """v1.3: whether the site's paging path works (`failing`: a page could not be delivered
    after its retries, or a route's self-test failed: stations raise the high-priority
    technical alarm `paging_failed`; the fail-safe group is paged by another route)."""

    state: Literal["ok", "failing"]
    since: OutTime | None = None
    reason: str | None = None
    routes: dict[str, str] = Field(default_factory=dict)  # failing route -> why


class PagerOut(OutboundModel):
    id: str
    name: str
    role: Literal["nurse", "charge", "failsafe"]


class CoverageOut(OutboundModel):
    """v1.3, retained on `monitor/coverage`: who covers which chairs now. A chair not in
    `primary` is covered by `default`; every chair's alarms go on to `charge`, then to every
    pager of `failsafe`."""

    ts: OutTime
    site: str
    pagers: list[PagerOut]
    primary: dict[str, str]  # chair -> pager
    default: str | None
    charge: str
    failsafe: list[str]


def coverage_out(policy: PagingPolicy, *, site: str, wall: float) -> CoverageOut:
    coverage = policy.state.coverage
    pagers = [PagerOut(id=p.id, name=p.name, role=p.role.value) for p in policy.config.pagers]
    return CoverageOut(
        ts=wall, site=site, pagers=pagers, primary=dict(coverage.primary),
        default=coverage.default, charge=coverage.charge, failsafe=list(coverage.failsafe),
    )  # fmt: skip


class ServiceStatusOut(OutboundModel):
    ts: OutTime | None = None
    state: Literal["online", "offline"]
    service: str = "infusion-monitor"
    version: str = __version__
    site: str
    record: RecordStatusOut | None = None  # v1.2; null in the Last Will
    refused_chairs: RefusedChairsOut | None = None  # v1.3; null when none was refused
    paging: PagingHealthOut | None = None  # v1.3; null when the site does not page


PageKind = Literal["page", "all_clear", "test"]


class PageOut(OutboundModel):
    """A page to one pager: chair, alarm, priority and text, never a patient's name or label.

    v1.3, additive: `kind` says whether it is a page to answer (`page`), an all-clear for an
    earlier page (`all_clear`) or a self-test of the delivery path (`test`); only a page is
    answered. A v1 pager that ignores unknown fields still reads an all-clear's text
    ("ALL CLEAR: ...").
    """

    page: str
    ts: OutTime
    alarm: str
    chair: str
    priority: Literal["high", "medium", "low"]
    text: str
    kind: PageKind = "page"


# Builders ----------------------------------------------------------------------------------


def alarm_out(t: AlarmTransition, *, site: str, chair: str, patient: str | None) -> AlarmOut:
    return AlarmOut(
        alarm=t.alarm,
        ts=t.ts,
        site=site,
        chair=chair,
        session=t.session,
        patient=patient,
        kind=t.kind,
        alarm_class=t.alarm_class,
        priority=t.priority,
        state=t.state,
        value=t.value,
        limit=t.limit,
        text=t.text,
        raised_at=t.raised_at,
        previous_state=t.previous_state,
        reason=t.reason,
        acknowledged_by=t.acknowledged_by,
        acknowledged_at=t.acknowledged_at,
        note=t.note,
        suppressed_by=t.suppressed_by,
    )


def _alarm_view(a: Alarm, *, site: str, chair: str, patient: str | None) -> AlarmOut:
    return alarm_out(as_transition(a), site=site, chair=chair, patient=patient)


def recovery_out(
    u: RecoveryUpdate, *, site: str, chair: str, session: Session | None
) -> RecoveryOut:
    return RecoveryOut(
        ts=u.ts,
        site=site,
        chair=chair,
        session=u.session,
        patient=session.patient if session else None,
        status=u.status,
        infusion_stopped_at=u.infusion_stopped_at,
        minutes_since_stop=u.minutes_since_stop,
        window_minutes=session.limits.recovery_window_s / 60 if session else 20.0,
        tolerance=session.limits.recovery_tolerance if session else 0.2,
        baseline=u.baseline,
        latest=u.latest,
        off_baseline=u.off_baseline,
        consecutive_in_tolerance=u.consecutive_in_tolerance,
        recovered_at=u.recovered_at,
        reason=u.reason,
        discharged_by=u.discharged_by,
    )


def chair_state(
    chair: Chair, *, site: str, wall: float, paging: Paging | None = None
) -> ChairStateOut:
    """The chair now, as published on its retained `state` topic (`paging`: where the alarms'
    paging is kept, when the site pages)."""
    now = chair.clinical_now(wall)
    state, session = chair.state, chair.session
    patient = session.patient if session else None
    alarms = sorted(state.board.alarms.values(), key=lambda a: (-a.priority.rank, a.raised_at))
    return ChairStateOut(
        ts=now,
        site=site,
        chair=chair.name,
        session=session.id if session else None,
        patient=patient,
        phase=chair.phase.value,
        phase_since=session.phase_since if session else None,
        device=_device(chair),
        baseline=_baseline(session),
        infusion=_infusion(session, now),
        vitals=_vitals(chair, now=now),
        alarms=[_alarm_view(a, site=site, chair=chair.name, patient=patient) for a in alarms],
        recovery=_recovery(session, now),
        audio=AudioOut(
            audible=chair.audible,
            paused_until=state.audio_paused_until,
            paused_by=state.audio_paused_by,
        ),
        limits=chair.limits.as_dict(),
        paging=_paging(alarms, paging, wall),
    )


def _paging(alarms: Sequence[Alarm], paging: Paging | None, wall: float) -> dict[str, PagingOut]:
    if paging is None:
        return {}
    shown: dict[str, PagingOut] = {}
    for alarm in alarms:
        status = paging(alarm.id, wall)
        if status is None:
            continue
        pages = [
            PageViewOut(
                pager=p.pager,
                pager_name=p.pager_name,
                at=p.at,
                step=p.step,
                answer=_answer(p.answer),
                answered_at=p.answered_at,
            )
            for p in status.pages
        ]
        shown[alarm.id] = PagingOut(
            pages=pages,
            next_step=status.next_step,
            next_to=status.next_to.value if status.next_to is not None else None,
            next_due=status.next_due,
            ended=status.ended,
        )
    return shown


def _answer(answer: str | None) -> Literal["accepted", "declined"] | None:
    if answer == "accepted":
        return "accepted"
    if answer == "declined":
        return "declined"
    return None


def _vitals(chair: Chair, *, now: float) -> dict[str, VitalOut]:
    """Latest valid values; `stale` while the vital's stale alarm is on (the tile's NO DATA)."""
    board = chair.state.board
    return {
        vital.value: VitalOut(
            value=value,
            ts=ts,
            age_s=round(max(0.0, now - ts), 1),
            stale=board.ongoing(STALE_KIND_OF[vital]),
        )
        for vital, (ts, value) in chair.state.latest.items()
    }


def _device(chair: Chair) -> DeviceOut:
    online = chair.state.device_online
    label: Literal["online", "offline", "unknown"] = (
        "unknown" if online is None else "online" if online else "offline"
    )
    return DeviceOut(state=label, device=chair.state.device_name, since=chair.state.device_since)


def _baseline(session: Session | None) -> BaselineOut | None:
    """The frozen baseline once the infusion started; before that, the provisional one."""
    if session is None:
        return None
    frozen = session.baseline is not None
    b = session.baseline or compute_baseline(
        session.samples, session.entered_baseline, spread_mmhg=session.limits.baseline_spread_mmhg
    )
    return BaselineOut(
        sbp=b.sbp,
        dbp=b.dbp,
        hr=b.hr,
        spo2=b.spo2,
        source=b.source.value,
        nibp_readings=b.nibp_readings,
        complete=b.has_bp,
        frozen=frozen,
        missing=b.missing,
    )


def _infusion(session: Session | None, now: float) -> InfusionOut | None:
    if session is None or session.infusion.started_at is None:
        return None
    i = session.infusion
    return InfusionOut(
        started_at=i.started_at,
        stopped_at=i.stopped_at,
        paused=i.paused_at is not None,
        running_minutes=round(i.running_s(now) / 60, 2),
        planned_minutes=i.planned_minutes,
        drug=i.drug,
        dose_mg_per_kg=i.dose_mg_per_kg,
    )


def _recovery(session: Session | None, now: float) -> RecoveryStateOut | None:
    if session is None or session.recovery is None:
        return None
    r = session.recovery
    end = r.recovered_at if r.recovered_at is not None else now
    if session.closed_at is not None and r.recovered_at is None:
        end = session.closed_at
    return RecoveryStateOut(
        status=r.status.value,
        infusion_stopped_at=r.stopped_at,
        minutes_since_stop=round(max(0.0, end - r.stopped_at) / 60, 2),
        window_minutes=r.window_s / 60,
        recovered_at=r.recovered_at,
        off_baseline=r.off_baseline,
        reason=r.reason,
    )
