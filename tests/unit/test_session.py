"""Session phases through a chair: the PHASES table, infusion time, admission and discharge."""

from __future__ import annotations

import copy
import itertools

import pytest
from builders import Bedside, admitted, infusing, of_type, recovering, transitions

from monitor.domain.commands import Admit, Discharge, InfusionEvent, Input
from monitor.domain.events import (
    CommandRejected,
    PhaseChanged,
    SessionClosed,
    SessionOpened,
)
from monitor.domain.session import PHASES, IllegalStep, Infusion, Phase, Step, next_phase
from monitor.domain.vitals import Vital


def _in_phase(phase: Phase) -> Bedside:
    """A chair in `phase`, with a latched sbp_high on its board so alarms can be compared."""
    if phase is Phase.EMPTY:
        side = Bedside()
    elif phase is Phase.BASELINE:
        side = admitted()
    else:
        side = infusing()
        side.wait(600)
        if phase is Phase.PAUSED:
            side.pause()
        elif phase in (Phase.RECOVERY, Phase.DISCHARGED):
            side.stop()
            if phase is Phase.DISCHARGED:
                side.wait(1500)
                side.discharge()
    side.wait(60)
    side.read(bp=(186, 100))
    side.wait(60)
    side.read(bp=(150, 90))
    side.wait(60)
    assert side.phase is phase
    return side


def _command(step: Step, ts: float) -> Input:
    if step is Step.ADMIT:
        return Admit(ts, "P-0099")
    if step is Step.DISCHARGE:
        return Discharge(ts, by="nurse-ana", over_alarms=True)  # over the latched sbp_high
    return InfusionEvent(ts, step)


ALL_PAIRS = list(itertools.product(Phase, Step))
LISTED = [pair for pair in ALL_PAIRS if pair in PHASES]
UNLISTED = [pair for pair in ALL_PAIRS if pair not in PHASES]


def test_the_table_matches_the_documented_session() -> None:
    """admit -> baseline -> infusing (pause <-> resume) -> recovery -> discharged."""
    assert PHASES == {
        (Phase.EMPTY, Step.ADMIT): Phase.BASELINE,
        (Phase.DISCHARGED, Step.ADMIT): Phase.BASELINE,
        (Phase.BASELINE, Step.START): Phase.INFUSING,
        (Phase.BASELINE, Step.DISCHARGE): Phase.DISCHARGED,
        (Phase.INFUSING, Step.PAUSE): Phase.PAUSED,
        (Phase.INFUSING, Step.STOP): Phase.RECOVERY,
        (Phase.PAUSED, Step.RESUME): Phase.INFUSING,
        (Phase.PAUSED, Step.STOP): Phase.RECOVERY,
        (Phase.RECOVERY, Step.DISCHARGE): Phase.DISCHARGED,
    }


@pytest.mark.parametrize(("phase", "step"), LISTED)
def test_every_listed_step_works(phase: Phase, step: Step) -> None:
    side = _in_phase(phase)

    events = side.send(_command(step, side.now))

    expected = PHASES[(phase, step)]
    assert side.phase is expected
    [changed] = of_type(events, PhaseChanged)
    assert (changed.previous, changed.phase, changed.cause) == (
        phase.value,
        expected.value,
        step.value,
    )
    assert of_type(events, CommandRejected) == []
    assert next_phase(phase, step) is expected


@pytest.mark.parametrize(("phase", "step"), UNLISTED)
def test_every_unlisted_step_is_rejected_and_changes_nothing(phase: Phase, step: Step) -> None:
    side = _in_phase(phase)
    session_before = copy.deepcopy(side.chair.session)
    alarms_before = copy.deepcopy(side.alarms)
    opened_before = side.chair.state.sessions_opened

    events = side.send(_command(step, side.now))

    [rejected] = events
    assert isinstance(rejected, CommandRejected)
    assert rejected.command == step.value
    assert f"cannot {step.value} in phase {phase.value}" in rejected.reason
    assert "possible now" in rejected.reason
    assert side.phase is phase
    assert side.chair.session == session_before
    assert side.alarms == alarms_before
    assert side.chair.state.sessions_opened == opened_before


@pytest.mark.parametrize(("phase", "step"), UNLISTED)
def test_next_phase_refuses_every_unlisted_step(phase: Phase, step: Step) -> None:
    with pytest.raises(IllegalStep) as caught:
        next_phase(phase, step)

    assert (caught.value.phase, caught.value.step) == (phase, step)


