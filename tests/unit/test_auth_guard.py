"""The failed-lookup guard: a burst per address, then a steady refill; found keys cost nothing;
a look-up waits for those of its address still reading before it is refused."""

import asyncio

import pytest

from shared.auth.guard import FailedLookups, TooManyFailedLookups


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def failed(guard: FailedLookups, address: str) -> None:
    """One look-up of a key that is not there."""
    await guard.take(address)
    guard.settle(address, spent=True)


async def test_an_address_gets_its_burst_then_one_lookup_per_refill() -> None:
    clock = Clock()
    guard = FailedLookups(per_s=2, burst=3, clock=clock)
    for _ in range(3):
        await failed(guard, "a")
    with pytest.raises(TooManyFailedLookups) as refused:
        await guard.take("a")
    assert refused.value.retry_after_s == pytest.approx(0.5)
    await failed(guard, "b")  # another address has its own bucket
    clock.now += 0.5
    await failed(guard, "a")
    with pytest.raises(TooManyFailedLookups):
        await guard.take("a")
    clock.now += 3600
    for _ in range(3):  # refilled up to the burst, never beyond
        await failed(guard, "a")
    with pytest.raises(TooManyFailedLookups):
        await guard.take("a")


async def test_a_lookup_that_found_its_key_costs_nothing() -> None:
    guard = FailedLookups(per_s=0.001, burst=1, clock=Clock())
    for _ in range(50):
        await guard.take("a")
        guard.settle("a", spent=False)


async def test_a_lookup_without_a_token_waits_for_those_still_reading() -> None:
    guard = FailedLookups(per_s=0.001, burst=1, clock=Clock())
    await guard.take("a")  # reading
    waiting = asyncio.create_task(guard.take("a"))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # neither refused nor granted while the first one reads
    guard.settle("a", spent=False)  # the first key was found: its token is the second's
    await asyncio.wait_for(waiting, 1)
    waiting = asyncio.create_task(guard.take("a"))
    await asyncio.sleep(0.01)
    guard.settle("a", spent=True)  # the second was not: nothing is left for the third
    with pytest.raises(TooManyFailedLookups):
        await asyncio.wait_for(waiting, 1)


async def test_the_table_of_addresses_is_bounded() -> None:
    clock = Clock()
    guard = FailedLookups(per_s=0.001, burst=1, addresses=2, clock=clock)
    await failed(guard, "a")
    await failed(guard, "b")
    await failed(guard, "c")  # "a", the least recently seen, leaves the table
    assert set(guard._buckets) == {"b", "c"}
    await failed(guard, "a")  # back with a fresh bucket


async def test_a_lookup_waiting_on_an_address_that_leaves_the_table_starts_again() -> None:
    guard = FailedLookups(per_s=0.001, burst=1, addresses=2, clock=Clock())
    await guard.take("a")  # reading
    waiting = asyncio.create_task(guard.take("a"))
    await asyncio.sleep(0.01)
    await failed(guard, "b")
    await failed(guard, "c")  # "a" leaves the table: its waiter is not left hanging
    await asyncio.wait_for(waiting, 1)  # granted on a fresh bucket
