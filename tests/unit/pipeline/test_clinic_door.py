"""The clinic is the one door into the core: chair inputs, site inputs and ticks go in, reports
come out; bad routing is a refusal event, never an exception; site policies see everything."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

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


def test_with_no_chair_list_chairs_are_made_up_to_the_cap_then_a_new_one_is_refused() -> None:
    clinic = Clinic(max_chairs=3)
    for name in ("c01", "c02", "c03"):
        clinic.handle(name, Reading(ts=T0, hr=70), wall=T0)

    [report] = clinic.handle("junk", Reading(ts=T0, hr=70), wall=T0 + 1)

    [refused] = report.events
    assert isinstance(refused, InputRefused)
    assert refused.refusal is Refusal.TOO_MANY_CHAIRS
    assert "max_chairs" in refused.reason
    assert "3" in refused.reason
    assert [c.name for c in clinic] == ["c01", "c02", "c03"]
    assert "junk" not in clinic


def test_a_known_chair_is_still_served_when_the_site_is_full() -> None:
    clinic = Clinic(max_chairs=1)
    clinic.handle("c01", Reading(ts=T0, hr=70), wall=T0)
    clinic.handle("c02", Reading(ts=T0, hr=70), wall=T0)

    [report] = clinic.handle("c01", Reading(ts=T0 + 1, hr=71), wall=T0 + 1)

    assert not any(isinstance(e, InputRefused) for e in report.events)


def test_a_configured_chair_list_is_not_capped() -> None:
    names = [f"c{i:02}" for i in range(5)]
    clinic = Clinic(chairs=names, max_chairs=2)

    reports = [clinic.handle(n, Reading(ts=T0, hr=70), wall=T0) for n in names]

    assert not any(isinstance(e, InputRefused) for [r] in reports for e in r.events)
    [[unknown]] = [r.events for r in clinic.handle("c99", Reading(ts=T0, hr=70), wall=T0)]
    assert isinstance(unknown, InputRefused)
    assert unknown.refusal is Refusal.UNKNOWN_CHAIR


def test_a_cap_below_one_is_misuse() -> None:
    with pytest.raises(ValueError, match="max_chairs must be at least 1"):
        Clinic(max_chairs=0)
