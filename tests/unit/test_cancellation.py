"""Loops stopped by cancelling them stop even when a library lost the cancellation.

Python 3.11's ``asyncio.wait_for`` (PyMongo sends every command through it) returns instead
of raising when its task is cancelled in the step its awaitable finishes. ``LosesTheCancel``
recreates that step: the test cancels the loop's task as it finishes the awaitable of the
loop's database call."""

import asyncio
import sys
from datetime import timedelta
from typing import Any, cast

import pytest

from notifier.delivery.dispatcher import Dispatcher, Limits
from notifier.delivery.receivers import Receivers
from notifier.repository.deliveries import DeliveryRepository
from shared.cancellation import raise_lost_cancel
from shared.runtime import every


class LosesTheCancel:
    """A call that waits through ``asyncio.wait_for`` until ``finish_and_cancel``."""

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.calls = 0
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def call(self) -> None:
        self.calls += 1
        self.called.set()
        await asyncio.wait_for(self._done, 5)

    def finish_and_cancel(self, task: asyncio.Task[Any]) -> None:
        self._done.set_result(None)
        task.cancel()


async def _stopped(task: asyncio.Task[Any], within_s: float = 2.0) -> bool:
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        task.cancel()  # again: the test ends either way
        await asyncio.wait({task}, timeout=1)
    return task in done and task.cancelled()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for raises there (CPython gh-86296)")
async def test_python_3_11_wait_for_loses_a_cancel() -> None:
    """What the check is for: after the lost cancel, the task runs on."""
    lossy = LosesTheCancel()
    rounds_after = 0

    async def loop() -> None:
        nonlocal rounds_after
        await lossy.call()
        while rounds_after < 3:
            rounds_after += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await lossy.called.wait()
    lossy.finish_and_cancel(task)
    await asyncio.wait({task}, timeout=2)
    assert rounds_after == 3 and not task.cancelled()


async def test_the_check_raises_only_for_a_cancel_requested() -> None:
    async def quiet() -> str:
        raise_lost_cancel()
        return "ran"

    assert await asyncio.create_task(quiet()) == "ran"
    lossy = LosesTheCancel()

    async def after_a_lost_cancel() -> None:
        await lossy.call()
        raise_lost_cancel()
        await asyncio.sleep(10)

    task = asyncio.create_task(after_a_lost_cancel())
    await lossy.called.wait()
    lossy.finish_and_cancel(task)
    assert await _stopped(task, within_s=0.5)


async def test_a_periodic_action_that_lost_the_cancel_stops_at_its_next_round() -> None:
    lossy = LosesTheCancel()
    task = asyncio.create_task(every(0.01, lossy.call, "test"))
    await lossy.called.wait()
    lossy.finish_and_cancel(task)
    assert await _stopped(task)


class _Deliveries:
    def __init__(self, lossy: LosesTheCancel) -> None:
        self.lossy = lossy

    async def due(self, limit: int) -> list[dict[str, Any]]:
        await self.lossy.call()
        return []


async def test_the_dispatcher_stops_when_its_sweep_lost_the_cancel() -> None:
    """The hang seen in test teardowns: the sweep's query lost the cancel, and the idle waits
    after it (each an ``asyncio.timeout``) then took the pending request for their own."""
    lossy = LosesTheCancel()
    limits = Limits(4, 2, timedelta(minutes=1), 0.05, [1.0], 0.0, timedelta(days=1))
    deliveries = cast(DeliveryRepository, _Deliveries(lossy))
    dispatcher = Dispatcher(deliveries, cast(Receivers, None), {}, limits)
    task = asyncio.create_task(dispatcher.run())
    await lossy.called.wait()
    lossy.finish_and_cancel(task)
    assert await _stopped(task)
    assert lossy.calls == 1  # stopped before sweeping again
