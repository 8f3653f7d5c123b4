"""Documents an API replica keeps rendered, so a read of an unchanged resource costs no database
round trip and no serialisation, and a client can wait for the next change (long polling).

Every replica hears the events that change its documents (a broadcast queue of its own) and
forgets what they touch. The writer applies the change to the database a moment after the
event left, so until a read shows what the event implies (``settled``) reads are served but
not kept. A broker reconnect, after which events may have been missed, empties the cache
(``clear``); ``max_age_s`` bounds what anything else unforeseen could leave stale.
Concurrent misses of one id share one database read. A writer that sends notices
(``shared.messaging.notices``) after its writes spares the replicas their guesses and most
reads: a long poll woken by an event waits for the notice, and a replica that held the
document before the event applies the notice's update to it in memory.

Memory follows the documents in use, not the history: an entry nobody read for ``idle_s``
is dropped (entries are kept in the order of their last use), and an announced change
that no read came to settle is forgotten after ``idle_s`` too, by which time its writer
has long recorded it.
"""

import asyncio
import enum
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from prometheus_client import Counter

from shared.events import Event
from shared.memory import swept_before_trim
from shared.messaging.envelope import Received
from shared.messaging.notices import Recorded, parse_recorded
from shared.singleflight import SingleFlight

log = structlog.get_logger()
Document = dict[str, Any]
Load = Callable[[str], Awaitable[Document | None]]
Render = Callable[[Document], bytes]


