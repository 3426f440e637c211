"""The paging policy under a fake clock, driven through the clinic with real readings: an alarm
nobody answers escalates on time, replies move it, the station's acknowledgement ends it with
all-clears, reminders start it again, and a broken delivery path is an alarm of its own."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import pytest

from monitor.domain.alarms import AlarmKind, AlarmPriority, AlarmState
from monitor.domain.clinic import (
    Clinic,
    DeliveryFailed,
    DeliveryRecovered,
    Forward,
    HandOver,
    InputRefused,
    PagerAnswer,
    Refusal,
    Report,
    SiteInput,
)
from monitor.domain.commands import Acknowledge, Admit, InfusionEvent, Input
from monitor.domain.events import (
    AlarmTransition,
    CoverageChanged,
    EscalationEnded,
    EscalationStepped,
    PageAnswered,
    PageKind,
    PageSent,
    Target,
)
from monitor.domain.paging import PagingPolicy
from monitor.domain.paging_config import (
    Chain,
    Coverage,
    Pager,
    PagingConfig,
    PagingConfigError,
    Role,
    Step,
)
from monitor.domain.session import Step as SessionStep
from monitor.domain.vitals import Reading, Vital

T0 = 1_795_000_000.0
PATIENT = "P-0042"

PAGERS = (
    Pager("kim", "Kim"),
    Pager("ana", "Ana"),
    Pager("lee", "Lee", Role.CHARGE),
    Pager("desk", "Front desk", Role.FAILSAFE),
    Pager("desk2", "Back desk", Role.FAILSAFE),
)
COVERAGE = Coverage(
    charge="lee", failsafe=("desk", "desk2"), primary={"c01": "kim", "c02": "ana"}, default="kim"
)
CONFIG = PagingConfig(PAGERS, COVERAGE)


class Site:
    """A clinic with the paging policy, and the fake wall clock (seconds after T0)."""

    def __init__(self, config: PagingConfig = CONFIG) -> None:
        self.policy = PagingPolicy(config)
        self.clinic = Clinic(policies=[self.policy])
        self.t = 0.0
        self.seq = 0
        self.log: list[Report] = []

    @property
    def wall(self) -> float:
        return T0 + self.t

    def send(self, chair: str | None, item: Input | SiteInput) -> list[Report]:
        reports = self.clinic.handle(chair, item, wall=self.wall)
        self.log += reports
        return reports

    def tick(self, t: float) -> list[Report]:
        """Let wall time reach `t` s after T0."""
        self.t = t
        reports = self.clinic.tick(self.wall)
        self.log += reports
        return reports

    def run(self, until: float, every: float = 1.0) -> None:
        """Tick every `every` s up to `until` (like the shell's clock)."""
        while self.t + every <= until + 1e-9:
            self.tick(self.t + every)

    def read(self, chair: str = "c01", **vitals: Any) -> list[Report]:
        self.seq += 1
        return self.send(chair, Reading(ts=self.wall, seq=self.seq, **vitals))

    def high_alarm(self, chair: str = "c01") -> str:
        """Admit a patient and raise sbp_high with a real cuff reading; its id."""
        self.send(chair, Admit(self.wall, PATIENT))
        [raised] = [
            t for t in self.transitions(self.read(chair, sbp=190, dbp=95)) if t.kind == "sbp_high"
        ]
        return raised.alarm

    def reply(
        self, page: PageSent | str, *, accept: bool, pager: str | None = None
    ) -> list[Report]:
        page_id = page if isinstance(page, str) else page.page
        who = pager or (page.pager if isinstance(page, PageSent) else "kim")
        return self.send(None, PagerAnswer(self.wall, who, page_id, accept))

    # Looking at what happened --------------------------------------------------------------

    def events(self, reports: list[Report] | None = None) -> list[Any]:
        return [e for r in (self.log if reports is None else reports) for e in r.events]

    def transitions(self, reports: list[Report] | None = None) -> list[AlarmTransition]:
        return [e for e in self.events(reports) if isinstance(e, AlarmTransition)]

    def pages(
        self, alarm: str, kind: PageKind = PageKind.PAGE, reports: list[Report] | None = None
    ) -> list[PageSent]:
        return [
            e
            for e in self.events(reports)
            if isinstance(e, PageSent) and e.alarm == alarm and e.kind is kind
        ]

    def paged(self, alarm: str, kind: PageKind = PageKind.PAGE) -> list[tuple[float, str]]:
        return [(p.ts - T0, p.pager) for p in self.pages(alarm, kind)]

    def alarm_state(self, chair: str, kind: str) -> Any:
        return self.clinic.chair(chair).state.board.alarms.get(AlarmKind(kind))


# Escalation on time -------------------------------------------------------------------------


def test_no_answer_escalates_step_by_step_on_time_and_not_a_second_early() -> None:
    site = Site()
    alarm = site.high_alarm()

    checkpoints = [
        (29, []),
        (30, [(30, "kim")]),
        (89, [(30, "kim")]),
        (90, [(30, "kim"), (90, "lee")]),
        (209, [(30, "kim"), (90, "lee")]),
        (210, [(30, "kim"), (90, "lee"), (210, "desk"), (210, "desk2")]),
    ]
    for t, expected in checkpoints:
        site.run(t)
        assert site.paged(alarm) == expected, f"at {t} s"
    steps = [e for e in site.events() if isinstance(e, EscalationStepped) and e.alarm == alarm]
    assert [(s.step, s.to, s.ts - T0) for s in steps] == [
        (1, Target.PRIMARY, 30),
        (2, Target.CHARGE, 90),
        (3, Target.FAILSAFE, 210),
    ]
    assert steps[0].reason == "not acknowledged at the station for 30 s"


def test_past_the_last_step_the_fail_safe_group_is_paged_again_never_silent() -> None:
    site = Site()
    alarm = site.high_alarm()

    site.run(330)

    assert site.paged(alarm)[-4:] == [(210, "desk"), (210, "desk2"), (330, "desk"), (330, "desk2")]


def test_a_page_carries_chair_alarm_priority_and_text_and_never_the_patient() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(30)

    [page] = site.pages(alarm)
    assert (page.chair, page.alarm, page.priority, page.pager_name) == ("c01", alarm, "high", "Kim")
    assert page.text == "SBP 190 > 180 mmHg"
    assert page.page == f"{alarm}-p1"
    assert all(PATIENT not in str(e) for e in site.events() if isinstance(e, PageSent))


def test_low_priority_never_pages() -> None:
    site = Site()
    site.send("c01", Admit(site.wall, PATIENT))
    site.read(hr=70, spo2=98, technical=frozenset({"nibp_failed"}))
    [low] = [t for t in site.transitions() if t.kind == "nibp_failed"]
    assert low.priority == "low"

    for t in range(1, 3600):
        site.tick(t)
        site.read(hr=70, spo2=98, technical=frozenset({"nibp_failed"}))

    assert site.pages(low.alarm) == []
    assert not [e for e in site.events() if isinstance(e, PageSent) and e.priority == "low"]


def test_a_medium_alarm_pages_the_primary_after_2_min() -> None:
    site = Site()
    site.send("c02", Admit(site.wall, PATIENT))
    for t in range(0, 12):
        site.tick(t)
        site.read("c02", hr=130, spo2=98)
    [raised] = [t for t in site.transitions() if t.kind == "hr_high"]
    raised_at = raised.ts - T0

    for t in range(12, 200):
        site.tick(t)
        site.read("c02", hr=130, spo2=98)

    assert site.paged(raised.alarm) == [(raised_at + 120, "ana")]


# Replies ------------------------------------------------------------------------------------


def test_a_decline_escalates_at_once_and_the_next_step_counts_from_then() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(40)
    [kim_page] = site.pages(alarm)

    reports = site.reply(kim_page, accept=False)

    assert [(p.ts - T0, p.pager) for p in site.pages(alarm, reports=reports)] == [(40, "lee")]
    [answered] = [e for e in site.events(reports) if isinstance(e, PageAnswered)]
    assert (answered.accept, answered.by) == (False, "Kim (pager)")
    status = site.policy.status(alarm, site.wall)
    assert status is not None
    assert (status.next_step, status.next_to, status.next_due) == (3, Target.FAILSAFE, T0 + 160)
    assert status.next_in_s == 120
    assert [(p.pager, p.answer, p.at - T0) for p in status.pages] == [
        ("kim", "declined", 30),
        ("lee", None, 40),
    ]
    site.run(159)
    assert [p for _, p in site.paged(alarm)] == ["kim", "lee"]
    site.run(160)
    assert [p for _, p in site.paged(alarm)] == ["kim", "lee", "desk", "desk2"]


def test_declining_the_last_step_pages_the_fail_safe_group_again_at_once() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(210)
    desk_page = next(p for p in site.pages(alarm) if p.pager == "desk")

    reports = site.reply(desk_page, accept=False)

    assert [p.pager for p in site.pages(alarm, reports=reports)] == ["desk", "desk2"]


def test_accept_stops_the_escalation_and_acknowledges_the_alarm_in_the_holders_name() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(40)
    [kim_page] = site.pages(alarm)

    reports = site.reply(kim_page, accept=True)

    acked = site.alarm_state("c01", "sbp_high")
    assert (acked.state, acked.acknowledged_by) == (AlarmState.ACKNOWLEDGED, "Kim (pager)")
    [at_chair] = [t for t in site.transitions(reports) if t.kind == "sbp_high"]
    assert (at_chair.state, at_chair.acknowledged_by) == ("acknowledged", "Kim (pager)")
    [ended] = [e for e in site.events(reports) if isinstance(e, EscalationEnded)]
    assert ended.reason == "accepted by Kim (pager)"
    assert site.pages(alarm, PageKind.ALL_CLEAR) == []  # Kim was the only one paged
    site.run(215)  # well past every step, short of the 3-min reminder
    assert site.paged(alarm) == [(30, "kim")]
    status = site.policy.status(alarm, site.wall)
    assert status is not None
    assert status.ended == "accepted by Kim (pager)"
    assert [(p.pager, p.answer) for p in status.pages] == [("kim", "accepted")]


def test_accept_by_the_charge_nurse_sends_the_all_clear_to_the_primary_only() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(95)
    lee_page = next(p for p in site.pages(alarm) if p.pager == "lee")

    site.reply(lee_page, accept=True)

    assert [p for _, p in site.paged(alarm, PageKind.ALL_CLEAR)] == ["kim"]
    assert site.alarm_state("c01", "sbp_high").acknowledged_by == "Lee (pager)"


def test_a_reply_from_a_pager_not_paged_is_refused_and_changes_nothing() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(40)
    [kim_page] = site.pages(alarm)

    by_other = site.reply(kim_page.page, accept=True, pager="ana")
    unknown = site.reply("nothing-p9", accept=True, pager="kim")

    for reports in (by_other, unknown):
        [refused] = site.events(reports)
        assert isinstance(refused, InputRefused)
        assert refused.refusal is Refusal.UNMATCHED
    assert "another pager, not ana" in site.events(by_other)[0].reason
    assert site.alarm_state("c01", "sbp_high").state is AlarmState.ACTIVE
    site.run(90)
    assert site.paged(alarm)[-1] == (90, "lee")  # the escalation went on as before


# The station ends it --------------------------------------------------------------------------


def test_a_station_acknowledgement_sends_the_all_clear_to_every_pager_paged_and_no_other() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(100)  # kim and lee paged

    reports = site.send("c01", Acknowledge(site.wall, alarm, "nurse-ana"))

    all_clear = site.pages(alarm, PageKind.ALL_CLEAR, reports=reports)
    assert [p.pager for p in all_clear] == ["kim", "lee"]
    assert all(p.text.startswith("ALL CLEAR: c01") for p in all_clear)
    [ended] = [e for e in site.events(reports) if isinstance(e, EscalationEnded)]
    assert ended.reason == "acknowledged at the station by nurse-ana"
    site.run(179)
    assert [p for _, p in site.paged(alarm)] == ["kim", "lee"]


def test_an_alarm_acknowledged_before_its_first_step_pages_nobody() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(29)

    site.send("c01", Acknowledge(site.wall, alarm, "nurse-ana"))
    site.run(170)

    assert site.paged(alarm) == []
    assert site.paged(alarm, PageKind.ALL_CLEAR) == []


def test_a_cleared_alarm_sends_the_all_clear_to_the_pager_paged() -> None:
    site = Site()
    site.send("c02", Admit(site.wall, PATIENT))
    for t in range(0, 140):
        site.tick(t)
        site.read("c02", hr=130, spo2=98)
    [raised] = [t for t in site.transitions() if t.kind == "hr_high"]
    assert [p for _, p in site.paged(raised.alarm)] == ["ana"]

    for t in range(140, 150):
        site.tick(t)
        site.read("c02", hr=80, spo2=98)

    assert site.alarm_state("c02", "hr_high") is None
    assert [p for _, p in site.paged(raised.alarm, PageKind.ALL_CLEAR)] == ["ana"]


# Reminders ------------------------------------------------------------------------------------


def test_a_reminder_enters_the_escalation_again_from_its_first_step() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(40)
    [kim_page] = site.pages(alarm)
    site.reply(kim_page, accept=True)  # acknowledged at t=40, SBP still 190

    site.run(219)
    assert site.alarm_state("c01", "sbp_high").state is AlarmState.ACKNOWLEDGED
    site.run(220)
    [reminder] = [t for t in site.transitions() if t.reason == "reminder"]
    assert reminder.ts == T0 + 220
    site.run(249)
    assert site.paged(alarm) == [(30, "kim")]
    site.run(250)
    assert site.paged(alarm) == [(30, "kim"), (250, "kim")]  # step 1 again, not the charge nurse
    site.run(310)
    assert site.paged(alarm)[-1] == (310, "lee")


# Coverage -------------------------------------------------------------------------------------


def test_a_hand_over_moves_coverage_and_the_next_page_goes_to_the_new_holder() -> None:
    site = Site()

    [report] = site.send(None, HandOver(site.wall, "kim", "ana", by="Kim"))
    [changed] = report.events
    assert isinstance(changed, CoverageChanged)
    assert (changed.chairs, changed.roles) == (("c01",), ("default",))

    alarm = site.high_alarm("c01")
    site.run(30)
    assert site.paged(alarm) == [(30, "ana")]
    other = site.high_alarm("c07")  # not listed: the default, handed over too
    site.run(60)
    assert site.paged(other) == [(60, "ana")]


def test_a_hand_over_during_an_escalation_pages_the_new_holder_from_then() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(10)
    site.send(None, HandOver(site.wall, "lee", "ana", by="Lee"))  # the charge nurse's role

    site.run(90)

    assert site.paged(alarm) == [(30, "kim"), (90, "ana")]


@pytest.mark.parametrize(
    ("from_pager", "to_pager", "why"),
    [
        ("kim", "zed", "unknown pager 'zed'"),
        ("zed", "kim", "unknown pager 'zed'"),
        ("desk", "kim", "desk covers no chair"),
        ("kim", "kim", "hand over to itself"),
    ],
)
def test_a_hand_over_that_cannot_be_made_is_refused_and_coverage_stays(
    from_pager: str, to_pager: str, why: str
) -> None:
    site = Site()

    [report] = site.send(None, HandOver(site.wall, from_pager, to_pager, by="Kim"))

    [refused] = report.events
    assert isinstance(refused, InputRefused)
    assert why in refused.reason
    assert site.policy.state.coverage == COVERAGE


def test_uncovered_chairs_are_refused_with_every_chair_named() -> None:
    config = PagingConfig(PAGERS, Coverage("lee", ("desk",), {"c01": "kim"}))

    with pytest.raises(PagingConfigError, match=r"chair c02, c03 uncovered"):
        config.check_coverage(["c01", "c02", "c03"])
    with pytest.raises(PagingConfigError, match="with no chair list"):
        config.check_coverage([])
    config.check_coverage(["c01"])
    CONFIG.check_coverage([])  # a default covers chairs from the wire


# Delivery -------------------------------------------------------------------------------------


def test_a_delivery_failure_raises_paging_failed_and_pages_the_fail_safe_group() -> None:
    site = Site()
    alarm = site.high_alarm()
    site.run(30)
    [kim_page] = site.pages(alarm)

    reports = site.send(
        None, DeliveryFailed(site.wall, kim_page.page, "kim", "mqtt", "no PUBACK after 3 tries")
    )

    [failed] = site.transitions(reports)
    assert (failed.kind, failed.priority, failed.state) == ("paging_failed", "high", "active")
    assert (failed.alarm_class, failed.session) == ("technical", None)
    assert "no PUBACK" in failed.text
    assert all(r.chair is None for r in reports)
    rerouted = site.pages(alarm, reports=reports)
    assert [(p.pager, p.route_hint) for p in rerouted] == [
        ("desk", "failsafe"),
        ("desk2", "failsafe"),
    ]

    again = site.send(None, DeliveryFailed(site.wall, rerouted[0].page, "desk", "sms", "down"))
    assert site.transitions(again) == []  # one standing alarm, and no loop of re-routes
    assert site.pages(alarm, reports=again) == []

    site.send(None, DeliveryRecovered(site.wall, "mqtt"))
    assert site.transitions(site.log[-1:]) == []  # sms still failing
    [cleared] = site.transitions(site.send(None, DeliveryRecovered(site.wall, "sms")))
    assert (cleared.alarm, cleared.state) == (failed.alarm, "cleared")


# Replay ---------------------------------------------------------------------------------------


def _scenario() -> list[Report]:
    site = Site()
    alarm = site.high_alarm()
    site.run(40)
    site.reply(site.pages(alarm)[0], accept=False)
    site.send(None, HandOver(site.wall, "kim", "ana", by="Kim"))
    site.run(160)
    site.reply(site.pages(alarm)[-1], accept=True)
    site.run(400)
    site.send("c01", Acknowledge(site.wall, alarm, "nurse-ana"))
    site.run(420)
    return site.log


def test_the_same_inputs_replay_to_the_same_pages_and_events() -> None:
    first, second = _scenario(), _scenario()

    assert first == second
    assert sum(isinstance(e, PageSent) for r in first for e in r.events) >= 6


# Configuration -------------------------------------------------------------------------------

TOML_TABLE: dict[str, Any] = {
    "pagers": [
        {"id": "kim", "name": "Kim", "role": "nurse", "route": "mqtt", "address": "x"},
        {"id": "lee", "name": "Lee", "role": "charge", "route": "wctp"},
        {"id": "desk", "name": "Desk", "role": "failsafe"},
    ],
    "coverage": {
        "charge": "lee",
        "failsafe": ["desk"],
        "default": "kim",
        "primary": {"c01": "kim"},
    },
    "escalation": {
        "high": {
            "steps": [
                {"after_s": 20, "to": "primary"},
                {"after_s": 40, "to": "charge"},
                {"after_s": 60, "to": "failsafe"},
            ]
        }
    },
    "reminder": {"high_s": 120, "medium_s": 600},
}


def test_the_toml_table_is_read_and_missing_sections_take_the_defaults() -> None:
    config = PagingConfig.from_mapping(TOML_TABLE)

    assert config.pagers[1] == Pager("lee", "Lee", Role.CHARGE, "wctp")
    assert config.coverage == Coverage("lee", ("desk",), {"c01": "kim"}, "kim")
    assert config.chain(AlarmPriority.HIGH).steps[0] == Step(20, Target.PRIMARY)
    assert config.reminders.high_s == 120
    bare = PagingConfig.from_mapping(
        {k: v for k, v in TOML_TABLE.items() if k in ("pagers", "coverage")}
    )
    assert [s.after_s for s in bare.chain(AlarmPriority.HIGH).steps] == [30, 60, 120]
    assert [(s.after_s, s.to) for s in bare.chain(AlarmPriority.MEDIUM).steps] == [(120, "primary")]
    assert bare.chain(AlarmPriority.LOW).steps == ()
    assert (bare.reminders.high_s, bare.reminders.medium_s) == (180, 600)


def _with(path: str, value: Any) -> dict[str, Any]:
    """TOML_TABLE with the value at dotted `path` (list items as [n]) replaced."""
    data = copy.deepcopy(TOML_TABLE)
    keys: list[str | int] = [
        int(k) if k.isdigit() else k for k in re.split(r"\.|\[|\]\.?", path) if k
    ]
    target: Any = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("pagers[1].role", "boss", "paging.pagers[1].role: 'boss' is not one of nurse, charge"),
        ("pagers[0].id", "", "paging.pagers[0].id: expected a non-empty string"),
        ("pagers[2].id", "kim", "paging.pagers: pager id kim twice"),
        ("coverage.charge", "zed", "paging.coverage.charge: unknown pager 'zed'"),
        ("coverage.primary.c01", "zed", "paging.coverage.primary.c01: unknown pager 'zed'"),
        ("coverage.default", "zed", "paging.coverage.default: unknown pager 'zed'"),
        ("coverage.failsafe", ["desk", "zed"], "paging.coverage.failsafe[1]: unknown pager"),
        ("coverage.failsafe", [], "paging.coverage.failsafe: the fail-safe group is empty"),
        ("escalation.high.steps[1].to", "boss", "escalation.high.steps[1].to: 'boss'"),
        ("escalation.high.steps[0].after_s", -5, "escalation.high.steps[0].after_s: -5"),
        ("escalation.high.steps[0].after_s", "30", "steps[0].after_s: expected seconds"),
        ("escalation.urgent", {"steps": []}, "paging.escalation.urgent: 'urgent' is not one of"),
        ("reminder.high_s", 5, "paging.reminder: reminder high_s 5 is outside its range"),
        ("reminder.low_s", 60, "paging.reminder.low_s: unknown"),
    ],
)
def test_a_configuration_error_names_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(PagingConfigError, match=re.escape(message)):
        PagingConfig.from_mapping(_with(path, value))


