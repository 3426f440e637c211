"""`audit summary`: the clinic's numbers over a range of sessions, for its medical director and
an external auditor.

Which sessions: those `SessionFilter` picks, as `audit sessions` lists them (admitted in
[`since`, `before`), at the site and chair asked for). Every number is over those sessions,
each counted whole, even where it runs past `before`.

- Outcomes: each session's `outcome.Outcome`, from its summary in the record.
- Infusions ended: sessions with a recovery check (an infusion stopped in them), open or closed.
  Assessable: those closed with a recovery outcome (recovered, recovered late, not recovered in
  the window, discharged before recovery was confirmed); "cannot assess" (no baseline) and
  sessions still open are left out. The share back to baseline within the recovery window
  (20 minutes unless the clinic set another) is `recovered` over `assessable`: a patient
  discharged before recovery was confirmed was not confirmed back in the window.
- Time to baseline: for each session whose recovery updates name a time back to baseline (its
  last one), `recovered_at - infusion_stopped_at`, in minutes; recovered late counts too. It is
  known only to the cuff's resolution (every 5-10 min).
- Session-hours: `closed_at - admitted_at` for a closed session; a session still open counts up
  to the latest time the record holds of it (a reading on the chair's timeline, an alarm
  transition or an event), not to `before` nor to now, so a summary of the same record always
  gives the same numbers.
- Alarms: each alarm once, whatever its transitions (`alarms.alarm_stories`), by its kind and
  the highest priority it had; per session-hour is the count over the session-hours (None with
  no session-hours). Time to acknowledge is `acknowledged_at - raised_at` in seconds, over the
  alarms acknowledged after the session took them on (an alarm acknowledged before the
  admission has no time here, but counts as acknowledged). High-priority alarms that no one
  acknowledged are counted, whether or not they then cleared.
- Paging, from the sessions' events: pages sent (`PageSent`, all-clears apart), replies
  (`PageAnswered`: accepted or declined), escalations (alarms with an `EscalationStepped`), their
  steps, and how many went past the first step.

The median is the middle value (the mean of the two middle ones for an even count); the 90th
percentile is nearest-rank: the smallest value with at least 90 % of the values at or below it,
always one of the values. Both are None when there is nothing to take them from.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.audit.alarms import AlarmStory, alarm_stories
from monitor.audit.layout import table
from monitor.audit.outcome import OUTCOME_WORDS, Outcome, outcome_of
from monitor.audit.record import last_moment
from monitor.audit.sessions import SessionFilter
from monitor.audit.times import local, local_zone, utc
from monitor.domain.vocabulary import AlarmPriority
from monitor.record import EventEntry, Recorder, SessionEntry

__all__ = ["AlarmBurden", "Summary", "summarize", "summary_json", "summary_text"]

ASSESSABLE = frozenset(
    {Outcome.RECOVERED, Outcome.RECOVERED_LATE, Outcome.OVERDUE, Outcome.DISCHARGED_UNCONFIRMED}
)
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class AlarmBurden:
    """The alarms of one kind at one priority."""

    kind: str
    priority: str
    alarm_class: str
    alarms: int
    per_session_hour: float | None
    acknowledged: int
    ack_median_s: float | None
    ack_p90_s: float | None


@dataclass(frozen=True)
class Summary:
    """The clinic's numbers over the sessions picked; see the module's docstring for each."""

    since: float | None
    before: float | None
    site: str | None
    chair: str | None
    sessions: int
    first_admitted_at: float | None
    last_admitted_at: float | None
    outcomes: dict[Outcome, int]  # every outcome, zero included
    infusions_ended: int
    assessable: int
    recovered: int  # back to baseline within the window
    recovered_share: float | None  # recovered / assessable
    time_to_baseline_sessions: int
    time_to_baseline_median_min: float | None
    time_to_baseline_p90_min: float | None
    session_hours: float
    alarms: int
    alarms_per_session_hour: float | None
    burden: tuple[AlarmBurden, ...]  # by priority (highest first), class, kind
    acknowledged: int
    ack_median_s: float | None
    ack_p90_s: float | None
    unacknowledged_high: int
    discharged_over_alarms: int  # sessions discharged over an unacknowledged high alarm
    pages_sent: int
    all_clears_sent: int
    pages_accepted: int
    pages_declined: int
    escalations: int
    escalation_steps: int
    escalations_past_first_step: int

    @property
    def pages_answered(self) -> int:
        return self.pages_accepted + self.pages_declined


@dataclass(frozen=True, slots=True)
class _Read:
    """One picked session and what the summary takes from the record of it."""

    session: SessionEntry
    alarms: list[AlarmStory]
    events: list[EventEntry]
    hours: float


def summarize(recorder: Recorder, picked: SessionFilter) -> Summary:
    """The summary of the sessions `picked` picks.

    Raises:
        RecordError: the record cannot be read.
    """
    reads = [_read(recorder, s) for s in recorder.sessions(picked.site) if picked.picks(s)]
    outcomes = {outcome: 0 for outcome in Outcome}
    for read in reads:
        outcomes[outcome_of(read.session)] += 1
    alarms = [story for read in reads for story in read.alarms]
    events = [event for read in reads for event in read.events]
    hours = sum(read.hours for read in reads)
    minutes = [m for read in reads if (m := _minutes_to_baseline(read.events)) is not None]
    assessable = sum(outcomes[o] for o in ASSESSABLE)
    acks = _ack_seconds(alarms)
    admitted = [read.session.admitted_at for read in reads]
    return Summary(
        since=picked.since,
        before=picked.before,
        site=picked.site,
        chair=picked.chair,
        sessions=len(reads),
        first_admitted_at=min(admitted, default=None),
        last_admitted_at=max(admitted, default=None),
        outcomes=outcomes,
        infusions_ended=sum(1 for r in reads if r.session.recovery_status is not None),
        assessable=assessable,
        recovered=outcomes[Outcome.RECOVERED],
        recovered_share=outcomes[Outcome.RECOVERED] / assessable if assessable else None,
        time_to_baseline_sessions=len(minutes),
        time_to_baseline_median_min=_median(minutes),
        time_to_baseline_p90_min=_nearest_rank(minutes, 90),
        session_hours=hours,
        alarms=len(alarms),
        alarms_per_session_hour=_rate(len(alarms), hours),
        burden=_burden(alarms, hours),
        acknowledged=sum(1 for a in alarms if a.acknowledged_at is not None),
        ack_median_s=_median(acks),
        ack_p90_s=_nearest_rank(acks, 90),
        unacknowledged_high=sum(
            1 for a in alarms if a.priority == AlarmPriority.HIGH and a.acknowledged_at is None
        ),
        discharged_over_alarms=sum(1 for r in reads if _over_alarms(r.events)),
        **_paging(events),
    )


def _read(recorder: Recorder, session: SessionEntry) -> _Read:
    transitions = recorder.alarms(session=session.id)
    events = recorder.events(session=session.id)
    readings = recorder.readings(session=session.id) if session.closed_at is None else []
    end = last_moment(session, readings, transitions, events)
    hours = max(0.0, end - session.admitted_at) / HOUR_S
    return _Read(session, alarm_stories(transitions), events, hours)


def _minutes_to_baseline(events: Sequence[EventEntry]) -> float | None:
    back = [
        e.data
        for e in events
        if e.type == "RecoveryUpdate"
        and e.data.get("recovered_at") is not None
        and e.data.get("infusion_stopped_at") is not None
    ]
    return (back[-1]["recovered_at"] - back[-1]["infusion_stopped_at"]) / 60 if back else None


def _ack_seconds(alarms: Sequence[AlarmStory]) -> list[float]:
    return [s for a in alarms if (s := a.seconds_to_acknowledge) is not None and s >= 0]


def _over_alarms(events: Sequence[EventEntry]) -> bool:
    return any(e.type == "SessionClosed" and e.data.get("over_alarms") for e in events)


def _burden(alarms: Sequence[AlarmStory], hours: float) -> tuple[AlarmBurden, ...]:
    groups: dict[tuple[str, str], list[AlarmStory]] = {}
    for alarm in alarms:
        groups.setdefault((alarm.kind, alarm.priority), []).append(alarm)
    rows = [
        AlarmBurden(
            kind=kind,
            priority=priority,
            alarm_class=group[0].alarm_class,
            alarms=len(group),
            per_session_hour=_rate(len(group), hours),
            acknowledged=sum(1 for a in group if a.acknowledged_at is not None),
            ack_median_s=_median(_ack_seconds(group)),
            ack_p90_s=_nearest_rank(_ack_seconds(group), 90),
        )
        for (kind, priority), group in groups.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-_rank(r.priority), r.alarm_class, r.kind)))


def _paging(events: Sequence[EventEntry]) -> dict[str, int]:
    def of(type_: str) -> list[dict[str, Any]]:
        return [e.data for e in events if e.type == type_]

    sent, answered, steps = of("PageSent"), of("PageAnswered"), of("EscalationStepped")
    all_clear = sum(1 for d in sent if d.get("kind") == "all_clear")
    past_first = {d.get("alarm") for d in steps if (d.get("step") or 0) > 1}
    return {
        "pages_sent": len(sent) - all_clear,
        "all_clears_sent": all_clear,
        "pages_accepted": sum(1 for d in answered if d.get("accept")),
        "pages_declined": sum(1 for d in answered if not d.get("accept")),
        "escalations": len({d.get("alarm") for d in steps}),
        "escalation_steps": len(steps),
        "escalations_past_first_step": len(past_first),
    }


def _rate(count: int, hours: float) -> float | None:
    return count / hours if hours > 0 else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _nearest_rank(values: Sequence[float], percent: int) -> float | None:
    if not values:
        return None
    rank = max(1, -(-percent * len(values) // 100))  # ceil, in integers
    return float(sorted(values)[rank - 1])


def _rank(priority: str) -> int:
    try:
        return AlarmPriority(priority).rank
    except ValueError:
        return 0


def summary_text(summary: Summary) -> str:
    """The summary for a terminal: the headline numbers, then the alarm burden by kind and
    priority; times on the local wall clock, and the zone named."""
    heads = _headlines(summary)
    width = max(len(name) for name, _ in heads)
    lines = [_heading(summary), *(f"  {name:<{width}}  {text}" for name, text in heads), ""]
    lines.append("Alarm burden by kind and priority")
    lines += [f"  {line}" for line in _burden_table(summary)] if summary.burden else ["  none"]
    return "\n".join(lines) + "\n"


def _heading(s: Summary) -> str:
    where = f"site {s.site}" if s.site else "every site"
    where += f", chair {s.chair}" if s.chair else ""
    bounds = [
        *([f"from {local(s.since)}"] if s.since is not None else []),
        *([f"before {local(s.before)}"] if s.before is not None else []),
    ]
    admitted = f"admitted {', '.join(bounds)}" if bounds else "every session in the record"
    zone = next((t for t in (s.since, s.before, s.first_admitted_at) if t is not None), None)
    in_zone = f"; times in {local_zone(zone)}" if zone is not None else ""
    return f"Clinic summary, {where}, {admitted}{in_zone}"


def _headlines(s: Summary) -> list[tuple[str, str]]:
    outcomes = ", ".join(f"{OUTCOME_WORDS[o]} {n}" for o, n in s.outcomes.items() if n)
    return [
        ("sessions", f"{s.sessions}" + (f" ({outcomes})" if outcomes else "")),
        ("admitted", _span(s.first_admitted_at, s.last_admitted_at)),
        ("infusions ended", f"{s.infusions_ended}; {s.assessable} with a recovery outcome"),
        (
            "back to baseline",
            f"{s.recovered} of {s.assessable} ({_share(s.recovered_share)}) within the "
            "recovery window",
        ),
        ("time to baseline", _time_to_baseline(s)),
        ("session-hours", f"{s.session_hours:.2f}"),
        ("alarms", f"{s.alarms}, {_number(s.alarms_per_session_hour, 2)} per session-hour"),
        ("acknowledged", f"{s.acknowledged} of {s.alarms}{_ack(s)}"),
        ("unacknowledged", f"{s.unacknowledged_high} high-priority alarm(s) never acknowledged"),
        (
            "discharged over",
            f"an unacknowledged high alarm: {s.discharged_over_alarms} session(s)",
        ),
        (
            "pages",
            f"{s.pages_sent} sent and {s.all_clears_sent} all-clears; answered "
            f"{s.pages_answered}: {s.pages_accepted} accepted, {s.pages_declined} declined",
        ),
        (
            "escalations",
            f"{s.escalations} alarm(s), {s.escalation_steps} step(s), "
            f"{s.escalations_past_first_step} past the first step",
        ),
    ]


def _span(first: float | None, last: float | None) -> str:
    if first is None or last is None:
        return "-"
    return local(first) if first == last else f"{local(first)} to {local(last)}"


def _time_to_baseline(s: Summary) -> str:
    if not s.time_to_baseline_sessions:
        return "no session back to baseline"
    return (
        f"median {_number(s.time_to_baseline_median_min)} min, 90th percentile "
        f"{_number(s.time_to_baseline_p90_min)} min, over {s.time_to_baseline_sessions} "
        "session(s) (known to the cuff's resolution)"
    )


def _ack(s: Summary) -> str:
    if s.ack_median_s is None:
        return ""
    return f": median {_number(s.ack_median_s)} s, 90th percentile {_number(s.ack_p90_s)} s"


def _burden_table(s: Summary) -> list[str]:
    headers = [
        "kind",
        "priority",
        "class",
        "alarms",
        "per session-hour",
        "acknowledged",
        "ack median s",
        "ack p90 s",
    ]
    rows = [
        [
            b.kind,
            b.priority,
            b.alarm_class,
            str(b.alarms),
            _number(b.per_session_hour, 2),
            str(b.acknowledged),
            _number(b.ack_median_s),
            _number(b.ack_p90_s),
        ]
        for b in s.burden
    ]
    total = [
        "all",
        "",
        "",
        str(s.alarms),
        _number(s.alarms_per_session_hour, 2),
        str(s.acknowledged),
        _number(s.ack_median_s),
        _number(s.ack_p90_s),
    ]
    return table(headers, [*rows, total], right=frozenset({3, 4, 5, 6, 7}))


def _number(value: float | None, places: int = 0) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def summary_json(summary: Summary) -> str:
    """The summary as one JSON object: times in ISO-8601 UTC, durations in the unit their key
    names, the same keys every time (null where there is nothing to say)."""
    return json.dumps(_json(summary), indent=2, ensure_ascii=False) + "\n"


def _json(s: Summary) -> dict[str, Any]:
    return {
        "since": _utc(s.since),
        "before": _utc(s.before),
        "site": s.site,
        "chair": s.chair,
        "sessions": s.sessions,
        "first_admitted_at": _utc(s.first_admitted_at),
        "last_admitted_at": _utc(s.last_admitted_at),
        "outcomes": {o.value: n for o, n in s.outcomes.items()},
        "recovery": {
            "infusions_ended": s.infusions_ended,
            "assessable": s.assessable,
            "recovered": s.recovered,
            "recovered_share": s.recovered_share,
            "time_to_baseline_sessions": s.time_to_baseline_sessions,
            "time_to_baseline_median_min": s.time_to_baseline_median_min,
            "time_to_baseline_p90_min": s.time_to_baseline_p90_min,
        },
        "session_hours": s.session_hours,
        "alarms": {
            "total": s.alarms,
            "per_session_hour": s.alarms_per_session_hour,
            "acknowledged": s.acknowledged,
            "ack_median_s": s.ack_median_s,
            "ack_p90_s": s.ack_p90_s,
            "unacknowledged_high": s.unacknowledged_high,
            "by_kind_and_priority": [_burden_json(b) for b in s.burden],
        },
        "discharged_over_alarms": s.discharged_over_alarms,
        "paging": {
            "pages_sent": s.pages_sent,
            "all_clears_sent": s.all_clears_sent,
            "pages_answered": s.pages_answered,
            "pages_accepted": s.pages_accepted,
            "pages_declined": s.pages_declined,
            "escalations": s.escalations,
            "escalation_steps": s.escalation_steps,
            "escalations_past_first_step": s.escalations_past_first_step,
        },
        "percentile_method": "nearest-rank",
    }


def _burden_json(b: AlarmBurden) -> dict[str, Any]:
    return {
        "kind": b.kind,
        "priority": b.priority,
        "alarm_class": b.alarm_class,
        "alarms": b.alarms,
        "per_session_hour": b.per_session_hour,
        "acknowledged": b.acknowledged,
        "ack_median_s": b.ack_median_s,
        "ack_p90_s": b.ack_p90_s,
    }


def _utc(ts: float | None) -> str | None:
    return None if ts is None else utc(ts)