def recorded_since_event(received: Received, doc: Document) -> bool:
    """Settled when the document was written at or after the event's time: for writers that
    record the event in the same update as the change (the outbox), stamping ``updated_at``.
    MongoDB keeps milliseconds, so the event's time is truncated to them."""
    updated: datetime = doc["updated_at"]
    return updated >= received.time.replace(microsecond=received.time.microsecond // 1000 * 1000)


# whether a document read from the database shows the change an event announced
Settled = Callable[[Received, Document], bool]

LOOKUPS = Counter(
    "api_document_cache_lookups_total", "Reads of cached documents by the API", ["cache", "outcome"]
)
SWEEP_EVERY_S = 1.0  # how often lookups drop what went idle
IDLE_S = 60.0  # an entry nobody read for this long is dropped
# a long poll told of a change the database does not show yet looks again after the first,
# doubling up to the second (its writer's notice, if it sends them, wakes it before)
RECHECK_S = (0.02, 0.25)
STALE_FACTOR = 3  # an entry past its age is served while refreshed, up to this many ages


class Wake(enum.Enum):
    """Why a long poll waiting on a document woke up."""

    ANNOUNCED = "an event announced a change its writer has yet to record"
    CHANGED = "the document changed, or may have"


@dataclass(frozen=True)
class Entry:
    doc: Document
    body: bytes  # the public JSON representation
    etag: str  # a strong validator of body

    @classmethod
    def of(cls, doc: Document, render: Render) -> "Entry":
        body = render(doc)
        return cls(doc, body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')


@dataclass(frozen=True)
class _Pending:
    heard_at: float
    received: Received
    settled: Settled
    before: "_Kept | None"


@dataclass
class _Kept:
    read_at: float  # when the read that produced the entry started (monotonic)
    used_at: float
    entry: Entry


class DocumentCache:
    def __init__(
        self,
        name: str,
        load: Load,
        render: Render,
        settled: dict[type[Event], Settled],
        max_entries: int = 50_000,
        max_age_s: float = 120.0,
        idle_s: float = IDLE_S,
        recheck_s: tuple[float, float] = RECHECK_S,
    ) -> None:
        self.load, self.render, self.settled = load, render, settled
        self.recheck_s = recheck_s
        self.max_entries, self.max_age_s, self.idle_s = max_entries, max_age_s, idle_s
        self._entries: OrderedDict[str, _Kept] = OrderedDict()
        # announced changes not yet seen: (when heard, monotonic), the event, its test, and
        # the entry held when the event came (what a notice's update applies to)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        # when a writer's notice last named each document (monotonic): a read that began
        # before may show the document as it was before that write, and is not kept
        self._written: OrderedDict[str, float] = OrderedDict()
        self._next_sweep = 0.0
        self._reads: SingleFlight[str, Entry | None] = SingleFlight(f"cache {name}")
        self._waiters: dict[str, set[asyncio.Future[Wake]]] = {}
        self.name = name
        self._hit = LOOKUPS.labels(name, "hit")
        self._stale = LOOKUPS.labels(name, "stale")
        self._miss = LOOKUPS.labels(name, "miss")
        swept_before_trim(self)

    @property
    def routing_keys(self) -> list[str]:
        return [event.routing_key() for event in self.settled]

    async def get(self, doc_id: str) -> Entry | None:
        """The document rendered: from memory when fresh, else one read shared by every caller.

        An entry past ``max_age_s`` that no event touched is still served while one read
        refreshes it (up to ``STALE_FACTOR`` times that age): a slow database then delays the
        refresh, not every request.
        """
        clock = time.monotonic()
        if clock >= self._next_sweep:
            self._sweep(clock)
        kept = self._entries.get(doc_id)
        if kept is not None:
            kept.used_at = clock
            self._entries.move_to_end(doc_id)
            age = clock - kept.read_at
            if age <= self.max_age_s:
                self._hit.inc()
                return kept.entry
            if age <= self.max_age_s * STALE_FACTOR:
                self._stale.inc()
                self._reads.start(doc_id, partial(self._read, doc_id))
                return kept.entry
        self._miss.inc()
        return await self._reads.join(doc_id, partial(self._read, doc_id))

    async def _read(self, doc_id: str) -> Entry | None:
        started = time.monotonic()
        doc = await self.load(doc_id)
        if doc is None:
            return None
        entry = Entry.of(doc, self.render)
        self._keep(doc_id, entry, started)
        return entry

    def _keep(self, doc_id: str, entry: Entry, read_started: float) -> None:
        if read_started < self._written.get(doc_id, read_started):
            return  # a notice came while it was under way: it may predate that write
        pending = self._pending.get(doc_id)
        if pending is not None:
            if not pending.settled(pending.received, entry.doc):
                return  # the database does not show the last event yet
            del self._pending[doc_id]
        self._entries[doc_id] = _Kept(read_started, time.monotonic(), entry)
        self._entries.move_to_end(doc_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def seed(self, doc_id: str, doc: Document) -> None:
        """Keep a document this process just wrote, in the form a read returns it."""
        clock = time.monotonic()
        self._keep(doc_id, Entry.of(doc, self.render), clock)

    def sweep(self) -> None:
        self._sweep(time.monotonic())

    def _sweep(self, clock: float) -> None:
        """Drop the entries and announced changes idle for ``idle_s`` (oldest first in both)."""
        self._next_sweep = clock + SWEEP_EVERY_S
        idle_since = clock - self.idle_s
        entries, pending, written = self._entries, self._pending, self._written
        while entries and next(iter(entries.values())).used_at < idle_since:
            entries.popitem(last=False)
        while pending and next(iter(pending.values())).heard_at < idle_since:
            pending.popitem(last=False)
        while written and next(iter(written.values())) < idle_since:
            written.popitem(last=False)

    def forget(self, doc_id: str) -> None:
        """This process changed the document (deleted it): read it again."""
        self._entries.pop(doc_id, None)
        self._written[doc_id] = time.monotonic()
        self._written.move_to_end(doc_id)
        self._wake(doc_id, Wake.CHANGED)

    def clear(self) -> None:
        """Forget everything (events may have been missed); long polls look again."""
        self._entries.clear()
        for doc_id in list(self._waiters):
            self._wake(doc_id, Wake.CHANGED)

    def on_event(self, received: Received) -> None:
        event = received.event
        settled = self.settled.get(type(event))
        doc_id = event.subject()
        if settled is None or doc_id is None:
            return
        kept = self._entries.pop(doc_id, None)
        earlier = self._pending.get(doc_id)
        before = kept if kept is not None else earlier.before if earlier is not None else None
        self._pending[doc_id] = _Pending(time.monotonic(), received, settled, before)
        self._pending.move_to_end(doc_id)
        while len(self._pending) > self.max_entries:
            self._pending.popitem(last=False)
        self._wake(doc_id, Wake.ANNOUNCED)

    def on_recorded(self, recorded: Recorded) -> None:
        """The writer's notice of its updates. Where this process held the document as it
        was, it applies the same update and keeps the result (the database holds the same
        now); elsewhere the next lookup reads it. Long polls waiting on them look at once.

        An awaited change the notice does not show stays awaited, and is settled by a read.
        """
        clock = time.monotonic()
        for doc_id, change in recorded.items():
            self._written[doc_id] = clock
            self._written.move_to_end(doc_id)
            pending = self._pending.get(doc_id)
            kept = self._entries.get(doc_id)
            base = kept if kept is not None else pending.before if pending is not None else None
            doc = change.applied_to(base.entry.doc) if base is not None else None
            if doc is not None:
                self._entries[doc_id] = _Kept(clock, clock, Entry.of(doc, self.render))
                self._entries.move_to_end(doc_id)
                if pending is not None and pending.settled(pending.received, doc):
                    del self._pending[doc_id]
            else:  # no copy to apply it to, or one its condition fails on: read it when asked
                self._entries.pop(doc_id, None)
            self._wake(doc_id, Wake.CHANGED)
        while len(self._written) > self.max_entries:
            self._written.popitem(last=False)

    def on_recorded_notice(self, body: bytes) -> None:
        try:
            recorded = parse_recorded(body)
        except ValueError as exc:
            log.warning("cache.malformed_notice", cache=self.name, reason=str(exc))
            return
        self.on_recorded(recorded)

    def _wake(self, doc_id: str, why: Wake) -> None:
        for waiter in self._waiters.pop(doc_id, ()):
            if not waiter.done():
                waiter.set_result(why)

    async def changed(self, doc_id: str, etag: str, timeout_s: float) -> Entry | None:
        """The document once its representation differs from ``etag``, or as it is when
        ``timeout_s`` has passed; None once it is gone.

        Woken by an event whose change the database does not show yet, it waits for its
        writer's notice, and looks anyway after ``recheck_s`` (growing) in case none comes.
        """
        deadline = time.monotonic() + timeout_s
        recheck = self.recheck_s[0]
        while True:
            looked_at = time.monotonic()
            entry = await self.get(doc_id)
            if entry is None or entry.etag != etag:
                return entry
            if self._heard_since(doc_id, looked_at):
                continue  # the lookup joined a read begun before what came meanwhile
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return entry
                if doc_id in self._pending:
                    why = await self._next_change(doc_id, min(recheck, remaining))
                    if why is None:  # no notice came in time: look anyway, later next time
                        recheck = min(recheck * 2, self.recheck_s[1])
                else:
                    why = await self._next_change(doc_id, remaining)
                    recheck = self.recheck_s[0]
                # only an announcement still awaited needs no look: a notice may have settled
                # it before this task ran again (the wake cleared every waiter of the doc)
                if why is not Wake.ANNOUNCED or doc_id not in self._pending:
                    break

    def _heard_since(self, doc_id: str, moment: float) -> bool:
        """Whether an event or a writer's notice about the document came after ``moment``."""
        pending = self._pending.get(doc_id)
        written = self._written.get(doc_id)
        return (pending is not None and pending.heard_at >= moment) or (
            written is not None and written >= moment
        )

    async def _next_change(self, doc_id: str, timeout_s: float) -> Wake | None:
        """Why the document's waiters were woken, or None after ``timeout_s``."""
        waiter: asyncio.Future[Wake] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(doc_id, set())
        waiters.add(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None
        finally:
            waiters.discard(waiter)
            if not waiters and self._waiters.get(doc_id) is waiters:
                del self._waiters[doc_id]
