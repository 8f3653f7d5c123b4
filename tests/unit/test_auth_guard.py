"""The failed-lookup guard: a burst per address, then a steady refill; found keys cost nothing."""

import pytest

from shared.auth.guard import FailedLookups, TooManyFailedLookups


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_address_gets_its_burst_then_one_lookup_per_refill() -> None:
    clock = Clock()
    guard = FailedLookups(per_s=2, burst=3, clock=clock)
    for _ in range(3):
        guard.take("a")
    with pytest.raises(TooManyFailedLookups) as refused:
        guard.take("a")
    assert refused.value.retry_after_s == pytest.approx(0.5)
    guard.take("b")  # another address has its own bucket
    clock.now += 0.5
    guard.take("a")
    with pytest.raises(TooManyFailedLookups):
        guard.take("a")
    clock.now += 3600
    for _ in range(3):  # refilled up to the burst, never beyond
        guard.take("a")
    with pytest.raises(TooManyFailedLookups):
        guard.take("a")


def test_a_lookup_given_back_costs_nothing() -> None:
    guard = FailedLookups(per_s=0.001, burst=1, clock=Clock())
    for _ in range(50):
        guard.take("a")
        guard.give_back("a")


def test_the_table_of_addresses_is_bounded() -> None:
    clock = Clock()
    guard = FailedLookups(per_s=0.001, burst=1, addresses=2, clock=clock)
    guard.take("a")
    guard.take("b")
    guard.take("c")  # "a", the least recently seen, leaves the table
    assert set(guard._buckets) == {"b", "c"}
    guard.take("a")  # back with a fresh bucket
