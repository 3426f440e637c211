"""Properties that must hold for any input: calm vitals stay quiet, replays repeat themselves,
the baseline is a median, and vitals back near baseline mean recovered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builders import T0, Bedside, infusing, of_type, transitions
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from monitor.domain.alarms import AlarmKind, AlarmState
from monitor.domain.baseline import Baseline, BaselineSamples, compute_baseline
from monitor.domain.clinic import Clinic, Report
from monitor.domain.commands import (
    Acknowledge,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
)
from monitor.domain.events import ArtefactRecorded, RecoveryUpdate
from monitor.domain.limits import DEFAULT_LIMITS
from monitor.domain.recovery import RecoveryTracker
from monitor.domain.session import Step
from monitor.domain.vitals import Reading, Vital

CHAIR_SETTINGS = settings(max_examples=150, deadline=None)


# (a) Calm vitals never alarm ------------------------------------------------------------------

# Strictly inside every limit, including the pre-infusion ones (SBP < 140, DBP < 90) and the
# rises over a baseline made of these same values (SBP >= 100 so baseline + 40 >= 140;
# DBP >= 65 so baseline + 25 >= 90).
calm_hr = st.floats(min_value=45, max_value=120, exclude_min=True, exclude_max=True)
calm_spo2 = st.floats(min_value=90, max_value=100, exclude_min=True)


@st.composite
def calm_bp(draw: st.DrawFn) -> tuple[float, float]:
    sbp = draw(st.floats(min_value=100, max_value=140, exclude_max=True))
    dbp = draw(st.floats(min_value=65, max_value=min(89.9, sbp - 10)))
    return sbp, dbp


@st.composite
def calm_reading(draw: st.DrawFn) -> dict[str, Any]:
    fields = {
        "hr": draw(st.none() | calm_hr),
        "spo2": draw(st.none() | calm_spo2),
        "bp": draw(st.none() | calm_bp()),
        "technical": draw(st.sampled_from([(), ("spo2_motion",)])),
    }
    if fields["hr"] is None and fields["spo2"] is None and fields["bp"] is None:
        fields["hr"] = 72.0
    return fields


calm_stretch = st.lists(st.tuples(st.integers(1, 30), calm_reading()), max_size=20)


@CHAIR_SETTINGS
@given(
    admit=st.booleans(),
    before=calm_stretch,
    during=calm_stretch,
    after=calm_stretch,  # at most 20 x 30 s: inside the 20-minute recovery window
)
def test_vitals_inside_every_limit_raise_no_physiological_alarm(
    admit: bool,
    before: list[tuple[int, dict[str, Any]]],
    during: list[tuple[int, dict[str, Any]]],
    after: list[tuple[int, dict[str, Any]]],
) -> None:
    side = Bedside()

    def feed(stretch: list[tuple[int, dict[str, Any]]]) -> None:
        for gap, fields in stretch:
            side.wait(gap)
            side.read(**fields)

    if admit:
        side.admit()
    feed(before)
    if admit:
        side.start()
        feed(during)
        side.stop()
    feed(after)

    assert of_type(side.log, ArtefactRecorded) == []  # the premise: no artefacts
    physiological = [t for t in transitions(side.log) if t.alarm_class == "physiological"]
    assert physiological == []


# (b) A replay gives the same events ------------------------------------------------------------

vital_or_junk = {
    "hr": st.none() | st.sampled_from([0.0, 277.0]) | st.floats(20, 250),
    "spo2": st.none() | st.sampled_from([0.0, 101.0]) | st.floats(40, 100),
    "sbp": st.none() | st.sampled_from([0.0, 40.0, 300.0]) | st.floats(50, 280),
    "dbp": st.none() | st.sampled_from([0.0, 10.0]) | st.floats(20, 180),
}
technical = st.frozensets(
    st.sampled_from(["spo2_probe_off", "spo2_motion", "nibp_failed", "leads_off"])
)


@dataclass(frozen=True)
class ScriptStep:
    chair: str
    gap: float  # event time moves on by this much
    lag: float  # and the input arrives this much later on the wall clock
    what: str
    params: tuple[Any, ...] = ()


step_kinds = st.sampled_from(
    ["reading"] * 8
    + ["admit", "start", "pause", "resume", "stop", "discharge", "ack", "pause_audio"]
    + ["device", "tick", "tick"]
)


@st.composite
def script_step(draw: st.DrawFn) -> ScriptStep:
    what = draw(step_kinds)
    params: tuple[Any, ...] = ()
    if what == "reading":
        params = (
            draw(st.sampled_from([None, 0, 1])),  # seq: few values, so duplicates happen
            *(draw(s) for s in vital_or_junk.values()),
            draw(technical),
        )
    elif what == "admit":
        params = (
            draw(
                st.sampled_from([{}, {"sbp_high": 170.0}, {"nonsense": 1.0}, {"hr_delay_s": -1.0}])
            ),
            draw(st.sampled_from([{}, {Vital.SBP: 130.0, Vital.DBP: 85.0}, {Vital.HR: 0.0}])),
        )
    elif what == "ack":
        params = (draw(st.sampled_from([k.value for k in AlarmKind] + ["01NOSUCH"])),)
    elif what == "pause_audio":
        params = (draw(st.sampled_from([-1.0, 0.0, 60.0, 120.0, 600.0, 900.0])),)
    elif what == "device":
        params = (draw(st.booleans()),)
    return ScriptStep(
        chair=draw(st.sampled_from(["c01", "c02"])),
        gap=draw(st.sampled_from([0.0, 1.0, 1.0, 5.0, 30.0, 300.0, 1300.0])),
        lag=draw(st.floats(0, 90)),
        what=what,
        params=params,
    )


def _input(step: ScriptStep, ts: float) -> Input | None:
    p = step.params
    simple: dict[str, Input] = {
        "start": InfusionEvent(ts, Step.START, "ketamine", 0.5, 40.0),
        "pause": InfusionEvent(ts, Step.PAUSE),
        "resume": InfusionEvent(ts, Step.RESUME),
        "stop": InfusionEvent(ts, Step.STOP),
        "discharge": Discharge(ts),
    }
    if step.what in simple:
        return simple[step.what]
    if step.what == "reading":
        seq, hr, spo2, sbp, dbp, flags = p
        return Reading(ts=ts, seq=seq, hr=hr, spo2=spo2, sbp=sbp, dbp=dbp, technical=flags)
    if step.what == "admit":
        return Admit(ts, "P-0042", 70.0, p[1], p[0])
    if step.what == "ack":
        return Acknowledge(ts, p[0], "nurse-ana")
    if step.what == "pause_audio":
        return PauseAudio(ts, p[0], "nurse-ana")
    if step.what == "device":
        return DeviceReport(ts, p[0], "bedside-7")
    return None  # a tick


def _replay(script: list[ScriptStep]) -> list[Report]:
    clinic = Clinic()
    ts = T0
    out: list[Report] = []
    for step in script:
        ts += step.gap
        item = _input(step, ts)
        if item is None:
            out += clinic.tick(ts + step.lag)
        else:
            out += clinic.handle(step.chair, item, wall=ts + step.lag)
    return out


def _reading_step(chair: str, gap: float, **vitals: float) -> ScriptStep:
    fields = {"hr": None, "spo2": None, "sbp": None, "dbp": None, **vitals}
    return ScriptStep(chair, gap, 0.5, "reading", (None, *fields.values(), frozenset()))


# A whole session on one chair and a quiet one next to it, so every run checks alarm ids too.
A_SESSION = [
    ScriptStep("c01", 0, 0.5, "admit", ({}, {})),
    ScriptStep("c02", 0, 0.5, "admit", ({}, {})),
    _reading_step("c01", 1, hr=70, spo2=98, sbp=120, dbp=80),
    _reading_step("c01", 300, hr=72, spo2=97, sbp=138, dbp=92),  # warns; within 20 mmHg
    ScriptStep("c01", 60, 0.5, "start"),
    *[_reading_step("c01", 1, hr=130, spo2=88) for _ in range(20)],
    _reading_step("c01", 1, sbp=190, dbp=100),
    ScriptStep("c01", 5, 0.5, "ack", ("sbp_high",)),
    ScriptStep("c01", 5, 0.5, "pause_audio", (120.0,)),
    ScriptStep("c02", 0, 0.5, "device", (False,)),
    ScriptStep("c01", 2400, 0.5, "stop"),
    ScriptStep("c01", 1300, 0.5, "tick"),
    _reading_step("c01", 60, hr=72, spo2=97, sbp=125, dbp=82),
    _reading_step("c01", 300, hr=72, spo2=97, sbp=124, dbp=82),
    ScriptStep("c01", 60, 0.5, "discharge"),
]


@CHAIR_SETTINGS
@example(script=A_SESSION)
@given(script=st.lists(script_step(), max_size=80))
def test_replaying_the_same_inputs_gives_the_same_events(script: list[ScriptStep]) -> None:
    first = _replay(script)
    second = _replay(script)

    assert first == second
    ids = [e.alarm for r in first for e in transitions(r.events)]
    assert ids == [e.alarm for r in second for e in transitions(r.events)]


def test_the_example_session_raises_alarms_to_compare() -> None:
    kinds = {t.kind for r in _replay(A_SESSION) for t in transitions(r.events)}

    assert kinds >= {
        "preinfusion_bp_high",
        "hr_high",
        "spo2_low",
        "sbp_high",
        "recovery_overdue",
        "monitor_offline",
    }


# (c) The baseline is a median -----------------------------------------------------------------

tenths = st.integers(min_value=200, max_value=2800).map(lambda x: x / 10)


@settings(max_examples=200)
@given(
    cuffs=st.lists(st.tuples(tenths, tenths), min_size=3, max_size=15),
    hrs=st.lists(st.integers(30, 200).map(float), min_size=1, max_size=30),
    data=st.data(),
)
def test_the_baseline_median_lies_within_the_samples_and_ignores_their_order(
    cuffs: list[tuple[float, float]], hrs: list[float], data: st.DataObject
) -> None:
    samples = BaselineSamples(
        nibp=list(cuffs), continuous={Vital.HR: [(T0 + i, v) for i, v in enumerate(hrs)]}
    )
    shuffled = BaselineSamples(
        nibp=data.draw(st.permutations(cuffs)),
        continuous={Vital.HR: data.draw(st.permutations(samples.continuous[Vital.HR]))},
    )

    baseline = compute_baseline(samples, {})

    assert baseline.sbp is not None
    assert baseline.dbp is not None
    assert baseline.hr is not None
    assert min(s for s, _ in cuffs) <= baseline.sbp <= max(s for s, _ in cuffs)
    assert min(d for _, d in cuffs) <= baseline.dbp <= max(d for _, d in cuffs)
    assert min(hrs) <= baseline.hr <= max(hrs)
    assert compute_baseline(shuffled, {}) == baseline


@settings(max_examples=200)
@given(cuffs=st.lists(st.tuples(tenths, tenths), min_size=3, max_size=15))
def test_half_the_cuff_readings_lie_on_each_side_of_the_median(
    cuffs: list[tuple[float, float]],
) -> None:
    baseline = compute_baseline(BaselineSamples(nibp=list(cuffs)), {})

    assert baseline.sbp is not None
    at_or_below = sum(s <= baseline.sbp for s, _ in cuffs)
    at_or_above = sum(s >= baseline.sbp for s, _ in cuffs)
    assert at_or_below >= len(cuffs) / 2
    assert at_or_above >= len(cuffs) / 2


@settings(max_examples=200)
@given(
    first=st.tuples(st.integers(60, 250), st.integers(30, 150)),  # cuffs report whole mmHg
    moves=st.tuples(st.integers(-40, 40), st.integers(-40, 40)),
)
def test_two_baseline_cuffs_make_a_baseline_only_within_20_mmhg_of_each_other(
    first: tuple[int, int], moves: tuple[int, int]
) -> None:
    second = (first[0] + moves[0], first[1] + moves[1])
    apart = max(abs(m) for m in moves)

    baseline = compute_baseline(BaselineSamples(nibp=[first, second]), {}, spread_mmhg=20)

    if apart <= 20:
        assert baseline.missing is None
        assert baseline.sbp == round((first[0] + second[0]) / 2, 1)
        assert baseline.dbp == round((first[1] + second[1]) / 2, 1)
    else:
        assert (baseline.sbp, baseline.dbp) == (None, None)
        assert baseline.missing is not None
        assert baseline.missing.endswith("take a third")
        third = compute_baseline(BaselineSamples(nibp=[first, second, first]), {})
        assert (third.sbp, third.dbp) == first  # a third cuff decides


# (d) Vitals back near baseline mean recovered -------------------------------------------------

fraction = st.floats(min_value=-0.2, max_value=0.2)
recovered_spo2 = st.floats(min_value=94, max_value=100)


@settings(max_examples=200)
@given(
    base_sbp=st.integers(90, 180),
    base_dbp=st.integers(50, 110),
    base_hr=st.integers(45, 120),
    offsets=st.lists(st.tuples(fraction, fraction, fraction), min_size=2, max_size=2),
    spo2s=st.lists(recovered_spo2, min_size=2, max_size=2),
    first_s=st.floats(min_value=0, max_value=600),
    spacing_s=st.floats(min_value=180, max_value=600),
)
def test_two_readings_within_tolerance_recover_at_the_second(
    base_sbp: int,
    base_dbp: int,
    base_hr: int,
    offsets: list[tuple[float, float, float]],
    spo2s: list[float],
    first_s: float,
    spacing_s: float,
) -> None:
    """Two cuffs 3-10 min apart, BP and HR within 20 % and SpO2 >= 94: recovered at the second."""
    stop = T0 + 2400
    tracker = RecoveryTracker.start(
        session="S1",
        stopped_at=stop,
        baseline=Baseline(sbp=base_sbp, dbp=base_dbp, hr=base_hr, spo2=98),
        limits=DEFAULT_LIMITS,
    )
    updates: list[RecoveryUpdate] = []
    for index, ((fs, fd, fh), spo2) in enumerate(zip(offsets, spo2s, strict=True)):
        ts = stop + first_s + index * spacing_s
        continuous = {Vital.HR: (ts - 1, base_hr * (1 + fh)), Vital.SPO2: (ts - 1, spo2)}
        updates += tracker.cuff_reading(
            ts, sbp=base_sbp * (1 + fs), dbp=base_dbp * (1 + fd), continuous=continuous
        )

    assert [u.status for u in updates] == ["watching", "recovered"]
    assert updates[-1].recovered_at == stop + first_s + spacing_s
    assert [u.reason for u in updates] == [None, None]


@settings(max_examples=200)
@given(
    base=st.tuples(st.integers(90, 180), st.integers(50, 110)),
    which=st.sampled_from(["sbp", "dbp", "hr"]),
    beyond=st.floats(min_value=0.201, max_value=0.6),
    sign=st.sampled_from([-1, 1]),
    low_spo2=st.floats(min_value=50, max_value=93.9),
)
def test_one_vital_out_of_tolerance_or_a_low_spo2_never_counts(
    base: tuple[int, int], which: str, beyond: float, sign: int, low_spo2: float
) -> None:
    stop = T0 + 2400
    tracker = RecoveryTracker.start(
        session="S1",
        stopped_at=stop,
        baseline=Baseline(sbp=base[0], dbp=base[1], hr=70, spo2=98),
        limits=DEFAULT_LIMITS,
    )
    values = {"sbp": float(base[0]), "dbp": float(base[1]), "hr": 70.0}
    values[which] *= 1 + sign * beyond
    ts = stop + 300
    continuous = {Vital.HR: (ts - 1, values["hr"]), Vital.SPO2: (ts - 1, 98.0)}
    far = tracker.cuff_reading(ts, sbp=values["sbp"], dbp=values["dbp"], continuous=continuous)
    ts += 300
    continuous = {Vital.HR: (ts - 1, 70.0), Vital.SPO2: (ts - 1, low_spo2)}
    low = tracker.cuff_reading(ts, sbp=base[0], dbp=base[1], continuous=continuous)

    assert [(u.status, u.consecutive_in_tolerance) for u in far + low] == [("watching", 0)] * 2
    assert far[0].reason is not None
    assert far[0].reason.startswith(f"{which.upper()} ")
    assert low[0].reason == f"SpO2 {low_spo2:g} % below 94 %"


# Baselines whose +-20 % stays inside every absolute limit (SBP 90-180, DBP <= 110, HR 45-120),
# so that no ongoing alarm blocks the recovery (rule 5) and the premise is only "within 20 %".
@CHAIR_SETTINGS
@given(
    base=st.tuples(st.integers(113, 150), st.integers(50, 91)).filter(
        lambda b: b[0] - b[1] >= max(20, 0.25 * b[0])
    ),
    base_hr=st.integers(57, 100),
    offsets=st.lists(st.tuples(fraction, fraction, fraction), min_size=2, max_size=2),
    gaps=st.lists(st.integers(180, 540), min_size=2, max_size=2),
)
def test_a_chair_recovers_at_the_second_reading_within_tolerance(
    base: tuple[int, int],
    base_hr: int,
    offsets: list[tuple[float, float, float]],
    gaps: list[int],
) -> None:
    side = Bedside()
    side.admit()
    side.read(hr=base_hr, spo2=98, bp=base)
    side.wait(300)
    side.read(hr=base_hr, spo2=98, bp=base)
    side.wait(60)
    side.start()
    side.wait(2400)
    side.stop()
    statuses = []
    for gap, (fs, fd, fh) in zip(gaps, offsets, strict=True):
        side.wait(gap)
        bp = (round(base[0] * (1 + fs), 1), round(base[1] * (1 + fd), 1))
        assume(bp[1] < bp[0])  # the premise: a valid cuff (DBP >= SBP is impossible)
        hr = base_hr * (1 + fh)
        statuses += [u.status for u in of_type(side.read(hr=hr, spo2=98, bp=bp), RecoveryUpdate)]

    assert of_type(side.log, ArtefactRecorded) == []
    assert statuses == ["watching", "recovered"]


# (e) No clock can blind a chair (CLINICAL.md, safety rule 2) ---------------------------------

clock_step = st.tuples(
    st.integers(min_value=0, max_value=79),  # the second of wall time it happens at
    st.one_of(  # back or forward, up to a day: near the 2-min reorder window, DST, a date
        st.floats(min_value=-300, max_value=300),
        st.sampled_from([-86_400.0, -3600.0, -121.0, -120.0, 120.0, 121.0, 3600.0, 86_400.0]),
        st.floats(min_value=-86_400, max_value=86_400),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    calm=st.lists(st.sampled_from([97.0, 96.0, 88.0]), min_size=0, max_size=60),
    dip=st.lists(st.floats(min_value=30, max_value=84.9), min_size=10, max_size=20),
    steps=st.lists(clock_step, max_size=5),
    numbered=st.booleans(),
)
def test_a_sustained_spo2_below_85_is_announced_within_5_s_whatever_the_device_clock_does(
    calm: list[float], dip: list[float], steps: list[tuple[int, float]], numbered: bool
) -> None:
    """Readings at 1 Hz of wall time, stamped by a monitor whose clock steps back and forward
    at any moments; `calm`: the SpO2 before the dip (an 88 may already have raised spo2_low);
    `numbered`: the monitor numbers its readings (else seq is absent)."""
    side = infusing()
    chair = side.chair
    start_wall = side.wall + 1
    dip_wall = start_wall + len(calm)
    offset = 0.0  # the device clock is wall time plus this
    announced_at: float | None = None
    for second, spo2 in enumerate(calm + dip):
        offset += sum(delta for at, delta in steps if at == second)
        wall = start_wall + second
        seq = second if numbered else None
        reading = Reading(ts=wall + offset, seq=seq, hr=72.0, spo2=spo2)
        events = chair.handle(reading, wall=wall) + chair.tick(wall)
        if wall < dip_wall or announced_at is not None:
            continue
        raised = any(t.state == "active" for t in transitions(events, "spo2_critical"))
        shown = [
            chair.state.board.alarms.get(k) for k in (AlarmKind.SPO2_LOW, AlarmKind.SPO2_CRITICAL)
        ]
        if raised or any(a is not None and a.state is AlarmState.ACTIVE for a in shown):
            announced_at = wall

    assert announced_at is not None, "SpO2 below 85 % was never announced"
    assert announced_at - dip_wall <= 5


# (f) Worse is new (CLINICAL.md, safety rule 3) ------------------------------------------------

# The further change past the acknowledged value that sounds again: 20 mmHg / 20 /min.
WORSE_BP_MMHG = 20
WORSE_HR_PER_MIN = 20


@dataclass(frozen=True)
class Worsening:
    kind: str
    first: range  # integer values that raise the alarm
    sign: int  # +1: higher is worse
    step: int

    @property
    def hold_s(self) -> int:
        """HR alarms wait out their 10 s delay; a cuff alarms on one reading."""
        return 12 if self.kind.startswith("hr") else 0

    def reading(self, value: float) -> dict[str, Any]:
        """A reading whose only alarm is `kind` (HR and SpO2 always, so nothing goes stale)."""
        if self.kind == "sbp_high":
            return {"hr": 72, "spo2": 97, "bp": (value, 90)}
        if self.kind == "sbp_low":
            return {"hr": 72, "spo2": 97, "bp": (value, round(value * 0.6, 1))}
        if self.kind == "dbp_high":
            return {"hr": 72, "spo2": 97, "bp": (178, value)}
        return {"hr": value, "spo2": 97}


WORSENINGS = {
    w.kind: w
    for w in (
        Worsening("sbp_high", range(181, 241), +1, WORSE_BP_MMHG),
        Worsening("sbp_low", range(60, 90), -1, WORSE_BP_MMHG),
        Worsening("dbp_high", range(111, 126), +1, WORSE_BP_MMHG),
        Worsening("hr_high", range(121, 201), +1, WORSE_HR_PER_MIN),
        Worsening("hr_low", range(25, 45), -1, WORSE_HR_PER_MIN),
    )
}


@CHAIR_SETTINGS
@given(
    kind=st.sampled_from(sorted(WORSENINGS)),
    data=st.data(),
    further=st.booleans(),
)
def test_an_acknowledged_bp_or_hr_alarm_sounds_again_a_step_further_and_not_before(
    kind: str, data: st.DataObject, further: bool
) -> None:
    worsening = WORSENINGS[kind]
    first = data.draw(st.sampled_from(worsening.first), label="first")
    if further:  # a full step or more beyond the acknowledged value (and still a valid value)
        most = min(40, first - 1) if worsening.sign < 0 else 40
        move: float = data.draw(st.integers(worsening.step, most), label="move")
    else:
        # In tenths, up to 19.9: a float just under the step would round to it in the sum.
        tenths_short = st.integers(0, worsening.step * 10 - 1).map(lambda x: x / 10)
        move = data.draw(tenths_short, label="move")
    then = first + worsening.sign * move
    # The baseline 140/90 keeps the rises over it (+40 / +25) out of the way of dbp_high.
    side = infusing(bp=(140, 90))
    side.hold(worsening.hold_s, **worsening.reading(first))
    side.ack(kind)
    assert side.alarm(kind).acknowledged_value == first
    assert not side.chair.audible  # the premise: nothing else sounds

    side.wait(30)
    events = side.hold(min(3, worsening.hold_s), **worsening.reading(then))

    alarm = side.alarm(kind)
    again = [t for t in transitions(events, kind) if t.state == "active"]
    if further:
        assert alarm.state is AlarmState.ACTIVE
        assert [t.reason for t in again] == ["worsens"]
        assert side.chair.audible
    else:
        assert alarm.state is AlarmState.ACKNOWLEDGED
        assert again == []
        assert not side.chair.audible
