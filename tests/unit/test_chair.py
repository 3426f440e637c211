"""One chair as the shell sees it: technical alarms, audio pause, readings, clock, clinic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from builders import T0, Bedside, admitted, infusing, kinds_raised, of_type, transitions

from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority, AlarmState, Finding
from monitor.domain.chair import Chair
from monitor.domain.clinic import Clinic
from monitor.domain.commands import DeviceReport
from monitor.domain.events import (
    AlarmTransition,
    ArtefactRecorded,
    CommandAccepted,
    CommandRejected,
    Event,
    ReadingRejected,
    SessionClosed,
)
from monitor.domain.limits import DEFAULT_LIMITS
from monitor.domain.vitals import Reading, Vital

# Monitor offline ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [admitted, infusing])
def test_a_monitor_going_offline_in_a_session_alarms_at_once(make: Callable[[], Bedside]) -> None:
    side = make()
    side.wait(5)

    [raised] = side.device(online=False, name="bedside-7")

    assert (raised.kind, raised.state, raised.priority, raised.alarm_class) == (
        "monitor_offline",
        "active",
        "medium",
        "technical",
    )
    assert raised.text == "Monitor bedside-7 offline: no vitals"
    assert raised.ts == side.now


def test_an_unused_monitor_going_offline_before_any_session_says_nothing() -> None:
    side = Bedside()

    assert side.device(online=False) == []


def test_a_monitor_that_was_in_use_going_offline_between_sessions_is_low_priority() -> None:
    side = Bedside()
    side.read(hr=70)
    side.wait(60)

    [raised] = side.device(online=False)

    assert (raised.kind, raised.priority) == ("monitor_offline", "low")


@pytest.mark.parametrize(
    "back",
    [
        lambda side: side.device(online=True),
        lambda side: side.read(hr=72),
        lambda side: side.read(hr=0),  # even a reading of nothing says the monitor is back
    ],
)
def test_monitor_offline_ends_when_the_monitor_is_back(
    back: Callable[[Bedside], list[Event]],
) -> None:
    side = infusing()
    side.device(online=False)
    side.wait(20)

    events = back(side)

    [ended] = transitions(events, "monitor_offline")
    assert (ended.state, ended.previous_state) == ("cleared", "active")
    assert AlarmKind.MONITOR_OFFLINE not in side.alarms


def test_a_device_report_without_a_time_uses_the_clinical_clock() -> None:
    side = infusing()
    side.read(hr=70)

    [raised] = side.chair.handle(DeviceReport(None, False), wall=side.wall + 7)

    assert raised.ts == side.now + 7


# Device conditions in a reading ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "flagged", "unrelated", "clean"),
    [
        ("spo2_probe_off", {"hr": 72, "spo2": 97}, {"bp": (124, 82)}, {"spo2": 97}),
        ("leads_off", {"hr": 0, "spo2": 97}, {"bp": (124, 82)}, {"hr": 72}),
        ("nibp_failed", {"hr": 72}, {"hr": 72, "spo2": 97}, {"bp": (124, 82)}),
    ],
)
def test_a_condition_the_device_reports_alarms_until_the_vital_is_valid_again(
    flag: str, flagged: dict[str, Any], unrelated: dict[str, Any], clean: dict[str, Any]
) -> None:
    side = infusing()
    kind = flag

    raised = transitions(side.read(technical=[flag], **flagged), kind)
    side.wait(1)
    persisting = side.read(technical=[flag], **flagged)
    side.wait(1)
    says_nothing = side.read(**unrelated)  # a reading without the vital leaves it be
    side.wait(1)
    ended = transitions(side.read(**clean), kind)

    assert [(t.state, t.priority, t.alarm_class) for t in raised] == [
        ("active", "low", "technical")
    ]
    assert transitions(persisting, kind) == []
    assert transitions(says_nothing, kind) == []
    assert [t.state for t in ended] == ["cleared"]


def test_device_conditions_outside_a_session_raise_nothing() -> None:
    side = Bedside()

    events = side.read(spo2=97, technical=["spo2_probe_off", "leads_off", "nibp_failed"])

    assert transitions(events) == []


# Stale vitals ---------------------------------------------------------------------------------


def test_each_vital_goes_stale_after_a_minute_of_wall_time_without_a_valid_value() -> None:
    side = Bedside()
    side.admit()

    quiet = side.tick(after=60)
    events = side.tick(after=61)

    assert transitions(quiet) == []
    assert kinds_raised(events) == {"hr_stale", "spo2_stale"}
    for kind, name in (("hr_stale", "HR"), ("spo2_stale", "SpO2")):
        stale = side.alarm(kind)
        assert (stale.state.value, stale.priority.value, stale.alarm_class.value) == (
            "active",
            "medium",
            "technical",
        )
        assert stale.text == f"No valid {name} for 61 s"


def test_only_the_silent_vital_goes_stale() -> None:
    side = infusing()
    for _ in range(70):
        side.wait(1)
        side.read(hr=72)

    assert {t.kind for t in transitions(side.log) if t.reason == "raised"} == {"spo2_stale"}


def test_the_oximeters_pulse_rate_keeps_the_pulse_fresh() -> None:
    side = infusing()

    events = side.hold(70, pr=72, spo2=97)

    assert "hr_stale" not in kinds_raised(events)


def test_artefacts_do_not_keep_a_vital_fresh() -> None:
    side = infusing()
    events = []
    for _ in range(70):
        side.wait(1)
        events += side.read(hr=0, spo2=0, technical=["leads_off", "spo2_probe_off"])

    assert {"hr_stale", "spo2_stale"} <= kinds_raised(events)


def test_a_stale_vital_follows_wall_time_and_ends_with_a_valid_reading() -> None:
    side = infusing()
    side.tick(after=61)
    side.wait(70)

    events = side.read(hr=72, spo2=97)

    assert {(t.kind, t.state) for t in transitions(events)} == {
        ("hr_stale", "cleared"),
        ("spo2_stale", "cleared"),
    }


def test_no_cuff_for_twenty_minutes_is_stale_too() -> None:
    side = infusing()
    for _ in range(40):
        side.wait(30)
        side.read(hr=72, spo2=97)

    [stale] = transitions(side.log, "nibp_stale")
    assert stale.text.startswith("No valid NIBP for")


def test_a_v1_vitals_stale_alarm_restored_from_an_old_snapshot_clears() -> None:
    side = infusing()
    side.chair.state.board.present(
        Finding(AlarmKind.VITALS_STALE, AlarmClass.TECHNICAL, AlarmPriority.MEDIUM, 61, 60, "x"),
        ts=side.now,
        session=side.chair.session_ref,
    )

    [ended] = transitions(side.read(hr=72, spo2=97), "vitals_stale")

    assert ended.state == "cleared"


@pytest.mark.parametrize(
    "setup",
    [
        lambda: Bedside(),  # no session
        lambda: _offline(infusing()),  # monitor_offline already says why
        lambda: _discharged(),
    ],
)
def test_stale_vitals_only_in_a_session_with_the_monitor_online(
    setup: Callable[[], Bedside],
) -> None:
    side = setup()

    events = side.tick(after=600)

    assert not {"hr_stale", "spo2_stale", "nibp_stale"} & kinds_raised(events)


def _offline(side: Bedside) -> Bedside:
    side.device(online=False)
    return side


def _discharged() -> Bedside:
    side = admitted()
    side.discharge()
    return side


# Artefacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        {"hr": 0},
        {"spo2": 0},
        {"hr": 351},
        {"hr": -10},
        {"spo2": 101},
        {"bp": (40, 50)},
        {"bp": (320, 200)},
        {"bp": (60, 60)},
        {"bp": (220, 130), "technical": ["nibp_failed"]},
        {"spo2": 70, "technical": ["spo2_probe_off"]},
        {"hr": 30, "technical": ["leads_off"]},
    ],
)
def test_impossible_and_flagged_values_never_raise_a_physiological_alarm(
    junk: dict[str, Any],
) -> None:
    side = infusing()

    events = side.hold(40, **junk)

    physiological = [t for t in transitions(events) if t.alarm_class == "physiological"]
    assert physiological == []
    recorded = of_type(events, ArtefactRecorded)
    assert len(recorded) >= 41
    assert all(a.reason and a.session == side.chair.session_ref for a in recorded)


def test_an_artefact_does_not_end_an_alarm() -> None:
    side = infusing()
    side.hold(10, hr=130)
    side.wait(1)

    events = side.hold(20, hr=0)

    assert transitions(events, "hr_high") == []
    assert side.alarm("hr_high").state is AlarmState.ACTIVE


# Acknowledge through a chair ------------------------------------------------------------------


def test_a_nurse_acknowledges_by_alarm_id_and_is_named() -> None:
    side = infusing()
    [raised] = transitions(side.read(bp=(190, 100)), "sbp_high")
    side.wait(30)

    events = side.ack(raised.alarm, by="nurse-ana")

    acked, under, accepted = events  # sbp_rise, shown under sbp_high, goes with it
    assert (under.kind, under.state) == ("sbp_rise", "acknowledged")  # type: ignore[union-attr]
    assert isinstance(acked, AlarmTransition)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "nurse-ana",
        side.now,
    )
    assert accepted == CommandAccepted(side.now, "acknowledge", "nurse-ana", side.chair.session_ref)


def test_acknowledging_an_alarm_the_chair_does_not_have_is_rejected() -> None:
    side = infusing()

    [rejected] = side.ack("01NOSUCHALARM")

    assert isinstance(rejected, CommandRejected)
    assert rejected.command == "acknowledge"
    assert "01NOSUCHALARM" in rejected.reason


def test_acknowledging_twice_is_rejected() -> None:
    side = infusing()
    side.read(bp=(190, 100))
    side.ack("sbp_high", by="nurse-ana")

    [rejected] = side.ack("sbp_high", by="nurse-ben")

    assert isinstance(rejected, CommandRejected)
    assert side.alarm("sbp_high").acknowledged_by == "nurse-ana"


# Audio pause ----------------------------------------------------------------------------------


def _sounding_medium() -> Bedside:
    side = infusing()
    side.hold(10, hr=130)
    assert side.chair.audible
    return side


def test_audio_pause_silences_the_chair() -> None:
    side = _sounding_medium()

    [accepted] = side.pause_audio(120, by="nurse-ana")

    assert accepted == CommandAccepted(side.now, "pause_audio", "nurse-ana", side.chair.session_ref)
    assert not side.chair.audible
    assert side.chair.state.audio_paused_until == side.now + 120
    assert side.chair.state.audio_paused_by == "nurse-ana"


def test_a_new_high_alarm_ends_the_audio_pause() -> None:
    side = _sounding_medium()
    side.pause_audio(120)
    side.wait(10)

    side.read(bp=(190, 100))

    assert side.chair.audible
    assert side.chair.state.audio_paused_until is None


def test_a_new_high_alarm_ends_a_pause_taken_during_a_high_alarm() -> None:
    side = infusing()
    side.read(bp=(190, 100))
    side.pause_audio(120)
    side.wait(10)

    side.read(spo2=80)

    assert side.chair.audible


def test_a_new_medium_alarm_does_not_end_a_pause() -> None:
    side = infusing()
    side.pause_audio(120)
    side.wait(1)

    events = side.hold(10, hr=130)

    assert "hr_high" in kinds_raised(events)
    assert not side.chair.audible


def test_the_audio_pause_runs_out() -> None:
    side = _sounding_medium()
    side.pause_audio(120)

    side.tick(after=119)
    still = side.chair.audible
    side.tick(after=120)

    assert not still
    assert side.chair.audible
    assert side.chair.state.audio_paused_until is None


@pytest.mark.parametrize("seconds", [0, -5, 600.5, 601, 3600])
def test_an_audio_pause_out_of_range_is_rejected(seconds: float) -> None:
    side = _sounding_medium()

    [rejected] = side.pause_audio(seconds)

    assert isinstance(rejected, CommandRejected)
    assert rejected.command == "pause_audio"
    assert "600" in rejected.reason
    assert side.chair.audible
    assert side.chair.state.audio_paused_until is None


@pytest.mark.parametrize("seconds", [1, 120, 600])
def test_an_audio_pause_in_range_is_accepted(seconds: float) -> None:
    side = _sounding_medium()

    [accepted] = side.pause_audio(seconds)

    assert isinstance(accepted, CommandAccepted)


def test_only_active_medium_or_high_alarms_sound() -> None:
    high_baseline = {"bp": (160.0, 95.0)}  # so that 190/100 is no rise over baseline
    low = infusing()
    low.read(spo2=97, technical=["spo2_probe_off"])  # a low technical alarm
    acked = infusing(**high_baseline)
    acked.read(bp=(190, 100))
    acked.ack("sbp_high")
    latched = infusing(**high_baseline)
    latched.read(hr=72, spo2=97, bp=(190, 100))
    latched.wait(50)
    latched.read(hr=72, spo2=97, bp=(130, 85))
    assert latched.alarm("sbp_high").state is AlarmState.LATCHED

    assert [s.chair.audible for s in (low, acked, latched)] == [False, False, False]


# Readings in order ----------------------------------------------------------------------------


def test_a_duplicate_reading_is_rejected() -> None:
    side = infusing()
    side.read(hr=72, seq=10)

    events = side.read(hr=72, seq=10)

    [rejected] = events
    assert isinstance(rejected, ReadingRejected)
    assert "duplicate" in rejected.reason
    assert rejected.session == side.chair.session_ref


def test_a_reading_far_older_than_the_newest_is_a_clock_step_and_is_evaluated_now() -> None:
    side = infusing()
    side.read(hr=72, spo2=97, bp=(126, 84))
    side.now -= 300  # the device clock goes back five minutes; wall time does not
    side.lag += 300

    events = side.read(hr=72, spo2=97, bp=(200, 120))

    assert {"clock_step", "sbp_high"} <= kinds_raised(events)
    assert side.alarm("sbp_high").raised_at == side.chair.clinical_now(side.wall)
    assert side.chair.state.latest[Vital.SBP] == (side.wall - side.lag + 300, 200)


def test_a_cuff_reading_stamped_a_little_earlier_is_taken_without_moving_values_back() -> None:
    side = infusing()
    side.read(hr=72, spo2=97)
    hr_before = side.chair.state.latest[Vital.HR]
    side.wait(-30)  # a cuff stamped when its measurement started, sent after later HR/SpO2

    events = side.read(hr=70, bp=(200, 120))

    assert of_type(events, ReadingRejected) == []
    assert AlarmKind.SBP_HIGH in side.alarms
    assert side.chair.state.latest[Vital.HR] == hr_before


def test_a_new_reading_with_the_same_time_as_the_last_is_taken() -> None:
    """Same `ts`, new `seq`: a second message from the same second (say the cuff result sent on
    its own), neither a duplicate nor older. Dropping it loses a cuff reading of 190/100."""
    side = infusing(bp=(160.0, 95.0))
    side.wait(1)
    side.read(hr=72, spo2=97, seq=500)

    events = side.read(bp=(190, 100), seq=501)

    assert of_type(events, ReadingRejected) == []
    assert "sbp_high" in kinds_raised(events)


def test_readings_in_order_are_all_taken() -> None:
    side = infusing()

    events = [side.wait(1).read(hr=70 + i) for i in range(5)]

    assert all(of_type(e, ReadingRejected) == [] for e in events)
    assert side.chair.state.latest[Vital.HR] == (side.now, 74)


# The clinical clock ---------------------------------------------------------------------------


def test_the_clinical_clock_is_the_newest_event_time_carried_on_by_wall_time() -> None:
    chair = Chair("c01")

    assert chair.clinical_now(T0) == T0  # nothing seen yet: wall time
    chair.handle(Reading(ts=T0 - 3600, hr=70), wall=T0)
    assert chair.clinical_now(T0) == T0 - 3600
    assert chair.clinical_now(T0 + 90) == T0 - 3600 + 90
    chair.handle(Reading(ts=T0 - 7200, hr=70), wall=T0 + 100)  # a step back: placed now
    assert chair.clinical_now(T0 + 100) == T0 - 3600 + 100
    assert chair.clinical_now(T0 - 50) == T0 - 3500  # wall going back does not rewind it


def test_the_same_session_replayed_at_another_speed_gives_the_same_clinical_events() -> None:
    def run(lag: float) -> list[object]:
        side = infusing(lag=lag)
        side.hold(12, hr=125)
        side.wait(1)
        side.read(hr=80, bp=(186, 100))
        side.wait(600)
        side.stop()
        side.wait(300)
        side.read(hr=72, spo2=97, bp=(126, 84))
        side.wait(300)
        side.read(hr=72, spo2=97, bp=(124, 82))
        return [e for e in side.log if getattr(e, "alarm_class", "") != "technical"]

    assert run(0.0) == run(86_400.0)


def test_handle_refuses_what_is_not_a_domain_input() -> None:
    chair = Chair("c01")

    with pytest.raises(TypeError, match="pass a domain input"):
        chair.handle(SessionClosed(T0, "S1", None), wall=T0)


# Clinic (its door: tests/unit/pipeline/test_clinic_door.py) ---------------------------------


def test_a_clinic_s_limits_reach_its_chairs() -> None:
    clinic = Clinic(limits=DEFAULT_LIMITS.with_overrides({"sbp_high": 170}))

    [report] = clinic.handle("c01", Reading(ts=T0, sbp=175, dbp=90), wall=T0)

    assert kinds_raised([e for e in report.events if isinstance(e, AlarmTransition)]) == {
        "sbp_high"
    }


def test_a_restored_chair_carries_on() -> None:
    side = infusing()
    side.read(bp=(190, 100))
    clinic = Clinic()

    chair = clinic.restore(side.chair.state)

    assert clinic.chair("c01") is chair
    assert AlarmKind.SBP_HIGH in chair.state.board.alarms


def test_a_device_clock_glitch_a_day_ahead_is_placed_now_and_does_not_lock_the_chair() -> None:
    side = infusing()
    side.read(hr=72, spo2=97)
    glitch = Reading(ts=side.now + 86_400, hr=72, spo2=97, sbp=120, dbp=80)

    events = side.chair.handle(glitch, wall=side.wall)
    side.wait(5)
    after = side.read(hr=72, bp=(190, 100))

    assert "clock_step" in kinds_raised(events)
    assert side.chair.clinical_now(side.wall) == side.now
    assert of_type(after, ReadingRejected) == []
    assert AlarmKind.SBP_HIGH in side.alarms


def test_a_monitor_back_after_a_night_is_taken() -> None:
    side = infusing()
    side.read(hr=72, spo2=97)
    side.wait(12 * 3600)  # event and wall time both move on

    events = side.read(hr=72, spo2=97)

    assert of_type(events, ReadingRejected) == []