@pytest.mark.parametrize(
    ("phase", "step", "advice"),
    [
        (Phase.INFUSING, Step.ADMIT, "discharge it first"),
        (Phase.INFUSING, Step.DISCHARGE, "stop it first"),
        (Phase.EMPTY, Step.START, "only after admission"),
        (Phase.BASELINE, Step.RESUME, "only a paused infusion can be resumed"),
    ],
)
def test_a_rejection_says_how_to_fix_it(phase: Phase, step: Step, advice: str) -> None:
    side = _in_phase(phase)

    [rejected] = side.send(_command(step, side.now))

    assert isinstance(rejected, CommandRejected)
    assert advice in rejected.reason


def test_a_rejection_during_a_session_names_the_session() -> None:
    side = infusing()

    [rejected] = side.start()

    assert isinstance(rejected, CommandRejected)
    assert side.chair.session is not None
    assert rejected.session == side.chair.session.id


# Infusion time --------------------------------------------------------------------------------


def test_running_time_excludes_pauses() -> None:
    side = infusing()
    started = side.now
    infusion = side.chair.session.infusion if side.chair.session else Infusion()

    side.wait(600)
    side.pause()
    during_pause = infusion.running_s(started + 900)
    side.wait(400)
    side.resume()
    after_resume = infusion.running_s(started + 1600)
    side.wait(300)
    side.pause()
    side.wait(100)
    side.resume()
    side.wait(1200)
    side.stop()

    assert during_pause == 600
    assert after_resume == 1200
    assert infusion.paused_s == 500
    assert infusion.running_s(started + 99_999) == 2100
    assert (infusion.started_at, infusion.stopped_at) == (started, started + 2600)


def test_stopping_while_paused_counts_the_pause() -> None:
    side = infusing()
    started = side.now
    side.wait(600)
    side.pause()
    side.wait(300)
    side.stop()

    assert side.chair.session is not None
    infusion = side.chair.session.infusion
    assert infusion.paused_s == 300
    assert infusion.paused_at is None
    assert infusion.running_s(started + 5000) == 600


def test_running_time_before_the_start_is_zero() -> None:
    assert Infusion().running_s(1_795_000_000.0) == 0.0


def test_the_infusion_records_what_the_pump_said() -> None:
    side = infusing()

    assert side.chair.session is not None
    infusion = side.chair.session.infusion
    assert (infusion.drug, infusion.dose_mg_per_kg, infusion.planned_minutes) == (
        "ketamine",
        0.5,
        40.0,
    )


# Admission ------------------------------------------------------------------------------------


def test_admission_opens_a_session() -> None:
    side = Bedside()

    events = side.admit(
        "P-0042", baseline={Vital.SBP: 130.0, Vital.DBP: 85.0}, limits={"hr_high": 110}
    )

    opened, changed = events
    assert isinstance(opened, SessionOpened)
    assert (opened.patient, opened.weight_kg) == ("P-0042", 70.0)
    assert opened.entered_baseline == {"sbp": 130.0, "dbp": 85.0}
    assert opened.limit_overrides == {"hr_high": 110}
    assert changed == PhaseChanged(side.now, opened.session, "baseline", "empty", "admit")
    assert side.chair.session is not None
    assert side.chair.session.limits.hr_high == 110
    assert side.chair.session_ref == opened.session


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"sbp_hihg": 170}, "sbp_hihg"),
        ({"sbp_low": 200}, "sbp_low must be below sbp_high"),
        ({"hr_delay_s": -10}, "hr_delay_s -10 is outside its clinical range 0-30 s"),
    ],
)
def test_admission_with_bad_limits_is_rejected(limits: dict[str, float], named: str) -> None:
    side = Bedside()

    [rejected] = side.admit(limits=limits)

    assert isinstance(rejected, CommandRejected)
    assert rejected.command == "admit"
    assert named in rejected.reason
    assert side.phase is Phase.EMPTY
    assert side.chair.session is None
    assert side.chair.state.sessions_opened == 0


