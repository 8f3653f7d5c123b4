"""The API replica's job cache (``shared.caching``): which events change a job, and the status
that shows the database has recorded each."""

from collections.abc import Callable
from typing import Any

from shared.caching import DocumentCache, Load, Settled
from shared.events import (
    ConversionCompleted,
    ConversionDeleted,
    ConversionFailed,
    ConversionStarted,
    Event,
)
from shared.messaging.envelope import Received
from upload.repository import COLLECTION
from upload.schemas import render_job


def _status_in(*statuses: str) -> Settled:
    def settled(_: Received, doc: dict[str, Any]) -> bool:
        return doc["status"] in statuses

    return settled


_NEVER: Callable[[Received, dict[str, Any]], bool] = lambda _, __: False  # noqa: E731

SETTLED: dict[type[Event], Settled] = {
    ConversionStarted: _status_in("converting", "completed", "failed"),
    ConversionCompleted: _status_in("completed"),
    ConversionFailed: _status_in("failed"),
    ConversionDeleted: _NEVER,  # a deleted job is read as missing, never kept
}


# the upload worker sends a notice after each status write (upload.bootstrap.worker): a long
# poll looks on its own only if none came within this, then at growing intervals
RECHECK_S = (0.25, 1.0)


def job_cache(load: Load) -> DocumentCache:
    return DocumentCache(COLLECTION, load, render_job, SETTLED, recheck_s=RECHECK_S)
