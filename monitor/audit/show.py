"""`audit show`: one session in words, for a terminal.

The summary (patient, admitted and ended, by whom, the outcome and its recovery in a sentence,
the readings counted), then the timeline of what was done and who did it, then the alarms.

The timeline is made of the session's events and its alarms' raising and end, in time order. A
phase change and the command that caused it (a `CommandAccepted` at the same time, or the
admission and discharge events) make one line, with the person the command names; an
acknowledgement names the alarm it acknowledged; recovery updates appear when the status
changes. Artefacts and refused readings are counted, not listed (`export` has each of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monitor.audit.alarms import AlarmStory, alarm_stories
from monitor.audit.layout import table
from monitor.audit.outcome import outcome_of, recovery_of
from monitor.audit.record import read_session
from monitor.audit.times import duration, local, local_zone
from monitor.domain.vitals import LABELS, Vital
from monitor.record import EventEntry, ReadingEntry, Recorder, SessionEntry

__all__ = ["NOTE", "Line", "show_session", "timeline"]

Line = tuple[float, str, str]  # time, what, by whom ("" for nobody)
NOTE = "note: "  # how the timeline begins a note on the session
_STEPS = frozenset({"admit", "start", "pause", "resume", "stop", "discharge"})


def show_session(recorder: Recorder, session: str) -> str:
    """The session in words.

    Raises:
        SessionNotFound: the record holds no session `session`.
    """
    record = read_session(recorder, session)
    events = record.events
    alarms = alarm_stories(record.alarms)
    parts = [
        _summary(record.session, events, record.readings),
        "Timeline",
        *_indent(
            table(
                ["time", "what", "by"], [[local(t), w, b] for t, w, b in timeline(events, alarms)]
            )
        ),
        f"Alarms ({len(alarms)})",
        *_indent(_alarm_table(alarms) if alarms else ["none"]),
    ]
    return "\n".join(parts) + "\n"


def _indent(lines: Sequence[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def _summary(
    session: SessionEntry, events: Sequence[EventEntry], readings: Sequence[ReadingEntry]
) -> str:
    opened = _by(events, "SessionOpened")
    closed = _by(events, "SessionClosed")
    if session.closed_at is None:
        ended = f"still open (phase {session.phase})"
    else:
        ended = f"{local(session.closed_at)}{_named(closed)}, after {duration(session.closed_at - session.admitted_at)}"
    outcome = outcome_of(session)
    rows = [
        ("patient", session.patient),
        ("admitted", f"{local(session.admitted_at)}{_named(opened)}"),
        ("ended", ended),
        ("outcome", recovery_of(events).words(outcome, when=local)),
        ("readings", _readings(readings, events)),
        ("times", local_zone(session.admitted_at)),
    ]
    head = f"Session {session.id} at site {session.site}, chair {session.chair}"
    return "\n".join([head, *(f"  {name:<10} {text}" for name, text in rows), ""])


def _by(events: Sequence[EventEntry], type_: str) -> str | None:
    found = [e.data.get("by") for e in events if e.type == type_]
    return found[-1] if found else None


def _named(by: str | None) -> str:
    return f" by {by}" if by else ""


def _readings(readings: Sequence[ReadingEntry], events: Sequence[EventEntry]) -> str:
    def count(test: Callable[[ReadingEntry], bool]) -> int:
        return sum(1 for r in readings if test(r))

    artefacts = sum(1 for e in events if e.type == "ArtefactRecorded")
    refused = sum(1 for e in events if e.type == "ReadingRejected")
    return (
        f"{len(readings)}: {count(lambda r: r.hr is not None)} with HR, "
        f"{count(lambda r: r.spo2 is not None)} with SpO2, {count(lambda r: r.sbp is not None)} cuffs; "
        f"{count(lambda r: bool(r.technical))} flagged by the device, {artefacts} values set aside "
        f"as artefacts, {refused} refused"
    )


def timeline(events: Sequence[EventEntry], alarms: Sequence[AlarmStory]) -> list[Line]:
    actors = {
        (e.ts, e.data.get("command")): e.data.get("by")
        for e in events
        if e.type == "CommandAccepted"
    }
    actors |= {(e.ts, "admit"): e.data.get("by") for e in events if e.type == "SessionOpened"}
    actors |= {(e.ts, "discharge"): e.data.get("by") for e in events if e.type == "SessionClosed"}
    steps = {(e.ts, e.data.get("cause")) for e in events if e.type == "PhaseChanged"}
    lines: list[Line] = []
    status = None
    for event in events:
        data = event.data
        if event.type == "RecoveryUpdate":
            if data.get("status") != status:
                status = data.get("status")
                lines.append((event.ts, f"recovery {status}" + _also(data.get("reason")), ""))
            continue
        if event.type == "CommandAccepted" and (event.ts, data.get("command")) in steps:
            continue  # said with its phase change
        what = _event_words(event, alarms)
        if what is not None:
            by = (
                actors.get((event.ts, data.get("cause")))
                if event.type == "PhaseChanged"
                else data.get("by")
            )
            lines.append((event.ts, what, by or ""))
    for alarm in alarms:
        lines.append(
            (alarm.raised_at, f"alarm {alarm.kind} raised ({alarm.priority}): {alarm.text}", "")
        )
        if alarm.cleared_at is not None:
            lines.append((alarm.cleared_at, f"alarm {alarm.kind} over", ""))
    return sorted(lines, key=lambda line: line[0])


def _also(text: Any) -> str:
    return f": {text}" if text else ""


def _event_words(event: EventEntry, alarms: Sequence[AlarmStory]) -> str | None:
    """What an event says, in a few words; None for one the timeline leaves out."""
    data = event.data
    words: dict[str, Callable[[], str]] = {
        "SessionOpened": lambda: f"admitted {data.get('patient')}",
        "PhaseChanged": lambda: (
            f"{data.get('cause')}: {data.get('previous')} -> {data.get('phase')}"
        ),
        "CommandAccepted": lambda: _command(event, alarms),
        "CommandRejected": lambda: f"refused {data.get('command')}{_also(data.get('reason'))}",
        "BaselineSet": lambda: _baseline(data),
        "SessionClosed": lambda: _closed(data),
        "PageSent": lambda: (
            f"paged {data.get('pager_name')} ({data.get('pager')}), step {data.get('step')}: {data.get('text')}"
        ),
        "PageAnswered": lambda: (
            f"page {'accepted' if data.get('accept') else 'declined'}{_also(data.get('note'))}"
        ),
        "EscalationStepped": lambda: (
            f"escalation step {data.get('step')} to {data.get('to')}{_also(data.get('reason'))}"
        ),
        "EscalationEnded": lambda: f"escalation ended{_also(data.get('reason'))}",
        "NoteAdded": lambda: f"{NOTE}{data.get('text')}",
        "LimitsChanged": lambda: _limits_changed(data),
    }
    if event.type in ("ArtefactRecorded", "ReadingRejected"):
        return None
    if event.type == "PhaseChanged" and data.get("cause") in ("admit", "discharge"):
        return None  # the session's opening and closing say it, with more
    return words[event.type]() if event.type in words else event.type


def _command(event: EventEntry, alarms: Sequence[AlarmStory]) -> str:
    command = str(event.data.get("command"))
    if command == "acknowledge":
        by = event.data.get("by")
        for alarm in alarms:
            if alarm.acknowledged_at == event.ts and alarm.acknowledged_by == by:
                return f"acknowledged {alarm.kind}: {alarm.text}"
    return command if command not in _STEPS else f"{command} (no phase change)"


def _limits_changed(data: dict[str, Any]) -> str:
    changes = data.get("changes") or {}
    said = ", ".join(
        f"{name} {change[0]:g} -> {change[1]:g}"
        for name, change in changes.items()
        if isinstance(change, list | tuple)
        and len(change) == 2
        and all(isinstance(value, int | float) for value in change)
    )
    return f"alarm limits changed: {said or 'none'}"


def _baseline(data: dict[str, Any]) -> str:
    values = ", ".join(
        f"{name.upper()} {value:g}" for name, value in data.get("baseline", {}).items()
    )
    note = "" if data.get("complete", True) else " (incomplete: relative alarms and recovery off)"
    return f"baseline {values} ({data.get('source')}, {data.get('nibp_readings')} cuffs){note}"


def _label(vital: str) -> str:
    try:
        return LABELS[Vital(vital)]
    except ValueError:
        return vital


def _closed(data: dict[str, Any]) -> str:
    over = data.get("over_alarms") or []
    text = (
        f"discharged: {data.get('outcome') or data.get('recovery_status') or 'no recovery check'}"
    )
    return text + (f", discharged over {len(over)} unacknowledged high alarm(s)" if over else "")


def _alarm_table(alarms: Sequence[AlarmStory]) -> list[str]:
    headers = [
        "raised",
        "kind",
        "priority",
        "value/limit",
        "acknowledged by",
        "ack after s",
        "cleared",
        "text",
    ]
    rows = [
        [
            local(a.raised_at),
            a.kind,
            a.priority,
            f"{_number(a.value)} / {_number(a.limit)}",
            f"{a.acknowledged_by} at {local(a.acknowledged_at, day=False)}"
            if a.acknowledged_by and a.acknowledged_at
            else "-",
            f"{a.seconds_to_acknowledge:.0f}" if a.seconds_to_acknowledge is not None else "-",
            local(a.cleared_at, day=False) if a.cleared_at is not None else "not cleared",
            a.text,
        ]
        for a in alarms
    ]
    return table(headers, rows, right=frozenset({5}))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
