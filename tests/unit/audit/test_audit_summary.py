"""`audit summary`: the clinic's numbers over the day's three sessions (the first recovered, the
second not recovered in the window, the third still open), each derived from the day's story or
counted again from the record's raw entries."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from audit_day import DAY_S, T0, Day, recorded

from monitor.audit.outcome import Outcome
from monitor.audit.sessions import SessionFilter
from monitor.audit.summary import Summary, summarize, summary_json, summary_text
from monitor.audit.times import parse_bound
from monitor.cli import main
from monitor.domain.events import (
    EscalationStepped,
    PageAnswered,
    PageKind,
    PageSent,
    Target,
)
from monitor.domain.vocabulary import AlarmPriority
from monitor.record import (
    AlarmEntry,
    EventEntry,
    MemoryRecorder,
    Recorder,
    SessionEntry,
    SqliteRecorder,
)

OPEN_S = 570.0  # the third session: 20 readings 30 s apart, the last 570 s after admission
BASELINE_MIN = 5.0  # the first: the two cuffs back near baseline are 5 min apart from the stop


def _all(recorder: Recorder) -> Summary:
    return summarize(recorder, SessionFilter())


def _hours(recorder: Recorder, day: Day, sessions: list[str]) -> float:
    """Closed sessions from their closing; the open one from the day's story."""
    entries = {s.id: s for s in recorder.sessions()}
    seconds = [
        OPEN_S if sid == day.third else (entries[sid].closed_at or 0.0) - entries[sid].admitted_at
        for sid in sessions
    ]
    return sum(seconds) / 3600


def _alarms_by_kind(recorder: Recorder, sessions: list[str]) -> dict[tuple[str, str], int]:
    """Each alarm once, at the highest priority of its transitions, counted from the raw entries."""
    rank = {p.value: p.rank for p in AlarmPriority}
    highest: dict[str, AlarmEntry] = {}
    for sid in sessions:
        for entry in recorder.alarms(session=sid):
            seen = highest.get(entry.alarm)
            if seen is None or rank[entry.priority] > rank[seen.priority]:
                highest[entry.alarm] = entry
    counts: dict[tuple[str, str], int] = {}
    for entry in highest.values():
        counts[(entry.kind, entry.priority)] = counts.get((entry.kind, entry.priority), 0) + 1
    return counts


def test_the_day_counts_sessions_outcomes_and_recovery_within_the_window(
    recorder: Recorder,
) -> None:
    summary = _all(recorder)

    assert summary.sessions == 3
    assert summary.outcomes[Outcome.RECOVERED] == 1
    assert summary.outcomes[Outcome.OVERDUE] == 1
    assert summary.outcomes[Outcome.OPEN] == 1
    assert sum(summary.outcomes.values()) == 3
    assert summary.infusions_ended == 2  # the third never started its infusion
    assert summary.assessable == 2
    assert summary.recovered == 1
    assert summary.recovered_share == 0.5
    assert summary.first_admitted_at == T0
    assert summary.last_admitted_at == T0 + 2 * DAY_S


def test_time_to_baseline_is_what_the_recovery_updates_say(recorder: Recorder, day: Day) -> None:
    [back] = [
        e.data
        for e in recorder.events(session=day.first, type="RecoveryUpdate")
        if e.data["recovered_at"] is not None
    ]
    summary = _all(recorder)

    said = (back["recovered_at"] - back["infusion_stopped_at"]) / 60
    assert said == BASELINE_MIN
    assert summary.time_to_baseline_sessions == 1  # the second never came back
    assert summary.time_to_baseline_median_min == said
    assert summary.time_to_baseline_p90_min == said


def test_session_hours_count_closed_sessions_whole_and_an_open_one_to_its_last_reading(
    recorder: Recorder, day: Day
) -> None:
    summary = _all(recorder)

    assert summary.session_hours == pytest.approx(
        _hours(recorder, day, [day.first, day.second, day.third])
    )
    assert summary.session_hours == pytest.approx((3660 + 4800 + OPEN_S) / 3600)


