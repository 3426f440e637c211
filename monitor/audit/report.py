"""`audit report`: the session report a clinician signs, as data.

One session's record read once and put in the order a clinician reads it: who, where and when;
the recovery outcome in a sentence; the checkpoints a clinic documents for a ketamine infusion
(the blood pressure before it, at about 40 min, and before discharge, and the time observed
after it); the alarms with who acknowledged each and how long that took; the pages and their
replies; every action with its person; the notes; and whether the record's hash chain for the
session verifies. `report_html` and `report_pdf` lay it out; `report_chart` draws its chart.

Pure: the report is made from the record, the clinic's limits and a verification already done,
with the time it is made passed in, so the same record gives the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.audit.alarms import AlarmStory, alarm_stories
from monitor.audit.outcome import Outcome, Recovery, outcome_of, recovery_of
from monitor.audit.record import AuditedSession, read_session
from monitor.audit.show import NOTE, timeline
from monitor.audit.times import duration, local, local_zone
from monitor.audit.verify import Verification, verify_record
from monitor.domain.limits import Limits, LimitsError
from monitor.domain.vitals import Vital
from monitor.record import EventEntry, Recorder
from monitor.record.chain import SealLog, session_chain
from monitor.record.chart import valid_series

__all__ = [
    "Checkpoint",
    "Cuff",
    "Page",
    "Section",
    "SessionReport",
    "Span",
    "audited_report",
    "build_report",
    "heading",
    "outcome_sentence",
    "sections",
]

CHECKPOINT_AT_S = 40 * 60  # the cuff clinics document "at about 40 minutes" into the infusion
CHECKPOINT_SLACK_S = 10 * 60  # how far from 40 min a cuff may be and still count as that one


@dataclass(frozen=True, slots=True)
class Cuff:
    ts: float
    sbp: float
    dbp: float | None

    def words(self) -> str:
        return f"{self.sbp:g}/{self.dbp:g} mmHg" if self.dbp is not None else f"{self.sbp:g} mmHg"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One documented moment: what it is, and the cuff (or the words) that answer it."""

    name: str
    cuff: Cuff | None
    note: str  # why there is no cuff, or what the cuff is taken from


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of the session's time drawn on the chart (the infusion, the recovery window)."""

    name: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Page:
    ts: float
    what: str
    by: str  # the pager holder (a reply) or the pager paged


@dataclass(frozen=True, slots=True)
class LimitLine:
    """A limit drawn on the chart: its value from `start` to `end`."""

    vital: Vital
    name: str
    value: float
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SessionReport:
    clinic: str
    site: str
    chair: str
    session: str
    patient: str
    admitted_at: float
    closed_at: float | None
    made_at: float
    outcome: Outcome
    outcome_sentence: str
    recovery: Recovery
    baseline: dict[str, float]
    baseline_words: str
    checkpoints: list[Checkpoint]
    alarms: list[AlarmStory]
    pages: list[Page]
    actions: list[tuple[float, str, str]]  # time, what, by whom
    notes: list[tuple[float, str, str]]  # time, text, by whom
    verification: Verification
    series: dict[Vital, list[tuple[float, float]]] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    limits: list[LimitLine] = field(default_factory=list)
    tolerance: float = 0.2
    readings: int = 0
    end: float = 0.0  # the last moment the report covers (`record.last_moment`)


def build_report(
    recorder: Recorder,
    session: str,
    *,
    clinic: str | None,
    limits: Limits,
    verification: Verification,
    made_at: float,
) -> SessionReport:
    """The report of `session` at the clinic `clinic` (the session's site when None), whose
    default alarm limits are `limits`.

    Raises:
        SessionNotFound: the record holds no session `session`.
    """
    record = read_session(recorder, session)
    entry = record.session
    events = record.events
    alarms = alarm_stories(record.alarms)
    recovery = recovery_of(events)
    outcome = outcome_of(entry)
    in_effect = _limits_at_admission(events, limits)
    baseline = _baseline(events)
    started, stopped = _infusion(events, recovery)
    series = valid_series(record.readings)
    last = record.last_at
    spans = []
    if started is not None:
        spans.append(Span("infusion", started, stopped if stopped is not None else last))
    if stopped is not None:
        spans.append(Span("recovery window", stopped, stopped + in_effect.recovery_window_s))
    return SessionReport(
        clinic=clinic or entry.site,
        site=entry.site,
        chair=entry.chair,
        session=entry.id,
        patient=entry.patient,
        admitted_at=entry.admitted_at,
        closed_at=entry.closed_at,
        made_at=made_at,
        outcome=outcome,
        outcome_sentence=outcome_sentence(outcome, recovery, in_effect, entry.closed_at),
        recovery=recovery,
        baseline=baseline,
        baseline_words=_baseline_words(events),
        checkpoints=_checkpoints(record, series, started, stopped),
        alarms=alarms,
        pages=_pages(events),
        actions=[line for line in timeline(events, alarms) if not line[1].startswith(NOTE)],
        notes=[
            (e.ts, str(e.data.get("text", "")), str(e.data.get("by", "")))
            for e in events
            if e.type == "NoteAdded"
        ],
        verification=verification,
        series=series,
        spans=spans,
        limits=_limit_lines(events, in_effect, entry.admitted_at, last),
        tolerance=in_effect.recovery_tolerance,
        readings=len(record.readings),
        end=last,
    )


