"""The patient's own baseline: median of the pre-infusion readings, entered values win."""

from __future__ import annotations

import pytest
from builders import T0, Bedside, admitted, of_type, transitions

from monitor.domain.baseline import (
    CONTINUOUS_WINDOW_S,
    Baseline,
    BaselineSamples,
    BaselineSource,
    compute_baseline,
)
from monitor.domain.events import BaselineSet
from monitor.domain.vitals import Reading, Vital, screen


def _samples(*readings: dict[str, float], step_s: float = 60.0) -> BaselineSamples:
    samples = BaselineSamples()
    for index, fields in enumerate(readings):
        samples.add(screen(Reading(ts=T0 + index * step_s, seq=index, **fields)))
    return samples


@pytest.mark.parametrize(
    ("cuffs", "sbp", "dbp"),
    [
        ([(120, 80), (130, 90)], 125.0, 85.0),
        ([(120, 80), (150, 70), (130, 90)], 130.0, 80.0),
        ([(141, 91), (119, 79), (125, 85), (122, 82)], 123.5, 83.5),
        ([(118, 76), (118, 76)], 118.0, 76.0),
    ],
)
def test_bp_baseline_is_the_median_of_the_cuff_readings(
    cuffs: list[tuple[float, float]], sbp: float, dbp: float
) -> None:
    samples = _samples(*({"sbp": s, "dbp": d} for s, d in cuffs))

    baseline = compute_baseline(samples, {})

    assert (baseline.sbp, baseline.dbp) == (sbp, dbp)
    assert baseline.has_bp
    assert baseline.nibp_readings == len(cuffs)
    assert baseline.source is BaselineSource.MEASURED


