"""The alarm state machine and the board that applies it (one alarm per chair and kind)."""

from __future__ import annotations

import copy
import itertools

import pytest

from monitor.domain.alarms import (
    TRANSITIONS,
    Alarm,
    AlarmBoard,
    AlarmClass,
    AlarmKind,
    AlarmNotFound,
    AlarmPriority,
    AlarmState,
    Finding,
    IllegalTransition,
    Trigger,
    next_state,
)

TS = 1_795_000_000.0
ALL_PAIRS = list(itertools.product(AlarmState, Trigger))
LISTED = [pair for pair in ALL_PAIRS if pair in TRANSITIONS]
UNLISTED = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def _finding(
    kind: AlarmKind = AlarmKind.SBP_HIGH,
    priority: AlarmPriority = AlarmPriority.HIGH,
    value: float = 186.0,
    *,
    latching: bool | None = None,
) -> Finding:
    return Finding(
        kind=kind,
        alarm_class=AlarmClass.PHYSIOLOGICAL,
        priority=priority,
        value=value,
        limit=180.0,
        text=f"SBP {value:g} > 180 mmHg",
        latching=priority is AlarmPriority.HIGH if latching is None else latching,
    )


def _alarm(state: AlarmState, *, latching: bool = True) -> Alarm:
    return Alarm(
        id="01ALARM",
        kind=AlarmKind.SBP_HIGH,
        alarm_class=AlarmClass.PHYSIOLOGICAL,
        priority=AlarmPriority.HIGH,
        state=state,
        value=186.0,
        limit=180.0,
        text="SBP 186 > 180 mmHg",
        raised_at=TS,
        updated_at=TS,
        latching=latching,
        session="S1",
    )


# The table ---------------------------------------------------------------------------------


def test_the_table_covers_the_states_a_live_alarm_can_be_in() -> None:
    assert {state for state, _ in TRANSITIONS} == {
        AlarmState.ACTIVE,
        AlarmState.ACKNOWLEDGED,
        AlarmState.LATCHED,
    }
    assert LISTED
    assert UNLISTED


@pytest.mark.parametrize(("state", "trigger"), LISTED)
def test_every_listed_move_gives_the_listed_state(state: AlarmState, trigger: Trigger) -> None:
    assert next_state(state, trigger) is TRANSITIONS[(state, trigger)]


@pytest.mark.parametrize(("state", "trigger"), UNLISTED)
def test_every_unlisted_move_is_illegal(state: AlarmState, trigger: Trigger) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, trigger)

    assert (caught.value.state, caught.value.trigger) == (state, trigger)
    assert f"an alarm that is {state.value} cannot take {trigger.value}" in str(caught.value)


@pytest.mark.parametrize(("state", "trigger"), LISTED)
def test_every_listed_move_on_a_board(state: AlarmState, trigger: Trigger) -> None:
    board = AlarmBoard(chair="c01", alarms={AlarmKind.SBP_HIGH: _alarm(state)})

    # The board's one door for every trigger; its public methods pick the trigger themselves.
    transition = board._move(board.alarms[AlarmKind.SBP_HIGH], trigger, TS + 5)

    expected = TRANSITIONS[(state, trigger)]
    assert transition.state == expected.value
    assert transition.previous_state == state.value
    assert transition.reason == trigger.value
    assert transition.ts == TS + 5
    if expected is AlarmState.CLEARED:
        assert board.alarms == {}
    else:
        assert board.alarms[AlarmKind.SBP_HIGH].state is expected


@pytest.mark.parametrize(("state", "trigger"), UNLISTED)
def test_every_unlisted_move_on_a_board_changes_nothing(
    state: AlarmState, trigger: Trigger
) -> None:
    board = AlarmBoard(chair="c01", alarms={AlarmKind.SBP_HIGH: _alarm(state)})
    before = copy.deepcopy(board)

    with pytest.raises(IllegalTransition):
        board._move(board.alarms[AlarmKind.SBP_HIGH], trigger, TS + 5)

    assert board == before


# The board through its public methods ------------------------------------------------------


def test_a_condition_raises_one_active_alarm() -> None:
    board = AlarmBoard(chair="c01")

    [raised] = board.present(_finding(value=186), ts=TS, session="S1")

    assert raised.state == "active"
    assert raised.previous_state is None
    assert raised.reason == "raised"
    assert (raised.kind, raised.alarm_class, raised.priority) == (
        "sbp_high",
        "physiological",
        "high",
    )
    assert (raised.value, raised.limit, raised.text) == (186, 180, "SBP 186 > 180 mmHg")
    assert (raised.session, raised.raised_at, raised.ts) == ("S1", TS, TS)
    assert board.alarms[AlarmKind.SBP_HIGH].id == raised.alarm