def test_a_missing_coverage_or_pager_list_is_refused_by_name() -> None:
    with pytest.raises(PagingConfigError, match=re.escape("paging.coverage: expected a table")):
        PagingConfig.from_mapping({"pagers": TOML_TABLE["pagers"]})
    with pytest.raises(PagingConfigError, match=re.escape("paging.pagers: expected a list")):
        PagingConfig.from_mapping({"coverage": TOML_TABLE["coverage"]})


def test_a_late_tick_catches_up_every_step_at_its_own_time() -> None:
    site = Site()
    alarm = site.high_alarm()

    site.tick(215)  # the first tick since the alarm

    assert site.paged(alarm) == [(30, "kim"), (90, "lee"), (210, "desk"), (210, "desk2")]


def test_a_last_step_with_no_delay_is_repeated_no_sooner_than_30_s() -> None:
    chains = {AlarmPriority.HIGH: Chain((Step(0, Target.PRIMARY),))}
    site = Site(PagingConfig(PAGERS, COVERAGE, chains))
    alarm = site.high_alarm()

    site.tick(65)

    assert site.paged(alarm) == [(0, "kim"), (30, "kim"), (60, "kim")]


class _Forwarding:
    """A policy that takes every site input and forwards an acknowledgement to chair c99."""

    def take(self, item: SiteInput, *, wall: float) -> list[Report | Forward] | None:
        return [Forward("c99", Acknowledge(wall, "sbp_high", "Kim (pager)"))]

    def observe(self, reports: Sequence[Report], *, wall: float) -> list[Report]:
        return []

    def tick(self, *, wall: float) -> list[Report]:
        return []


