import asyncio

import pytest

from shared.batching import Batcher


async def test_callers_of_one_turn_share_one_write_and_return_after_it() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        writes.append(items)

    batcher: Batcher[int, None] = Batcher(write)
    await asyncio.gather(*(batcher.add(i) for i in range(10)))
    assert writes == [list(range(10))]
    await batcher.add(10)  # a later caller starts a batch of its own
    assert writes == [list(range(10)), [10]]


async def test_an_idle_batcher_writes_at_once() -> None:
    async def write(items: list[int]) -> None:
        pass

    batcher: Batcher[int, None] = Batcher(write)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await batcher.add(1)
    assert loop.time() - started < 0.05


async def test_items_arriving_during_a_write_go_together_in_the_next() -> None:
    writes: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> None:
        writes.append(items)
        await release.wait()

    batcher: Batcher[int, None] = Batcher(write)
    first = asyncio.ensure_future(batcher.add(0))
    await asyncio.sleep(0.01)
    assert writes == [[0]]
    later = [asyncio.ensure_future(batcher.add(i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert writes == [[0]]  # one write in flight at a time
    release.set()
    await asyncio.gather(first, *later)
    assert writes == [[0], [1, 2, 3, 4, 5]]


async def test_a_full_batch_is_written_without_waiting_for_the_one_in_flight() -> None:
    writes: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> None:
        writes.append(items)
        if items == [0]:
            await release.wait()

    batcher: Batcher[int, None] = Batcher(write, max_items=3)
    first = asyncio.ensure_future(batcher.add(0))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(1, 4))), 5)
    assert writes == [[0], [1, 2, 3]]
    release.set()
    await first


async def test_every_caller_of_a_failed_write_sees_its_error() -> None:
    async def write(items: list[int]) -> None:
        raise ConnectionError("database away")

    batcher: Batcher[int, None] = Batcher(write)
    results = await asyncio.gather(*(batcher.add(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    with pytest.raises(ConnectionError):  # the next write is tried again
        await batcher.add(4)


async def test_a_caller_that_gives_up_does_not_cancel_the_write_of_the_others() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> None:
        await asyncio.sleep(0.01)
        writes.append(items)

    batcher: Batcher[int, None] = Batcher(write)
    impatient = asyncio.ensure_future(batcher.add(1))
    patient = asyncio.ensure_future(batcher.add(2))
    await asyncio.sleep(0)
    impatient.cancel()
    await patient
    assert writes == [[1, 2]]
    with pytest.raises(asyncio.CancelledError):
        await impatient
