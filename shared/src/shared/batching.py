"""Writes gathered from concurrent callers: one database call for many message handlers.

SecantusDB takes about 100 to 150 writes a second here, and one ``update_many`` over 50
documents costs a fifth of 50 ``update_one`` calls: a handler that awaits its item's batch
acknowledges its message only after the write that holds it, as with a write of its own.

Batches form by group commit, not by a timer: an item that finds no write in flight is
written at once (with whatever else arrived in the same turn of the event loop), and the
items that arrive while a write is in flight go together in the next one. An idle system
waits on no window; a loaded one writes larger batches as the database slows.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Items of ``T`` written together; every caller of one write gets its result ``R``.

    At most ``max_writes`` writes are in flight, except that a batch reaching ``max_items``
    is written at once.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[R]],
        max_items: int = 500,
        max_writes: int = 1,
    ) -> None:
        self.write = write
        self.max_items = max_items
        self.max_writes = max_writes
        self._items: list[T] = []
        self._done: asyncio.Future[R] | None = None
        self._scheduled = False
        self._writes: set[asyncio.Task[None]] = set()

    async def add(self, item: T) -> R:
        """Once a write holding ``item`` succeeded, what it returned; raises what it raised."""
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        done = self._done
        self._items.append(item)
        if len(self._items) >= self.max_items:
            self._flush()
        else:
            self._schedule()
        # a caller that gives up (its consumer stopping) leaves the write to the others
        return await asyncio.shield(done)

    def _schedule(self) -> None:
        """Write the gathered items on the next turn of the loop, when a write may start."""
        if self._items and not self._scheduled and len(self._writes) < self.max_writes:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        items, done = self._items, self._done
        self._items, self._done = [], None
        if done is None:
            return
        task = asyncio.get_running_loop().create_task(self._write(items, done))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: "asyncio.Task[None]") -> None:
        self._writes.discard(task)
        self._schedule()

    async def _write(self, items: list[T], done: "asyncio.Future[R]") -> None:
        try:
            result = await self.write(items)
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # every waiter sees it; none waiting is no error of its own
        else:
            done.set_result(result)
