"""Job documents kept in the API replica, so a poll of an unchanged job costs no database read.

Every replica hears the conversion events (a broadcast queue of its own) and forgets the jobs
they touch. The upload worker applies the same event to the database a moment later, so a
read begun within ``settle_s`` of an event is served but not kept; ``max_age_s`` bounds what
a missed event (a broker reconnect) could leave stale.
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
)

CHANGES = [
    e.routing_key()
    for e in (ConversionStarted, ConversionCompleted, ConversionFailed, ConversionDeleted)
]


LOOKUPS = Counter("upload_job_cache_lookups_total", "Job reads by the API", ["outcome"])


class JobCache:
    def __init__(
        self, max_entries: int = 50_000, max_age_s: float = 30.0, settle_s: float = 2.0
    ) -> None:
        self.max_entries, self.max_age_s, self.settle_s = max_entries, max_age_s, settle_s
        self._jobs: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._changed: OrderedDict[str, float] = OrderedDict()

    def get(self, job_id: str) -> dict[str, Any] | None:
        entry = self._jobs.get(job_id)
        if entry is None or time.monotonic() - entry[0] > self.max_age_s:
            LOOKUPS.labels("miss").inc()
            return None
        LOOKUPS.labels("hit").inc()
        return entry[1]

    def put(self, job_id: str, doc: dict[str, Any], read_started: float) -> None:
        changed = self._changed.get(job_id)
        if changed is not None and read_started < changed + self.settle_s:
            return
        self._jobs[job_id] = (read_started, doc)
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self.max_entries:
            self._jobs.popitem(last=False)

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._changed[job_id] = time.monotonic()
        self._changed.move_to_end(job_id)
        while len(self._changed) > self.max_entries:
            self._changed.popitem(last=False)

    def on_event(self, _: str, headers: dict[str, str]) -> None:
        if job_id := headers.get("ce-subject"):
            self.forget(job_id)

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