def test_a_forward_to_a_chair_the_site_does_not_have_is_refused_not_raised() -> None:
    clinic = Clinic(chairs=["c01"], policies=[_Forwarding()])

    [report] = clinic.handle(None, PagerAnswer(T0, "kim", "x", True), wall=T0)

    [refused] = report.events
    assert isinstance(refused, InputRefused)
    assert (report.chair, refused.refusal) == ("c99", Refusal.UNKNOWN_CHAIR)


def test_declining_the_only_step_of_a_medium_chain_pages_the_fail_safe_group() -> None:
    site = Site()
    site.send("c02", Admit(site.wall, PATIENT))
    for t in range(0, 140):
        site.tick(t)
        site.read("c02", hr=130, spo2=98)
    [raised] = [t for t in site.transitions() if t.kind == "hr_high"]
    [ana_page] = site.pages(raised.alarm)

    reports = site.reply(ana_page, accept=False)

    assert [p.pager for p in site.pages(raised.alarm, reports=reports)] == ["desk", "desk2"]


def test_an_alarm_shown_under_another_pages_nobody() -> None:
    site = Site()
    baseline = {Vital.SBP: 120.0, Vital.DBP: 80.0, Vital.HR: 70.0, Vital.SPO2: 98.0}
    site.send("c01", Admit(site.wall, PATIENT, 70.0, baseline))
    site.send("c01", InfusionEvent(site.wall, SessionStep.START, "ketamine", 0.5, 40.0))
    reports = site.read(sbp=190, dbp=95)  # sbp_high, and sbp_rise shown under it
    [rise] = [t for t in site.transitions(reports) if t.kind == "sbp_rise"]
    assert rise.suppressed_by == "sbp_high"

    site.run(300)

    assert site.paged(rise.alarm) == []
    assert site.policy.status(rise.alarm, site.wall) is None


