"""Transactional outbox on single documents.

A state change and the event it implies are written in one document update (``outbox``
array); the relay publishes with confirms and then pulls the entries. A crash in between
leaves the entries for the sweeper, which publishes them again: consumers dedupe on the
CloudEvents id, so the effect happens exactly once.
"""

import asyncio
import time
from collections import deque
from datetime import timedelta
from typing import Any

import structlog

from shared.cancellation import raise_lost_cancel
from shared.clock import now
from shared.messaging.broker import Broker
from shared.messaging.envelope import Envelope
from shared.messaging.metrics import OUTBOX_PUBLISHED
from shared.messaging.repository import OutboxRepository

log = structlog.get_logger()
HOT_PATH_CLEAR_S = 0.25  # how long the relays of the hot paths gather published entries


def outbox_entry(envelope: Envelope) -> dict[str, Any]:
    return {**envelope.to_document(), "queued_at": now()}


class OutboxRelay:
    """Publishes a document's outbox entries and clears them.

    With ``clear_every_s``, published entries are cleared together, one update for every
    document flushed in that interval instead of one per document: on a hot path (uploads,
    the converter's outcomes) that is a database write less per job (SecantusDB clears 50
    documents in one update at a third of the cost of 50 updates).
    An entry published but not yet cleared when the process dies is published again by the
    sweep, once older than ``abandoned_after``, and consumers dedupe it on the event id. Its
    writer must be done with an entry by then: a request under load can take far longer than
    a message handler.

    With ``clear_after_s`` as well, an entry is cleared no sooner than that long after its
    publication: time for a later write of the document, which usually comes, to clear it
    along the way (the upload worker's outcome clears the job's request), and the relay's
    update then finds nothing left to change. It must stay well under ``abandoned_after``
    of the sweeping process, or the sweep publishes the entry again.
    """

    def __init__(
        self,
        outbox: OutboxRepository,
        broker: Broker,
        clear_every_s: float = 0.0,
        abandoned_after: timedelta = timedelta(seconds=5),
        clear_after_s: float = 0.0,
    ) -> None:
        self.outbox = outbox
        self.broker = broker
        self.clear_every_s = clear_every_s
        self.abandoned_after = abandoned_after
        self.clear_after_s = clear_after_s
        self._published: dict[Any, list[str]] = {}  # cleared by the next write
        # published entries not yet due for clearing: (due, time.monotonic(); document; ids)
        self._waiting: deque[tuple[float, Any, list[str]]] = deque()
        self._clearing: asyncio.Task[None] | None = None
        self._writing = False  # the clearing task is in its write, which is not to be cancelled
        self._deferred: dict[Any, list[dict[str, Any]]] = {}
        self._published_count = OUTBOX_PUBLISHED.labels(outbox.name)  # 0 from the start

    async def flush(self, doc_id: Any, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        for entry in entries:
            await self.broker.publish(Envelope.from_document(entry))
            self._published_count.inc()
        entry_ids = [entry["id"] for entry in entries]
        if not self.clear_every_s:
            await self.outbox.remove(doc_id, entry_ids)
            return
        if self.clear_after_s:
            self._waiting.append((time.monotonic() + self.clear_after_s, doc_id, entry_ids))
        else:
            self._published.setdefault(doc_id, []).extend(entry_ids)
        if self._clearing is None or self._clearing.done():
            self._clearing = asyncio.get_running_loop().create_task(self._clear_later())

    async def _clear_later(self) -> None:
        """Until nothing is left: wait for the next entries due and those due within
        ``clear_every_s`` after them, then clear them in one write."""
        while self._waiting or self._published:
            raise_lost_cancel()
            first_due = self._waiting[0][0] if self._waiting and not self._published else 0.0
            await asyncio.sleep(max(first_due - time.monotonic(), 0.0) + self.clear_every_s)
            self._take_due(time.monotonic())
            self._writing = True
            try:
                await self._clear()
            finally:
                self._writing = False

    def _take_due(self, until: float) -> None:
        while self._waiting and self._waiting[0][0] <= until:
            _, doc_id, entry_ids = self._waiting.popleft()
            self._published.setdefault(doc_id, []).extend(entry_ids)

    async def _clear(self) -> None:
        published, self._published = self._published, {}
        if not published:
            return
        try:
            await self.outbox.remove_many(published)
        except Exception:
            log.warning(
                "outbox.clear_deferred",
                collection=self.outbox.name,
                documents=len(published),
                exc_info=True,
            )

    async def flush_or_defer(self, doc_id: Any, entries: list[dict[str, Any]]) -> bool:
        """Publish now, or, when the broker is away, leave the entries to the sweep.

        For writers whose state change is already stored: failing to publish must not fail
        them. Returns whether the entries were published now.
        """
        try:
            await self.flush(doc_id, entries)
        except Exception:
            log.warning(
                "outbox.publish_deferred",
                collection=self.outbox.name,
                doc_id=str(doc_id),
                exc_info=True,
            )
            self._deferred.setdefault(doc_id, []).extend(entries)
            return False
        return True

    def left_behind(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of the entries another handler wrote (a redelivery or a second copy finds them in
        the document), those that look abandoned: a fresher one is its writer's to publish,
        or the sweep's if that writer died, and publishing it here as well would send it a
        second time, racing the writer's own flush."""
        cutoff = now() - self.abandoned_after
        return [entry for entry in entries if entry["queued_at"] < cutoff]

    async def retry_deferred(self) -> int:
        """Publish again what this process deferred, once the broker is back: the sweep of
        another process leaves entries alone until they look abandoned, which for uploads
        is minutes. Stops at the first failure; what is left waits for the next call."""
        if not self._deferred or not self.broker.is_connected:
            return 0
        published = 0
        for doc_id in list(self._deferred):
            await self.flush(doc_id, self._deferred[doc_id])
            published += len(self._deferred.pop(doc_id))
        log.info("outbox.deferred_published", collection=self.outbox.name, published=published)
        return published

    async def drain(self) -> None:
        """Clear what was published and not cleared yet, due or not (at shutdown: waits for
        the write in progress rather than cancelling it, which would leave its entries
        behind)."""
        self._take_due(float("inf"))
        task = self._clearing
        if task is not None and not task.done():
            if not self._writing:  # asleep: nothing of its own to finish
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._clear()

    async def sweep(self, older_than: timedelta | None = None, limit: int = 500) -> int:
        published = 0
        cutoff = now() - (self.abandoned_after if older_than is None else older_than)
        async for doc_id, entries in self.outbox.pending(cutoff, limit):
            await self.flush(doc_id, entries)
            published += len(entries)
        if published:
            log.info("outbox.swept", collection=self.outbox.name, published=published)
        return published
