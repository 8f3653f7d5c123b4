"""One read in flight per key: concurrent callers asking for the same key share its result."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger()
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._reads: dict[K, asyncio.Future[V]] = {}

    def start(self, key: K, read: Callable[[], Awaitable[V]]) -> "asyncio.Future[V]":
        """The read in flight for ``key``, or a new one; nobody need await it (a refresh)."""
        reading = self._reads.get(key)
        if reading is None:
            reading = asyncio.ensure_future(read())
            self._reads[key] = reading
            reading.add_done_callback(partial(self._done, key))
        return reading

    async def join(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """The shared read's result; a caller that gives up does not cancel it for the others."""
        return await asyncio.shield(self.start(key, read))

    def _done(self, key: K, done: "asyncio.Future[V]") -> None:
        self._reads.pop(key, None)
        if not done.cancelled() and done.exception() is not None:
            log.warning("read.failed", reads=self.name, error=type(done.exception()).__name__)