def test_a_persisting_condition_updates_its_alarm_and_never_raises_a_second() -> None:
    board = AlarmBoard(chair="c01")
    [raised] = board.present(_finding(value=186), ts=TS, session="S1")

    later = [
        board.present(_finding(value=v), ts=TS + i, session="S1")
        for i, v in enumerate([190, 195, 183], 1)
    ]

    assert later == [[], [], []]
    assert list(board.alarms) == [AlarmKind.SBP_HIGH]
    alarm = board.alarms[AlarmKind.SBP_HIGH]
    assert alarm.id == raised.alarm
    assert (alarm.value, alarm.text, alarm.updated_at) == (183, "SBP 183 > 180 mmHg", TS + 3)
    assert board.raised_count == 1


def test_a_delay_holds_the_alarm_back_until_the_condition_lasted_it() -> None:
    board = AlarmBoard(chair="c01")
    finding = _finding(AlarmKind.HR_HIGH, AlarmPriority.MEDIUM, 125)

    early = [board.present(finding, ts=TS + s, delay_s=10, session=None) for s in range(10)]
    [raised] = board.present(finding, ts=TS + 10, delay_s=10, session=None)

    assert early == [[]] * 10
    assert raised.raised_at == TS + 10


def test_an_absent_condition_restarts_the_delay() -> None:
    board = AlarmBoard(chair="c01")
    finding = _finding(AlarmKind.HR_HIGH, AlarmPriority.MEDIUM, 125)
    for s in range(9):
        board.present(finding, ts=TS + s, delay_s=10, session=None)

    assert board.absent(AlarmKind.HR_HIGH, ts=TS + 9) == []
    quiet = [board.present(finding, ts=TS + s, delay_s=10, session=None) for s in range(10, 20)]

    assert quiet == [[]] * 10
    assert board.present(finding, ts=TS + 20, delay_s=10, session=None)


def test_a_high_alarm_latches_when_its_condition_ends() -> None:
    board = AlarmBoard(chair="c01")
    board.present(_finding(), ts=TS, session="S1")

    [latched] = board.absent(AlarmKind.SBP_HIGH, ts=TS + 60)

    assert (latched.state, latched.previous_state) == ("latched", "active")
    assert latched.reason == "condition_ends_latching"
    assert board.alarms[AlarmKind.SBP_HIGH].state is AlarmState.LATCHED
    assert not board.ongoing(AlarmKind.SBP_HIGH)
    assert board.absent(AlarmKind.SBP_HIGH, ts=TS + 120) == []  # stays latched


def test_a_non_latching_alarm_clears_when_its_condition_ends() -> None:
    board = AlarmBoard(chair="c01")
    board.present(_finding(AlarmKind.HR_HIGH, AlarmPriority.MEDIUM, 125), ts=TS, session=None)

    [cleared] = board.absent(AlarmKind.HR_HIGH, ts=TS + 30)

    assert (cleared.state, cleared.previous_state) == ("cleared", "active")
    assert board.alarms == {}


def test_acknowledging_a_latched_alarm_clears_it_and_names_who() -> None:
    board = AlarmBoard(chair="c01")
    [raised] = board.present(_finding(), ts=TS, session="S1")
    board.absent(AlarmKind.SBP_HIGH, ts=TS + 60)

    cleared = board.acknowledge(raised.alarm, by="nurse-ana", ts=TS + 90)

    assert (cleared.state, cleared.previous_state, cleared.reason) == (
        "cleared",
        "latched",
        "acknowledge",
    )
    assert (cleared.acknowledged_by, cleared.acknowledged_at) == ("nurse-ana", TS + 90)
    assert board.alarms == {}


def test_an_acknowledged_alarm_is_present_and_clears_when_its_condition_ends() -> None:
    board = AlarmBoard(chair="c01")
    board.present(_finding(), ts=TS, session="S1")

    acked = board.acknowledge("sbp_high", by="nurse-ben", ts=TS + 10)
    still = board.present(_finding(value=188), ts=TS + 20, session="S1")
    [ended] = board.absent(AlarmKind.SBP_HIGH, ts=TS + 30)

    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "nurse-ben",
        TS + 10,
    )
    assert still == []
    assert (ended.state, ended.previous_state) == ("cleared", "acknowledged")  # no latching
    assert ended.acknowledged_by == "nurse-ben"
    assert board.alarms == {}


def test_acknowledging_an_acknowledged_alarm_is_illegal_and_changes_nothing() -> None:
    board = AlarmBoard(chair="c01")
    board.present(_finding(), ts=TS, session="S1")
    board.acknowledge("sbp_high", by="nurse-ana", ts=TS + 10)
    before = copy.deepcopy(board)

    with pytest.raises(IllegalTransition, match="acknowledged cannot take acknowledge"):
        board.acknowledge("sbp_high", by="nurse-ben", ts=TS + 20)

    assert board == before
    assert board.alarms[AlarmKind.SBP_HIGH].acknowledged_by == "nurse-ana"