def audited_report(
    recorder: Recorder,
    session: str,
    *,
    seal_log: SealLog | None,
    clinic: str | None,
    limits: Limits,
    made_at: float,
) -> SessionReport:
    """The report of `session` with its chain verified against `seal_log` first.

    Raises:
        SessionNotFound: the record holds no session `session`.
    """
    checked = verify_record(recorder, seal_log, session)
    return build_report(recorder, session, clinic=clinic, limits=limits, verification=checked,
                        made_at=made_at)  # fmt: skip


def outcome_sentence(
    outcome: Outcome, recovery: Recovery, limits: Limits, closed_at: float | None
) -> str:
    """The recovery outcome in the words a clinician signs: "Back to baseline 14 min after the
    infusion ended: 2 consecutive cuffs within 20 % of baseline." """
    stopped = recovery.infusion_stopped_at
    window = f"{limits.recovery_window_s / 60:.0f} min"
    rule = (
        f"{limits.recovery_readings} consecutive cuffs within "
        f"{limits.recovery_tolerance * 100:.0f} % of baseline"
    )
    after = (
        f"{(recovery.recovered_at - stopped) / 60:.0f} min after the infusion ended"
        if recovery.recovered_at is not None and stopped is not None
        else None
    )
    if outcome is Outcome.RECOVERED and after:
        return f"Back to baseline {after}: {rule}."
    if outcome is Outcome.RECOVERED_LATE and after:
        return f"Back to baseline {after}, later than the {window} window: {rule}."
    if outcome is Outcome.OVERDUE:
        return (f"Not back to baseline within {window} of the infusion's end"
                f"{_clause(recovery.reason)}.")  # fmt: skip
    if outcome is Outcome.CANNOT_ASSESS:
        return f"Return to baseline could not be assessed{_clause(recovery.reason)}."
    if outcome is Outcome.DISCHARGED_UNCONFIRMED:
        when = (
            f" {(closed_at - stopped) / 60:.0f} min after the infusion ended"
            if closed_at is not None and stopped is not None
            else ""
        )
        by = f", by {recovery.discharged_by}" if recovery.discharged_by else ""
        return f"Discharged{when}, before return to baseline was confirmed{by}."
    if outcome is Outcome.OPEN:
        return "The session is still open: no outcome yet."
    return "No infusion ended in this session, so there was no recovery check."


def _clause(reason: str | None) -> str:
    return f": {reason}" if reason else ""


def _limits_at_admission(events: Sequence[EventEntry], clinic: Limits) -> Limits:
    """The clinic's limits with the admission's overrides (as the session was admitted)."""
    opened = [e for e in events if e.type == "SessionOpened"]
    overrides = opened[0].data.get("limit_overrides") if opened else None
    if not isinstance(overrides, dict) or not overrides:
        return clinic
    try:
        return clinic.with_overrides(overrides)
    except (LimitsError, TypeError, ValueError):
        return clinic  # overrides this version cannot read: the clinic's limits, as drawn


def _baseline(events: Sequence[EventEntry]) -> dict[str, float]:
    found = [e.data.get("baseline") for e in events if e.type == "BaselineSet"]
    last = found[-1] if found else None
    if not isinstance(last, dict):
        return {}
    return {str(k): float(v) for k, v in last.items() if isinstance(v, int | float)}


def _baseline_words(events: Sequence[EventEntry]) -> str:
    found = [e.data for e in events if e.type == "BaselineSet"]
    if not found:
        return "no baseline was set"
    data = found[-1]
    values = ", ".join(
        f"{name.upper()} {value:g}" for name, value in (data.get("baseline") or {}).items()
    )
    text = f"{values} ({data.get('source')}, {data.get('nibp_readings')} cuffs)"
    if not data.get("complete", True):
        text += "; incomplete, so relative alarms and the recovery check were off"
    return text


