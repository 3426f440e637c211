"""The chair's timeline: one offset per source, steps found and absorbed, nothing refused."""

from __future__ import annotations

import pytest

from monitor.domain.clock import FAR_AHEAD_S, TOLERANCE_S, Placement, Source, Timeline

T0 = 1_795_000_000.0


def _anchored(ts: float = T0, wall: float = T0) -> Timeline:
    timeline = Timeline()
    timeline.commit(timeline.place(Source.MONITOR, ts, wall=wall), wall=wall, advances=True)
    return timeline


def test_the_first_input_anchors_the_chair_on_its_own_time() -> None:
    timeline = Timeline()

    placement = timeline.place(Source.STATION, T0 - 3600, wall=T0)  # a replay of an old session
    timeline.commit(placement, wall=T0, advances=False)

    assert (placement.ts, placement.anchor, placement.step_s) == (T0 - 3600, True, None)
    assert timeline.now(T0 + 10) == T0 - 3600 + 10


def test_a_first_time_far_ahead_of_the_service_anchors_on_the_service_clock() -> None:
    timeline = Timeline()

    placement = timeline.place(Source.MONITOR, T0 + FAR_AHEAD_S + 1, wall=T0)

    assert (placement.ts, placement.first) == (T0, True)
    assert placement.step_s == FAR_AHEAD_S + 1


@pytest.mark.parametrize(
    ("source", "skew", "step"),
    [
        (Source.PUMP, 20.0, False),
        (Source.PUMP, -300.0, True),
        (Source.STATION, 45.0, True),
        (Source.MONITOR, -100.0, False),  # a cuff stamped when its measurement started
        (Source.MONITOR, -180.0, True),
    ],
)
def test_a_new_source_far_from_the_chair_gets_its_offset(
    source: Source, skew: float, step: bool
) -> None:
    timeline = _anchored()

    placement = timeline.place(source, T0 + 60 + skew, wall=T0 + 60)

    assert (placement.step_s is not None) is step
    assert placement.ts == (T0 + 60 if step else T0 + 60 + skew)
    assert placement.offset == (skew if step else 0.0)


@pytest.mark.parametrize("step_s", [-86_400.0, -3600.0, -121.0, 121.0, 900.0, 86_400.0])
def test_a_step_is_absorbed_and_the_input_placed_now(step_s: float) -> None:
    timeline = _anchored()

    placement = timeline.place(Source.MONITOR, T0 + 5 + step_s, wall=T0 + 5)
    timeline.commit(placement, wall=T0 + 5, advances=True)
    after = timeline.place(Source.MONITOR, T0 + 6 + step_s, wall=T0 + 6)

    assert placement == Placement(Source.MONITOR, T0 + 5, step_s, step_s=step_s)
    assert (after.ts, after.step_s) == (T0 + 6, None)  # the next reading follows, no new step


def test_within_the_tolerance_a_source_keeps_its_own_time() -> None:
    timeline = _anchored()

    placement = timeline.place(Source.MONITOR, T0 + 5 + TOLERANCE_S[Source.MONITOR], wall=T0 + 5)

    assert placement.step_s is None
    assert placement.ts == T0 + 5 + TOLERANCE_S[Source.MONITOR]


def test_a_placement_that_is_not_committed_moves_nothing() -> None:
    timeline = _anchored()

    timeline.place(Source.STATION, T0 + 1020, wall=T0 + 1)  # refused: never committed

    assert timeline.now(T0 + 1) == T0 + 1
    assert Source.STATION not in timeline.offsets


def test_only_a_newer_reading_moves_the_clock() -> None:
    timeline = _anchored()
    late = timeline.place(Source.MONITOR, T0 - 60, wall=T0 + 1)
    timeline.commit(late, wall=T0 + 1, advances=True)
    command = timeline.place(Source.STATION, T0 + 20, wall=T0 + 2)
    timeline.commit(command, wall=T0 + 2, advances=False)

    assert timeline.now(T0 + 2) == T0 + 2


@pytest.mark.parametrize(
    ("ts", "placed"),
    [(None, T0 + 10), (T0 + 8, T0 + 8), (T0 - 7200, T0 + 10), (T0 + 3600, T0 + 10)],
)
def test_a_device_report_keeps_its_time_only_when_it_agrees(
    ts: float | None, placed: float
) -> None:
    timeline = _anchored()

    assert timeline.place_report(ts, wall=T0 + 10) == placed
