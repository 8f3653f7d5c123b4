"""Job documents kept in the API replica, so a poll of an unchanged job costs no database read.

Every replica hears the conversion events (a broadcast queue of its own) and forgets the jobs
they touch. The upload worker applies the same event to the database a moment later, so
until a read shows the status the event implies, reads are served but not kept;
``max_age_s`` bounds what a missed event (a broker reconnect) could leave stale.
"""

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter

from shared.events import (
    ConversionCompleted,
    ConversionDeleted,
    ConversionFailed,
    ConversionStarted,
    Event,
)
from shared.messaging.envelope import Received

# the statuses a job can have once the database reflects each event
_SETTLED: dict[type[Event], set[str]] = {
    ConversionStarted: {"converting", "completed", "failed"},
    ConversionCompleted: {"completed"},
    ConversionFailed: {"failed"},
    ConversionDeleted: set(),
}
CHANGES = [event.routing_key() for event in _SETTLED]


LOOKUPS = Counter("upload_job_cache_lookups_total", "Job reads by the API", ["outcome"])


class JobCache:
    def __init__(self, max_entries: int = 50_000, max_age_s: float = 30.0) -> None:
        self.max_entries, self.max_age_s = max_entries, max_age_s
        self._jobs: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._pending: OrderedDict[str, set[str]] = OrderedDict()

    def get(self, job_id: str) -> dict[str, Any] | None:
        entry = self._jobs.get(job_id)
        if entry is None or time.monotonic() - entry[0] > self.max_age_s:
            LOOKUPS.labels("miss").inc()
            return None
        LOOKUPS.labels("hit").inc()
        return entry[1]

    def put(self, job_id: str, doc: dict[str, Any], read_started: float) -> None:
        expected = self._pending.get(job_id)
        if expected is not None:
            if doc["status"] not in expected:
                return  # the database does not show the last event yet
            del self._pending[job_id]
        self._jobs[job_id] = (read_started, doc)
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self.max_entries:
            self._jobs.popitem(last=False)

    def forget(self, job_id: str, until_status: set[str] | None = None) -> None:
        """Drop the job; with ``until_status``, keep no read of it until it shows one of them."""
        self._jobs.pop(job_id, None)
        if until_status is None:
            return
        self._pending[job_id] = until_status
        self._pending.move_to_end(job_id)
        while len(self._pending) > self.max_entries:
            self._pending.popitem(last=False)

    def on_event(self, received: Received) -> None:
        settled = _SETTLED.get(type(received.event))
        if settled is not None and (job_id := received.event.subject()):
            self.forget(job_id, settled)

    async def fetch(
        self, job_id: str, load: Callable[[str], Awaitable[dict[str, Any] | None]]
    ) -> dict[str, Any] | None:
        if (doc := self.get(job_id)) is not None:
            return doc
        started = time.monotonic()
        doc = await load(job_id)
        if doc is not None:
            self.put(job_id, doc, started)
        return doc