def test_one_cuff_reading_gives_no_bp_baseline() -> None:
    samples = _samples({"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98})

    baseline = compute_baseline(samples, {})

    assert baseline.sbp is None
    assert baseline.dbp is None
    assert not baseline.has_bp
    assert baseline.nibp_readings == 1
    assert (baseline.hr, baseline.spo2) == (70.0, 98.0)
    assert baseline.source is BaselineSource.MEASURED
    assert baseline.as_dict() == {"hr": 70.0, "spo2": 98.0}


def test_continuous_vitals_are_the_median_of_their_values() -> None:
    samples = _samples(*({"hr": hr, "spo2": spo2} for hr, spo2 in [(70, 97), (90, 99), (74, 98)]))

    baseline = compute_baseline(samples, {})

    assert (baseline.hr, baseline.spo2) == (74.0, 98.0)
    assert not baseline.has_bp


def test_only_the_last_minutes_of_continuous_values_count() -> None:
    samples = BaselineSamples()
    samples.add(screen(Reading(ts=T0, hr=150)))  # long before: dropped
    samples.add(screen(Reading(ts=T0 + 100, hr=72)))  # exactly at the window edge: kept
    samples.add(screen(Reading(ts=T0 + 100 + CONTINUOUS_WINDOW_S, hr=74)))

    assert compute_baseline(samples, {}).hr == 73.0
    assert [v for _, v in samples.continuous[Vital.HR]] == [72, 74]


def test_cuff_readings_are_all_kept_however_old() -> None:
    samples = _samples({"sbp": 120, "dbp": 80}, {"sbp": 124, "dbp": 84}, step_s=3600)

    assert compute_baseline(samples, {}).sbp == 122.0


@pytest.mark.parametrize(
    "artefact",
    [
        {"sbp": 100, "dbp": 100},
        {"sbp": 130},  # a cuff reading needs both numbers to count
        {"hr": 0, "spo2": 0},
        {"hr": 351, "spo2": 101},
        {"sbp": 140, "dbp": 90, "technical": frozenset({"nibp_failed"})},
    ],
)
def test_impossible_values_never_enter_the_baseline(artefact: dict[str, float]) -> None:
    clean = _samples({"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98})
    with_junk = _samples({"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98}, artefact)

    assert compute_baseline(with_junk, {}) == compute_baseline(clean, {})


def test_no_samples_gives_no_baseline() -> None:
    baseline = compute_baseline(BaselineSamples(), {})

    assert baseline == Baseline(missing="0 of 2 baseline cuff readings")
    assert baseline.source is BaselineSource.NONE
    assert baseline.as_dict() == {}


def test_entered_values_win_vital_by_vital() -> None:
    samples = _samples(
        {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98},
        {"sbp": 130, "dbp": 90, "hr": 80, "spo2": 96},
    )

    baseline = compute_baseline(samples, {Vital.SBP: 140.0, Vital.HR: 60.0})

    assert baseline.as_dict() == {"sbp": 140.0, "dbp": 85.0, "hr": 60.0, "spo2": 97.0}
    assert baseline.source is BaselineSource.MIXED


@pytest.mark.parametrize(
    ("readings", "entered", "source"),
    [
        ([], {Vital.SBP: 130.0, Vital.DBP: 85.0}, BaselineSource.ENTERED),
        (
            [{"sbp": 120, "dbp": 80}, {"sbp": 122, "dbp": 82}],
            {Vital.SBP: 130.0, Vital.DBP: 85.0},
            BaselineSource.ENTERED,
        ),
        ([{"sbp": 120, "dbp": 80}, {"sbp": 122, "dbp": 82}], {}, BaselineSource.MEASURED),
        (
            [{"sbp": 120, "dbp": 80}, {"sbp": 122, "dbp": 82}],
            {Vital.HR: 65.0},
            BaselineSource.MIXED,
        ),
        ([{"hr": 70}], {Vital.SBP: 130.0, Vital.DBP: 85.0}, BaselineSource.MIXED),
        ([{"sbp": 120, "dbp": 80}], {}, BaselineSource.NONE),
        ([], {}, BaselineSource.NONE),
    ],
)
def test_baseline_source(
    readings: list[dict[str, float]], entered: dict[Vital, float], source: BaselineSource
) -> None:
    assert compute_baseline(_samples(*readings), entered).source == source


def test_entered_bp_completes_a_baseline_with_one_cuff_reading() -> None:
    samples = _samples({"sbp": 120, "dbp": 80})

    baseline = compute_baseline(samples, {Vital.SBP: 128.0, Vital.DBP: 84.0})

    assert baseline.has_bp
    assert (baseline.sbp, baseline.dbp, baseline.nibp_readings) == (128.0, 84.0, 1)


def test_baseline_has_no_map() -> None:
    baseline = Baseline(sbp=120, dbp=80, hr=70, spo2=98)

    assert baseline.value(Vital.MAP) is None
    assert baseline.value(Vital.SBP) == 120


# Through a chair --------------------------------------------------------------------------


def test_starting_the_infusion_sets_the_baseline_from_the_baseline_phase() -> None:
    side = Bedside()
    side.admit()
    side.read(hr=68, spo2=97, bp=(118, 78))
    side.wait(300)
    side.read(hr=72, spo2=99, bp=(126, 84))
    side.wait(60)

    events = side.start()

    [baseline_set] = of_type(events, BaselineSet)
    assert baseline_set.baseline == {"sbp": 122.0, "dbp": 81.0, "hr": 70.0, "spo2": 98.0}
    assert baseline_set.source == "measured"
    assert baseline_set.nibp_readings == 2
    assert baseline_set.complete
    assert baseline_set.ts == side.now


def test_a_chair_with_one_cuff_reading_starts_with_an_incomplete_baseline() -> None:
    side = admitted(cuff_readings=1)

    [baseline_set] = of_type(side.start(), BaselineSet)

    assert not baseline_set.complete
    assert "sbp" not in baseline_set.baseline
    assert baseline_set.nibp_readings == 1


def test_a_chair_uses_the_entered_baseline_over_its_measurements() -> None:
    side = Bedside()
    side.admit(baseline={Vital.SBP: 135.0, Vital.DBP: 88.0})
    side.read(hr=70, spo2=98, bp=(120, 80))
    side.wait(300)
    side.read(hr=70, spo2=98, bp=(122, 82))

    [baseline_set] = of_type(side.start(), BaselineSet)

    assert baseline_set.baseline == {"sbp": 135.0, "dbp": 88.0, "hr": 70.0, "spo2": 98.0}
    assert baseline_set.source == "mixed"


def test_the_baseline_freezes_when_the_infusion_starts() -> None:
    side = admitted(bp=(120, 80))
    side.start()
    frozen = side.chair.session.baseline if side.chair.session else None

    for _ in range(5):
        side.wait(300)
        side.read(hr=95, spo2=95, bp=(150, 98))

    assert side.chair.session is not None
    assert side.chair.session.baseline == frozen
    assert frozen is not None
    assert (frozen.sbp, frozen.dbp) == (120.0, 80.0)
    assert len(side.chair.session.samples.nibp) == 2


@pytest.mark.parametrize(
    ("cuffs", "complete"),
    [
        ([(150, 90), (118, 78)], False),  # 32 mmHg apart: which one is right?
        ([(120, 80), (120, 102)], False),
        ([(130, 85), (112, 78)], True),
        ([(150, 90), (118, 78), (122, 80)], True),  # a third settles it: the median
    ],
)
def test_two_cuffs_more_than_20_mmhg_apart_ask_for_a_third(
    cuffs: list[tuple[float, float]], complete: bool
) -> None:
    samples = _samples(*({"sbp": s, "dbp": d} for s, d in cuffs))

    baseline = compute_baseline(samples, {})

    assert baseline.has_bp is complete
    assert (baseline.missing is None) is complete
    if not complete:
        assert baseline.missing is not None
        assert "take a third" in baseline.missing


def test_questionable_cuffs_enter_the_baseline() -> None:
    samples = _samples({"sbp": 142, "dbp": 107}, {"sbp": 146, "dbp": 111})

    assert (compute_baseline(samples, {}).sbp, compute_baseline(samples, {}).dbp) == (144, 109)


def test_a_cuff_stamped_before_the_admission_is_not_the_new_patients() -> None:
    side = Bedside()
    side.read(hr=72, spo2=98)
    side.wait(60)
    side.admit("P-0043")
    # The previous patient's cuff, taken 30 s before the admission, arrives after it.
    before = Reading(ts=side.now - 30, seq=99, hr=80, spo2=97, sbp=152, dbp=96)
    late = side.send(before)
    for _ in range(2):  # the new patient's own cuffs, 5 min apart
        side.wait(300)
        side.read(hr=70, spo2=98, bp=(118, 76))

    started = side.start()

    assert transitions(late, "preinfusion_bp_high") == []
    [baseline] = of_type(started, BaselineSet)
    assert (baseline.baseline[Vital.SBP], baseline.baseline[Vital.DBP]) == (118.0, 76.0)
    assert baseline.nibp_readings == 2
