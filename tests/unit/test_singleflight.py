import asyncio

import pytest

from shared.singleflight import SingleFlight


async def test_concurrent_callers_of_one_key_share_one_read() -> None:
    reads = 0
    release = asyncio.Event()

    async def read() -> int:
        nonlocal reads
        reads += 1
        await release.wait()
        return reads

    flight: SingleFlight[str, int] = SingleFlight("test")
    callers = [asyncio.ensure_future(flight.join("k", read)) for _ in range(5)]
    other = asyncio.ensure_future(flight.join("other", read))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*callers) == [callers[0].result()] * 5
    await other
    assert reads == 2  # one per key


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others() -> None:
    release = asyncio.Event()

    async def read() -> str:
        await release.wait()
        return "value"

    flight: SingleFlight[str, str] = SingleFlight("test")
    impatient = asyncio.ensure_future(flight.join("k", read))
    patient = asyncio.ensure_future(flight.join("k", read))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "value"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_failed_read_is_not_kept_the_next_caller_reads_again() -> None:
    attempts = 0

    async def read() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database away")
        return "value"

    flight: SingleFlight[str, str] = SingleFlight("test")
    with pytest.raises(ConnectionError):
        await flight.join("k", read)
    assert await flight.join("k", read) == "value"


async def test_a_refresh_nobody_awaits_still_runs_once() -> None:
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        return reads

    flight: SingleFlight[str, int] = SingleFlight("test")
    first = flight.start("k", read)
    assert flight.start("k", read) is first
    assert await first == 1
    assert await flight.join("k", read) == 2  # done reads are not served again
