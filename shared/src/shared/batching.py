"""Writes gathered from concurrent callers: one database call for many message handlers.

SecantusDB takes about 100 to 150 writes a second here, and one ``update_many`` over 50
documents costs a fifth of 50 ``update_one`` calls: a handler that awaits its item's batch
acknowledges its message only after the write that holds it, as with a write of its own.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

HOT_PATH_WINDOW_S = 0.25  # how long the hot paths gather their writes into one
T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Items of ``T`` written together; every caller of one write gets its result ``R``."""

    def __init__(
        self, write: Callable[[list[T]], Awaitable[R]], window_s: float, max_items: int = 500
    ) -> None:
        self.write = write
        self.window_s = window_s
        self.max_items = max_items
        self._items: list[T] = []
        self._done: asyncio.Future[R] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def add(self, item: T) -> R:
        """Once a write holding ``item`` succeeded, what it returned; raises what it raised."""
        loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = loop.create_future()
            self._timer = loop.call_later(self.window_s, self._flush)
        done = self._done
        self._items.append(item)
        if len(self._items) >= self.max_items:
            self._flush()
        # a caller that gives up (its consumer stopping) leaves the write to the others
        return await asyncio.shield(done)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        items, done = self._items, self._done
        self._items, self._done, self._timer = [], None, None
        if done is None:
            return
        task = asyncio.get_running_loop().create_task(self._write(items, done))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, items: list[T], done: "asyncio.Future[R]") -> None:
        try:
            result = await self.write(items)
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # every waiter sees it; none waiting is no error of its own
        else:
            done.set_result(result)