def test_alarm_burden_is_per_session_hour_by_kind_and_priority(
    recorder: Recorder, day: Day
) -> None:
    summary = _all(recorder)
    sessions = [day.first, day.second, day.third]
    counts = _alarms_by_kind(recorder, sessions)
    hours = _hours(recorder, day, sessions)

    assert counts == {
        ("sbp_high", "high"): 2,
        ("sbp_rise", "medium"): 3,
        ("recovery_overdue", "medium"): 1,
    }
    assert {(b.kind, b.priority): b.alarms for b in summary.burden} == counts
    assert summary.alarms == 6
    assert summary.alarms_per_session_hour == pytest.approx(6 / hours)
    for row in summary.burden:
        assert row.per_session_hour == pytest.approx(counts[(row.kind, row.priority)] / hours)
        assert row.alarm_class == "physiological"
    assert summary.burden[0].priority == "high"  # the highest priority first


def test_time_to_acknowledge_is_over_acknowledged_alarms(recorder: Recorder, day: Day) -> None:
    summary = _all(recorder)
    raised: dict[str, float] = {}
    acknowledged: dict[str, float] = {}
    for sid in (day.first, day.second, day.third):
        for entry in recorder.alarms(session=sid):
            raised.setdefault(entry.alarm, entry.ts)
            if entry.acknowledged_at is not None:
                acknowledged[entry.alarm] = entry.acknowledged_at
    seconds = sorted(acknowledged[a] - raised[a] for a in acknowledged)
    [sbp_high] = [b for b in summary.burden if b.kind == "sbp_high"]

    assert acknowledged[day.acknowledged_sbp] - raised[day.acknowledged_sbp] == 60.0
    assert sbp_high.acknowledged == 2  # the same acknowledgement, 60 s on, each day
    assert sbp_high.ack_median_s == 60.0
    assert summary.acknowledged == len(seconds)
    assert summary.ack_median_s == seconds[len(seconds) // 2] == 60.0
    assert summary.ack_p90_s == 60.0
    assert summary.unacknowledged_high == 0
    [overdue] = [b for b in summary.burden if b.kind == "recovery_overdue"]
    assert (overdue.acknowledged, overdue.ack_median_s, overdue.ack_p90_s) == (0, None, None)


@pytest.mark.parametrize(
    ("since", "before", "picked"),
    [
        (None, "2026-11-19", ["first"]),
        ("2026-11-20", None, ["second", "third"]),
        ("2026-11-20", "2026-11-20", ["second"]),
        ("2026-11-21", None, ["third"]),
    ],
)
def test_a_range_counts_only_the_sessions_admitted_in_it(
    recorder: Recorder, day: Day, since: str | None, before: str | None, picked: list[str]
) -> None:
    lower = parse_bound(since, end=False) if since else None
    upper = parse_bound(before, end=True) if before else None
    summary = summarize(recorder, SessionFilter(since=lower, before=upper))
    ids = [getattr(day, name) for name in picked]
    recovered = "first" in picked
    ended = len({"first", "second"} & set(picked))

    assert (summary.since, summary.before) == (lower, upper)
    assert summary.sessions == len(picked)
    assert summary.infusions_ended == ended
    assert summary.recovered == int(recovered)
    assert summary.recovered_share == (int(recovered) / ended if ended else None)
    assert summary.time_to_baseline_median_min == (BASELINE_MIN if recovered else None)
    assert summary.session_hours == pytest.approx(_hours(recorder, day, ids))
    assert summary.alarms == sum(_alarms_by_kind(recorder, ids).values())


def test_site_and_chair_pick_too(recorder: Recorder, day: Day) -> None:
    c01 = summarize(recorder, SessionFilter(site="north", chair="c01"))

    assert (c01.site, c01.chair, c01.sessions) == ("north", "c01", 2)
    assert c01.alarms == sum(_alarms_by_kind(recorder, [day.first, day.third]).values())
    assert summarize(recorder, SessionFilter(site="south")).sessions == 0


def test_an_empty_range_gives_zeros_and_no_medians(recorder: Recorder) -> None:
    summary = summarize(recorder, SessionFilter(since=parse_bound("2027-01-01", end=False)))

    assert summary.sessions == summary.infusions_ended == summary.alarms == 0
    assert set(summary.outcomes.values()) == {0}
    assert summary.session_hours == 0
    assert summary.burden == ()
    none = (
        summary.recovered_share,
        summary.time_to_baseline_median_min,
        summary.time_to_baseline_p90_min,
        summary.alarms_per_session_hour,
        summary.ack_median_s,
        summary.ack_p90_s,
        summary.first_admitted_at,
    )
    assert none == (None,) * len(none)
    assert "Alarm burden by kind and priority\n  none\n" in summary_text(summary)
    assert json.loads(summary_json(summary))["alarms"]["ack_median_s"] is None


def _alarm(session: str, n: int, *, raised: float, acknowledged: float | None) -> AlarmEntry:
    return AlarmEntry(
        alarm=f"a{n}",
        site="north",
        chair="c05",
        session=session,
        ts=raised,
        kind="hr_high",
        alarm_class="physiological",
        priority="medium",
        state="active" if acknowledged is None else "acknowledged",
        text="HR 130 > 120 /min",
        acknowledged_by=None if acknowledged is None else "nurse.ana",
        acknowledged_at=acknowledged,
    )


def _nearest_rank(values: list[float], percent: float) -> float:
    """The smallest value with at least `percent` % of the values at or below it."""
    return min(v for v in values if sum(x <= v for x in values) >= percent / 100 * len(values))


def test_percentiles_are_nearest_rank_and_an_acknowledgement_before_the_session_has_no_time() -> (
    None
):
    admitted = T0 + 10 * DAY_S
    recorder = MemoryRecorder()
    seconds = [float(s) for s in (40, 10, 100, 30, 70, 20, 90, 50, 80, 60)]
    recorder.append(
        [
            SessionEntry("s", "north", "c05", "R-1", admitted, "infusion"),
            *(
                _alarm("s", n, raised=admitted + 100 * n, acknowledged=admitted + 100 * n + s)
                for n, s in enumerate(seconds)
            ),
            _alarm(
                "s", 99, raised=admitted + 5000, acknowledged=admitted - 10
            ),  # before the admission
        ]
    )

    summary = _all(recorder)

    assert summary.acknowledged == 11
    assert summary.ack_median_s == 55.0  # the mean of the two middle of ten
    assert summary.ack_p90_s == _nearest_rank(seconds, 90) == 90.0  # numpy's default says 91
    assert summary.session_hours == pytest.approx(5000 / 3600)  # open: to the last transition


def test_an_open_session_with_nothing_after_its_admission_has_no_rate() -> None:
    recorder = MemoryRecorder()
    recorder.append(
        [
            SessionEntry("s", "north", "c05", "R-1", T0, "admitted"),
            _alarm("s", 1, raised=T0, acknowledged=None),
        ]
    )

    summary = _all(recorder)

    assert (summary.session_hours, summary.alarms, summary.alarms_per_session_hour) == (0, 1, None)
    assert summary.burden[0].per_session_hour is None


def _event(session: str | None, event: object) -> EventEntry:
    data = dataclasses.asdict(event)  # type: ignore[call-overload]
    return EventEntry("north", "c01", session, data["ts"], type(event).__name__, data)


def test_pages_replies_and_escalations_are_counted_from_the_sessions_events(
    recorder: Recorder, day: Day
) -> None:
    at, alarm = T0 + 905, day.acknowledged_sbp

    def page(n: int, step: int, kind: PageKind = PageKind.PAGE) -> PageSent:
        return PageSent(
            at + n, f"p{n}", "pg1", "Kim", "c01", alarm, AlarmPriority.HIGH, "SBP", step, kind
        )

    recorder.append(
        [
            _event(day.first, EscalationStepped(at, alarm, "c01", 1, Target.PRIMARY, "raised")),
            _event(day.first, page(1, 1)),
            _event(day.first, PageAnswered(at + 20, "p1", "pg1", False, "kim", alarm, "c01")),
            _event(
                day.first, EscalationStepped(at + 30, alarm, "c01", 2, Target.CHARGE, "declined")
            ),
            _event(day.first, page(2, 2)),
            _event(day.first, page(3, 2)),
            _event(day.first, PageAnswered(at + 40, "p2", "pg1", True, "lee", alarm, "c01")),
            _event(day.first, page(4, 0, PageKind.ALL_CLEAR)),
            _event(
                day.second,
                EscalationStepped(at + DAY_S, "other", "c02", 1, Target.PRIMARY, "raised"),
            ),
            _event(None, page(5, 1)),  # at no session: not the clinic's sessions' burden
            dataclasses.replace(
                _alarm(day.second, 7, raised=T0 + DAY_S + 100, acknowledged=None), priority="high"
            ),  # a high alarm no one acknowledged
        ]
    )

    summary = _all(recorder)

    assert (summary.pages_sent, summary.all_clears_sent) == (3, 1)
    assert (summary.pages_accepted, summary.pages_declined, summary.pages_answered) == (1, 1, 2)
    assert (summary.escalations, summary.escalation_steps) == (2, 3)
    assert summary.escalations_past_first_step == 1
    assert summary.unacknowledged_high == 1


def _headline(text: str, name: str) -> str:
    [found] = [line for line in text.splitlines() if line.startswith(f"  {name} ")]
    return found.split(maxsplit=len(name.split()))[-1]


def test_the_text_gives_the_headlines_then_the_burden_table(recorder: Recorder) -> None:
    text = summary_text(_all(recorder))
    lines = text.splitlines()

    assert lines[0] == (
        "Clinic summary, every site, every session in the record; times in UTC (UTC+00:00)"
    )
    assert _headline(text, "sessions").startswith("3 (")
    assert _headline(text, "admitted") == "2026-11-19 10:00:00 to 2026-11-21 10:00:00"
    assert _headline(text, "back to baseline") == "1 of 2 (50%) within the recovery window"
    assert _headline(text, "time to baseline").startswith("median 5 min, 90th percentile 5 min")
    assert (
        _headline(text, "alarms")
        == f"6, {6 / ((3660 + 4800 + OPEN_S) / 3600):.2f} per session-hour"
    )
    assert _headline(text, "acknowledged") == "4 of 6: median 60 s, 90th percentile 60 s"
    table = lines[lines.index("Alarm burden by kind and priority") + 1 :]
    assert table[0].split()[:4] == ["kind", "priority", "class", "alarms"]
    assert table[1].split()[:4] == ["sbp_high", "high", "physiological", "2"]
    assert table[-1].split()[:2] == ["all", "6"]
    assert len(table) == 1 + 3 + 1


def test_a_range_is_said_in_the_local_zone(recorder: Recorder) -> None:
    since = parse_bound("2026-11-20T10:00:00Z", end=False)
    text = summary_text(summarize(recorder, SessionFilter(since=since, site="north")))

    assert text.startswith(
        "Clinic summary, site north, admitted from 2026-11-20 10:00:00; times in UTC (UTC+00:00)\n"
    )


def test_json_has_utc_times_and_the_same_numbers(recorder: Recorder, day: Day) -> None:
    lower = parse_bound("2026-11-19", end=False)
    summary = summarize(recorder, SessionFilter(since=lower))
    out = json.loads(summary_json(summary))

    assert out["since"] == "2026-11-19T00:00:00.000Z"
    assert out["before"] is None
    assert out["first_admitted_at"] == "2026-11-19T10:00:00.000Z"
    assert out["last_admitted_at"] == "2026-11-21T10:00:00.000Z"
    assert out["sessions"] == 3
    assert out["outcomes"] == {o.value: summary.outcomes[o] for o in Outcome}
    assert out["recovery"]["recovered_share"] == 0.5
    assert out["recovery"]["time_to_baseline_median_min"] == BASELINE_MIN
    assert math.isclose(
        out["session_hours"], _hours(recorder, day, [day.first, day.second, day.third])
    )
    assert out["alarms"]["total"] == 6
    assert out["alarms"]["ack_p90_s"] == 60.0
    assert [
        (r["kind"], r["priority"], r["alarms"]) for r in out["alarms"]["by_kind_and_priority"]
    ] == [(b.kind, b.priority, b.alarms) for b in summary.burden]
    assert out["paging"]["pages_answered"] == 0
    assert out["percentile_method"] == "nearest-rank"
    assert list(out) == list(json.loads(summary_json(_all(MemoryRecorder()))))  # the same keys


def test_the_command_summarizes_the_range_asked_for(
    tmp_path: Path, day: Day, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "audit.db"
    recorded(SqliteRecorder(db), day).close()

    assert main(["audit", "summary", "--db", f"sqlite:///{db}", "--from", "2026-11-20",
                 "--json"]) == 0  # fmt: skip
    said = json.loads(capsys.readouterr().out)
    assert said["sessions"] == 2  # the second and third days
    assert said["since"] == "2026-11-20T00:00:00.000Z"
    assert main(["audit", "summary", "--db", f"sqlite:///{db}", "--chair", "c02"]) == 0
    assert "sessions          1 (not recovered in the window 1)" in capsys.readouterr().out
