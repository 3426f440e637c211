"""The login throttle, with the clock as an argument: failures per user name and per client
address lock them for a while, a success forgets the name's failures, and what it remembers is
bounded."""

from __future__ import annotations

import pytest

from dashboard.auth import (
    ADDRESS_FAILURES,
    ADDRESS_LOCKOUT_S,
    TRACKED_KEYS,
    USER_FAILURES,
    USER_LOCKOUT_S,
    USER_WINDOW_S,
    LoginLimiter,
    Throttle,
)

T0 = 1_795_000_000.0


def fail_times(limiter: LoginLimiter, n: int, *, name: str = "kim", address: str = "10.0.0.1",
               start: float = T0, every_s: float = 1.0) -> list[list[str]]:  # fmt: skip
    return [limiter.failed(name, address, start + i * every_s) for i in range(n)]


def test_five_failures_in_five_minutes_lock_the_user_name_for_five_minutes() -> None:
    limiter = LoginLimiter()

    started = fail_times(limiter, USER_FAILURES)
    last = T0 + USER_FAILURES - 1

    assert started[:-1] == [[]] * (USER_FAILURES - 1)
    assert started[-1] == [f"user name locked for {USER_LOCKOUT_S:g} s"]
    assert limiter.refusal("kim", "10.0.0.2", last + 1) is not None  # from anywhere
    assert limiter.refusal("sam", "10.0.0.1", last + 1) is None  # nobody else
    assert limiter.refusal("kim", "10.0.0.2", last + USER_LOCKOUT_S - 0.1) is not None
    assert limiter.refusal("kim", "10.0.0.2", last + USER_LOCKOUT_S) is None


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    limiter = LoginLimiter()
    every = USER_WINDOW_S / (USER_FAILURES - 1) + 1

    started = fail_times(limiter, USER_FAILURES * 4, every_s=every)

    assert all(s == [] for s in started)
    assert limiter.refusal("kim", "10.0.0.1", T0 + every * USER_FAILURES * 4) is None


def test_twenty_failures_a_minute_from_one_address_lock_it_whatever_the_names() -> None:
    limiter = LoginLimiter()

    started = [limiter.failed(f"user{i}", "10.0.0.9", T0 + i) for i in range(ADDRESS_FAILURES)]
    last = T0 + ADDRESS_FAILURES - 1

    assert started[-1] == [f"address locked for {ADDRESS_LOCKOUT_S:g} s"]
    assert all(s == [] for s in started[:-1])
    refusal = limiter.refusal("someone.new", "10.0.0.9", last + 1)
    assert refusal is not None
    assert refusal.startswith("address locked")
    assert limiter.refusal("someone.new", "10.0.0.8", last + 1) is None
    assert limiter.refusal("someone.new", "10.0.0.9", last + ADDRESS_LOCKOUT_S) is None


def test_tries_while_locked_do_not_lengthen_the_lockout() -> None:
    limiter = LoginLimiter()
    fail_times(limiter, USER_FAILURES)
    locked_at = T0 + USER_FAILURES - 1

    for i in range(10):
        assert limiter.failed("kim", f"10.1.0.{i}", locked_at + 10 + i) == []

    assert limiter.refusal("kim", "10.0.0.1", locked_at + USER_LOCKOUT_S) is None


def test_a_success_forgets_the_names_failures() -> None:
    limiter = LoginLimiter()
    fail_times(limiter, USER_FAILURES - 1)

    limiter.succeeded("kim")
    started = fail_times(limiter, USER_FAILURES - 1, start=T0 + 10)

    assert all(s == [] for s in started)
    assert limiter.refusal("kim", "10.0.0.2", T0 + 20) is None


def test_an_unknown_name_locks_like_a_known_one() -> None:
    """Nothing in the throttle depends on whether the user exists: no enumeration."""
    limiter = LoginLimiter()

    fail_times(limiter, USER_FAILURES, name="nobody.here")

    assert limiter.refusal("nobody.here", "10.0.0.2", T0 + USER_FAILURES) is not None


@pytest.mark.parametrize("n", [TRACKED_KEYS + 1, TRACKED_KEYS * 2])
def test_what_the_throttle_remembers_is_bounded(n: int) -> None:
    throttle = Throttle(failures=3, window_s=60.0, lockout_s=60.0)

    for i in range(n):
        throttle.fail(f"name-{i}-" + "x" * 1000, T0)

    assert len(throttle._failed) <= TRACKED_KEYS
    assert all(len(key) <= 128 for key in throttle._failed)