def _infusion(
    events: Sequence[EventEntry], recovery: Recovery
) -> tuple[float | None, float | None]:
    """When the infusion started (its first start) and ended (its stop)."""
    started = next(
        (e.ts for e in events if e.type == "PhaseChanged" and e.data.get("cause") == "start"), None
    )
    stops = [e.ts for e in events if e.type == "PhaseChanged" and e.data.get("cause") == "stop"]
    stopped = recovery.infusion_stopped_at or (stops[-1] if stops else None)
    return started, stopped


def _cuffs(series: dict[Vital, list[tuple[float, float]]]) -> list[Cuff]:
    """The valid cuffs, each systolic with the diastolic of the same reading."""
    diastolic = dict(series[Vital.DBP])
    return [Cuff(ts, sbp, diastolic.get(ts)) for ts, sbp in series[Vital.SBP]]


def _checkpoints(
    record: AuditedSession,
    series: dict[Vital, list[tuple[float, float]]],
    started: float | None,
    stopped: float | None,
) -> list[Checkpoint]:
    cuffs = _cuffs(series)
    closed = record.session.closed_at
    points = []
    if started is None:
        points.append(Checkpoint("BP before the infusion", None, "no infusion was started"))
    else:
        before = [c for c in cuffs if c.ts < started]
        points.append(
            Checkpoint("BP before the infusion", before[-1] if before else None,
                       "the last cuff before the start" if before else "no cuff before the start")
        )  # fmt: skip
        aim = started + CHECKPOINT_AT_S
        near = [c for c in cuffs if abs(c.ts - aim) <= CHECKPOINT_SLACK_S]
        nearest = min(near, key=lambda c: abs(c.ts - aim)) if near else None
        points.append(
            Checkpoint("BP at about 40 min", nearest,
                       f"{(nearest.ts - started) / 60:.0f} min after the start" if nearest
                       else "no cuff within 10 min of 40 min after the start")
        )  # fmt: skip
    if closed is None:
        points.append(Checkpoint("BP before discharge", None, "not discharged yet"))
    else:
        last = [c for c in cuffs if c.ts <= closed]
        points.append(
            Checkpoint("BP before discharge", last[-1] if last else None,
                       f"{(closed - last[-1].ts) / 60:.0f} min before discharge" if last
                       else "no cuff in the session")
        )  # fmt: skip
    if stopped is None:
        observed = "no infusion ended"
    elif closed is None:
        observed = "still observed (not discharged yet)"
    else:
        observed = f"{(closed - stopped) / 60:.0f} min from the end of the infusion to discharge"
    points.append(Checkpoint("Observation after the infusion", None, observed))
    return points


def _pages(events: Sequence[EventEntry]) -> list[Page]:
    out = []
    for event in events:
        data = event.data
        if event.type == "PageSent":
            out.append(Page(event.ts, f"paged, step {data.get('step')}: {data.get('text')}",
                            f"{data.get('pager_name')} ({data.get('pager')})"))  # fmt: skip
        elif event.type == "PageAnswered":
            reply = "accepted" if data.get("accept") else "declined"
            out.append(Page(event.ts, f"{reply}{_clause(data.get('note'))}", str(data.get("by"))))
        elif event.type == "EscalationStepped":
            out.append(Page(event.ts, f"escalated to step {data.get('step')}"
                            f"{_clause(data.get('reason'))}", _target(data.get("to"))))  # fmt: skip
        elif event.type == "EscalationEnded":
            out.append(Page(event.ts, f"escalation ended{_clause(data.get('reason'))}", ""))
    return out


def _target(to: Any) -> str:
    if isinstance(to, dict):
        return str(to.get("name") or to.get("pager") or to.get("role") or "")
    return "" if to is None else str(to)


