"""The clinic is the one door into the core: chair inputs, site inputs and ticks go in, reports
come out; bad routing is a refusal event, never an exception; site policies see everything."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.domain.alarms import AlarmKind
from monitor.domain.clinic import (
    Clinic,
    InputRefused,
    PagerAnswer,
    Refusal,
    Report,
    SiteInput,
)
from monitor.domain.commands import Admit
from monitor.domain.events import AlarmTransition
from monitor.domain.vitals import Reading

T0 = 1_795_000_000.0


class CountingPolicy:
    """A site policy that takes replies to page "P1" and notes every alarm it sees."""

    def __init__(self) -> None:
        self.seen_alarms: list[str] = []
        self.ticks = 0

    def take(self, item: SiteInput, *, wall: float) -> list[Report] | None:
        if item.page != "P1":
            return None
        return [Report(None, [InputRefused(wall, Refusal.UNMATCHED, f"taken by {item.pager}")])]

    def observe(self, reports: Sequence[Report], *, wall: float) -> list[Report]:
        for report in reports:
            self.seen_alarms += [e.kind for e in report.events if isinstance(e, AlarmTransition)]
        return []

    def tick(self, *, wall: float) -> list[Report]:
        self.ticks += 1
        return []


def test_a_chair_input_reports_its_chairs_events() -> None:
    clinic = Clinic()

    [report] = clinic.handle("c01", Reading(ts=T0, seq=1, sbp=190, dbp=100), wall=T0)

    assert report.chair == "c01"
    assert AlarmKind.SBP_HIGH in {e.kind for e in report.events if isinstance(e, AlarmTransition)}


def test_an_unconfigured_chair_is_refused_as_an_event_and_not_created() -> None:
    clinic = Clinic(chairs=["c01"])

    [report] = clinic.handle("c09", Reading(ts=T0, hr=70), wall=T0 + 1)

    [refused] = report.events
    assert isinstance(refused, InputRefused)
    assert (refused.refusal, refused.ts) == (Refusal.UNKNOWN_CHAIR, T0 + 1)
    assert "c09" in refused.reason
    assert "c01" in refused.reason
    assert "c09" not in clinic


def test_a_chair_input_without_a_chair_is_refused() -> None:
    [report] = Clinic().handle(None, Admit(T0, "P-1"), wall=T0)

    assert [type(e) for e in report.events] == [InputRefused]


def test_a_pager_reply_nobody_takes_is_refused_as_unmatched() -> None:
    [report] = Clinic().handle(None, PagerAnswer(T0, "kim", "P9", True), wall=T0)

    [refused] = report.events
    assert isinstance(refused, InputRefused)
    assert refused.refusal is Refusal.UNMATCHED
    assert "no page" in refused.reason


def test_a_site_policy_takes_its_inputs_and_sees_every_report() -> None:
    policy = CountingPolicy()
    clinic = Clinic(policies=[policy])

    [taken] = clinic.handle(None, PagerAnswer(T0, "kim", "P1", True), wall=T0)
    clinic.handle("c01", Reading(ts=T0, seq=1, spo2=80), wall=T0)
    clinic.tick(T0 + 6)

    assert isinstance(taken.events[0], InputRefused)
    assert "taken by kim" in taken.events[0].reason
    assert AlarmKind.SPO2_CRITICAL in policy.seen_alarms
    assert policy.ticks == 1


def test_a_tick_reports_only_chairs_where_something_happened() -> None:
    clinic = Clinic(chairs=["c01", "c02"])
    clinic.handle("c01", Admit(T0, "P-0001"), wall=T0)

    reports = clinic.tick(T0 + 61)

    assert [r.chair for r in reports] == ["c01"]
    assert reports[0].events
