import asyncio

import pytest

from shared.batching import Batcher


async def test_concurrent_callers_share_one_write_and_return_after_it() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        writes.append(items)

    batcher: Batcher[int, None] = Batcher(write, window_s=0.05)
    await asyncio.gather(*(batcher.add(i) for i in range(10)))
    assert writes == [list(range(10))]
    await batcher.add(10)  # a later caller starts a batch of its own
    assert writes == [list(range(10)), [10]]


async def test_a_full_batch_is_written_without_waiting_for_the_window() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        writes.append(items)

    batcher: Batcher[int, None] = Batcher(write, window_s=60, max_items=3)
    await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(3))), 5)
    assert writes == [[0, 1, 2]]


async def test_every_caller_of_a_failed_write_sees_its_error() -> None:
    async def write(items: list[int]) -> None:
        raise ConnectionError("database away")

    batcher: Batcher[int, None] = Batcher(write, window_s=0.01)
    results = await asyncio.gather(*(batcher.add(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_caller_that_gives_up_does_not_cancel_the_write_of_the_others() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        writes.append(items)

    batcher: Batcher[int, None] = Batcher(write, window_s=0.05)
    impatient = asyncio.ensure_future(batcher.add(1))
    patient = asyncio.ensure_future(batcher.add(2))
    await asyncio.sleep(0)
    impatient.cancel()
    await patient
    assert writes == [[1, 2]]
    with pytest.raises(asyncio.CancelledError):
        await impatient