def _limit_lines(
    events: Sequence[EventEntry], limits: Limits, start: float, end: float
) -> list[LimitLine]:
    """The absolute limits drawn on the chart, each a step over the session: its value at the
    admission, then each change made during the session (`LimitsChanged`)."""
    drawn = {"sbp_high": Vital.SBP, "sbp_low": Vital.SBP, "hr_high": Vital.HR,
             "hr_low": Vital.HR, "spo2_low": Vital.SPO2}  # fmt: skip
    values = {name: float(getattr(limits, name)) for name in drawn}
    since = dict.fromkeys(drawn, start)
    lines = []
    for event in events:
        changes = event.data.get("changes") if event.type == "LimitsChanged" else None
        for name, change in (changes or {}).items():
            if name in drawn and isinstance(change, list | tuple) and len(change) == 2:
                lines.append(LimitLine(drawn[name], name, values[name], since[name], event.ts))
                values[name], since[name] = float(change[1]), event.ts
    lines += [LimitLine(drawn[n], n, values[n], since[n], end) for n in drawn]
    return lines


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the laid-out report: a title, then sentences, then a table (either may be
    empty). The HTML page and the PDF lay out the same sections, so they say the same."""

    title: str
    text: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    empty: str = "none"  # said instead of a table with no rows
    weights: list[float] = field(default_factory=list)  # the columns' relative widths on paper


def heading(report: SessionReport) -> list[tuple[str, str]]:
    """The report's head: who, where and when, as (name, value) pairs."""
    ended = (
        f"{local(report.closed_at)} (after {duration(report.closed_at - report.admitted_at)})"
        if report.closed_at is not None
        else "still open"
    )
    return [
        ("Clinic", report.clinic),
        ("Site and chair", f"{report.site}, chair {report.chair}"),
        ("Patient", report.patient),
        ("Session", report.session),
        ("Admitted", local(report.admitted_at)),
        ("Ended", ended),
        ("Report made", local(report.made_at)),
        ("Times", local_zone(report.admitted_at)),
    ]


def sections(report: SessionReport) -> list[Section]:
    """The report's body, in reading order (the chart goes after the checkpoints). Times in the
    tables are the wall clock alone, with the day too for a session that spans days."""
    spans_days = local(report.admitted_at)[:10] != local(report.end)[:10]

    def clock(ts: float) -> str:
        return local(ts, day=spans_days)

    return [
        Section(
            "Recovery outcome", [report.outcome_sentence, f"Baseline: {report.baseline_words}."]
        ),
        Section(
            "Checkpoints",
            headers=["checkpoint", "blood pressure", "time", "note"],
            weights=[3, 2, 1.5, 3.5],
            rows=[
                [
                    c.name,
                    c.cuff.words() if c.cuff else "-",
                    clock(c.cuff.ts) if c.cuff else "-",
                    c.note,
                ]
                for c in report.checkpoints
            ],
        ),
        Section(
            f"Alarms ({len(report.alarms)})",
            headers=[
                "raised",
                "alarm",
                "priority",
                "value / limit",
                "acknowledged by",
                "time to acknowledge",
                "over",
            ],
            weights=[1.3, 3.2, 1.2, 1.5, 2, 1.6, 1.3],
            rows=[
                [
                    clock(a.raised_at),
                    a.text,
                    a.priority,
                    f"{_number(a.value)} / {_number(a.limit)}",
                    a.acknowledged_by or "not acknowledged",
                    duration(a.seconds_to_acknowledge)
                    if a.seconds_to_acknowledge is not None
                    else "-",
                    clock(a.cleared_at) if a.cleared_at is not None else "not over",
                ]
                for a in report.alarms
            ],
        ),
        Section(
            "Pages and replies",
            headers=["time", "what", "who"],
            weights=[1.3, 5, 2.5],
            rows=[[clock(p.ts), p.what, p.by] for p in report.pages],
            empty="no pages were sent",
        ),
        Section(
            "Actions",
            headers=["time", "what", "by"],
            weights=[1.3, 5.5, 2],
            rows=[[clock(t), what, by or "-"] for t, what, by in report.actions],
        ),
        Section(
            "Notes",
            headers=["time", "note", "by"],
            weights=[1.3, 5.5, 2],
            rows=[[clock(t), text, by] for t, text, by in report.notes],
            empty="no notes",
        ),
        Section(
            "Record verification",
            [_verified(report.verification)]
            + [
                f"Seal of the session's chain: link {seal.seq}, SHA-256 {seal.hash}, sealed "
                f"{local(seal.sealed_at)}."
                for seal in report.verification.sealed
                if seal.chain == session_chain(report.session)
            ],
        ),
    ]


def _verified(verification: Verification) -> str:
    if verification.ok:
        sealed = f", {verification.seals} seal(s)" if verification.seals else ", not sealed yet"
        where = f" against the seal log {verification.seal_log}" if verification.seal_log else ""
        return (f"The session's hash chain verifies{where}: {verification.records} records"
                f"{sealed}; no record was changed, removed, inserted or reordered.")  # fmt: skip
    faults = "; ".join(str(fault) for fault in verification.faults)
    return f"THE RECORD DOES NOT VERIFY: {faults}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