@pytest.mark.parametrize("ref", ["01NOSUCHALARM", "hr_high", ""])
def test_acknowledging_an_unknown_alarm_raises_alarm_not_found(ref: str) -> None:
    board = AlarmBoard(chair="c07")
    board.present(_finding(), ts=TS, session="S1")
    before = copy.deepcopy(board)

    with pytest.raises(AlarmNotFound) as caught:
        board.acknowledge(ref, by="nurse-ana", ts=TS + 5)

    assert repr(ref) in str(caught.value)
    assert "c07" in str(caught.value)
    assert board == before


def test_a_latched_alarm_whose_condition_returns_is_the_same_alarm_again() -> None:
    board = AlarmBoard(chair="c01")
    [raised] = board.present(_finding(), ts=TS, session="S1")
    board.absent(AlarmKind.SBP_HIGH, ts=TS + 60)

    [back] = board.present(_finding(value=192), ts=TS + 120, session="S1")

    assert (back.alarm, back.state, back.previous_state) == (raised.alarm, "active", "latched")
    assert back.reason == "condition_returns"
    assert back.value == 192
    assert back.raised_at == TS
    assert board.raised_count == 1


@pytest.mark.parametrize("acknowledged", [False, True])
def test_a_rising_priority_makes_the_alarm_active_again(acknowledged: bool) -> None:
    board = AlarmBoard(chair="c01")
    warn = _finding(AlarmKind.PREINFUSION_BP_HIGH, AlarmPriority.MEDIUM, 150)
    stop = _finding(AlarmKind.PREINFUSION_BP_HIGH, AlarmPriority.HIGH, 185)
    [raised] = board.present(warn, ts=TS, session="S1")
    if acknowledged:
        board.acknowledge(raised.alarm, by="nurse-ana", ts=TS + 5)

    [risen] = board.present(stop, ts=TS + 300, session="S1")

    assert risen.alarm == raised.alarm
    assert (risen.state, risen.priority, risen.value) == ("active", "high", 185)
    assert risen.reason == "priority_rises"
    assert risen.previous_state == ("acknowledged" if acknowledged else "active")
    assert board.alarms[AlarmKind.PREINFUSION_BP_HIGH].latching


def test_clear_all_ends_every_alarm_and_records_unacknowledged_high_ones_as_discharged_over() -> (
    None
):
    board = AlarmBoard(chair="c01")
    board.present(_finding(), ts=TS, session="S1")
    board.absent(AlarmKind.SBP_HIGH, ts=TS + 1)  # latched
    board.present(_finding(AlarmKind.HR_HIGH, AlarmPriority.MEDIUM, 130), ts=TS, session="S1")
    board.present(_finding(AlarmKind.SPO2_LOW, AlarmPriority.HIGH, 84), ts=TS, session="S1")
    board.acknowledge("spo2_low", by="nurse-ana", ts=TS + 2)
    board.present(
        _finding(AlarmKind.HR_LOW, AlarmPriority.HIGH, 40), ts=TS, delay_s=10, session="S1"
    )

    cleared = board.clear_all(TS + 100, by="nurse-kim")

    assert {(t.kind, t.previous_state, t.state, t.reason) for t in cleared} == {
        ("sbp_high", "latched", "cleared", "discharged_over"),
        ("hr_high", "active", "cleared", "session_ends"),
        ("spo2_low", "acknowledged", "cleared", "session_ends"),
    }
    assert {t.kind: t.acknowledged_by for t in cleared}["sbp_high"] == "nurse-kim"
    assert board.alarms == {}
    assert board.onsets == {}


def test_alarm_ids_are_distinct_and_derived_from_the_inputs() -> None:
    def run() -> list[str]:
        board = AlarmBoard(chair="c01")
        ids = [t.alarm for t in board.present(_finding(), ts=TS, session=None)]
        board.absent(AlarmKind.SBP_HIGH, ts=TS + 1)
        board.acknowledge("sbp_high", by="n", ts=TS + 2)
        ids += [t.alarm for t in board.present(_finding(), ts=TS + 3, session=None)]
        hr = _finding(AlarmKind.HR_HIGH, AlarmPriority.MEDIUM, 125)
        ids += [t.alarm for t in board.present(hr, ts=TS + 3, session=None)]
        return ids

    first, second = run(), run()

    assert first == second
    assert len(set(first)) == 3
    assert all(len(i) == 26 for i in first)  # ULID-shaped


def test_the_same_kind_on_two_chairs_gives_two_ids() -> None:
    ids = {
        AlarmBoard(chair=name).present(_finding(), ts=TS, session=None)[0].alarm
        for name in ("c01", "c02")
    }

    assert len(ids) == 2