@pytest.mark.parametrize(
    "baseline",
    [
        {Vital.SBP: 400.0, Vital.DBP: 80.0},
        {Vital.HR: 0.0},
        {Vital.SPO2: 120.0},
        {Vital.DBP: 5.0},
    ],
)
def test_admission_with_an_implausible_entered_baseline_is_rejected(
    baseline: dict[Vital, float],
) -> None:
    side = Bedside()

    [rejected] = side.admit(baseline=baseline)

    assert isinstance(rejected, CommandRejected)
    vital = next(iter(baseline))
    assert f"baseline {vital.value}" in rejected.reason
    assert side.chair.session is None


@pytest.mark.parametrize(
    "baseline",
    [
        {Vital.SBP: 80.0, Vital.DBP: 120.0},  # 120/80 typed the wrong way round
        {Vital.SBP: 120.0, Vital.DBP: 115.0},
    ],
)
def test_admission_with_an_entered_bp_that_is_not_a_blood_pressure_is_rejected(
    baseline: dict[Vital, float],
) -> None:
    """vitals.py: a cuff reading whose pulse pressure is below 10 mmHg is not a blood pressure.
    An entered baseline of 80/120 would make every later rise and the recovery check wrong."""
    side = Bedside()

    [rejected] = side.admit(baseline=baseline)

    assert isinstance(rejected, CommandRejected)
    assert side.chair.session is None


def test_readmission_after_discharge_opens_a_fresh_session() -> None:
    side = _in_phase(Phase.DISCHARGED)
    old = side.chair.session

    events = side.admit("P-0100")

    [opened] = of_type(events, SessionOpened)
    assert old is not None
    assert opened.session != old.id
    assert side.phase is Phase.BASELINE
    assert side.chair.session is not None
    assert side.chair.session.baseline is None
    assert side.chair.state.sessions_opened == 2


def test_session_ids_are_derived_from_the_inputs() -> None:
    assert admitted().chair.session_ref == admitted().chair.session_ref
    assert Bedside("c01").admit()[0] != Bedside("c02").admit()[0]


# Discharge ------------------------------------------------------------------------------------


def test_discharge_clears_every_alarm() -> None:
    side = recovering()
    side.wait(60)
    side.read(bp=(186, 100))
    side.wait(60)
    side.read(bp=(150, 90))  # sbp_high latched
    side.wait(1)
    side.hold(10, hr=130)  # hr_high active
    side.wait(1)
    side.read(spo2=80)  # spo2_critical active
    side.tick(after=1200)  # recovery_overdue, stale vitals
    side.ack("spo2_critical")  # after the tick: no reminder has sounded it again yet
    open_kinds = {kind.value for kind in side.alarms}
    assert {"sbp_high", "hr_high", "spo2_critical", "recovery_overdue"} <= open_kinds
    side.wait(1300)

    events = side.discharge(by="nurse-kim", over_alarms=True)

    cleared = transitions(events)
    assert {t.kind for t in cleared} == open_kinds
    assert {t.kind: t.reason for t in cleared if t.reason != "session_ends"} == {
        "sbp_high": "discharged_over"  # latched, nobody acknowledged it
    }
    assert {t.state for t in cleared} == {"cleared"}
    assert side.alarms == {}
    assert side.phase is Phase.DISCHARGED
    [closed] = of_type(events, SessionClosed)
    assert (closed.recovery_status, closed.outcome) == ("overdue", "discharged_unconfirmed")
    assert (closed.by, closed.over_alarms) == ("nurse-kim", ("sbp_high",))
    assert side.chair.session is not None
    assert side.chair.session.closed_at == side.now
    assert side.chair.session_ref is None


def test_discharge_from_the_baseline_phase_without_an_infusion() -> None:
    side = admitted()

    events = side.discharge()

    [closed] = of_type(events, SessionClosed)
    assert closed.recovery_status is None
    assert side.phase is Phase.DISCHARGED


def test_discharge_ends_an_audio_pause() -> None:
    side = recovering()
    side.pause_audio(120)
    assert side.chair.state.audio_paused_until is not None

    side.discharge()

    assert side.chair.state.audio_paused_until is None


def test_events_carry_the_session_id_while_it_is_open() -> None:
    side = admitted()
    assert side.chair.session is not None
    sid = side.chair.session.id

    [raised] = transitions(side.read(bp=(190, 100)), "sbp_high")
    side.wait(60)
    side.discharge(over_alarms=True)
    side.wait(60)
    after = transitions(side.read(bp=(85, 60)), "sbp_low")

    assert raised.session == sid
    assert [t.session for t in after] == [None]