def test_a_rising_priority_restarts_the_escalation_on_the_higher_chain() -> None:
    site = Site()
    site.send("c01", Admit(site.wall, PATIENT))
    [warn] = [t for t in site.transitions(site.read(sbp=150, dbp=95)) if t.priority == "medium"]
    site.run(60)

    reports = site.read(sbp=185, dbp=112)
    [risen] = [t for t in site.transitions(reports) if t.kind == "preinfusion_bp_high"]
    site.run(89)
    assert (risen.alarm, risen.priority, risen.reason) == (warn.alarm, "high", "priority_rises")
    assert site.paged(warn.alarm) == []
    site.run(90)
    assert site.paged(warn.alarm) == [(90, "kim")]  # 30 s after it rose, not medium's 120 s


# After a restart ------------------------------------------------------------------------------


def test_an_alarm_standing_at_a_restart_escalates_again_from_step_1_from_the_restart() -> None:
    before = Site()
    alarm = before.high_alarm()
    before.run(10)
    snapshot = copy.deepcopy(before.clinic.chair("c01").state)  # what the record kept

    after = Site()  # the service started again: a new policy knows no escalation
    after.clinic.restore(snapshot)
    after.t = 20
    after.log += after.clinic.resume(after.wall)
    after.run(49)
    assert after.paged(alarm) == []
    after.run(50)  # the first step's 30 s, counted from the restart
    assert after.paged(alarm) == [(50, "kim")]
    after.run(110)
    assert after.paged(alarm) == [(50, "kim"), (110, "lee")]


def test_resuming_with_nothing_standing_shows_the_policy_nothing() -> None:
    site = Site()
    site.send("c01", Admit(site.wall, PATIENT))
    site.read("c01", sbp=120, dbp=80, hr=70, spo2=98)

    assert site.clinic.resume(site.wall) == []
    assert site.policy.state.live == {}
