import time
from datetime import UTC, datetime

import pytest

from shared.events import (
    ConversionCompleted,
    ConversionOptions,
    ConversionRequested,
    ConversionStarted,
    Event,
    Manifest,
)
from shared.messaging.envelope import Received
from upload.cache import JobCache


def _heard(event: Event) -> Received:
    return Received("evt", "/test", datetime.now(UTC), event)


def _completed(job_id: str) -> Received:
    manifest = Manifest(source_format="MPP", read={}, written={})
    return _heard(
        ConversionCompleted(
            tenant_id="t",
            job_id=job_id,
            result_key="r",
            size=1,
            sha256="s",
            media_type="m",
            manifest=manifest,
        )
    )


def test_a_cached_job_is_served_until_it_changes() -> None:
    cache = JobCache()
    cache.put("cv_1", {"status": "queued"}, time.monotonic())
    assert cache.get("cv_1") == {"status": "queued"}
    cache.on_event(_completed("cv_1"))
    assert cache.get("cv_1") is None


def test_a_read_that_does_not_show_the_last_event_yet_is_not_kept() -> None:
    """The worker applies the event to the database a moment after the API hears it."""
    cache = JobCache()
    cache.on_event(_completed("cv_1"))
    cache.put("cv_1", {"status": "converting"}, time.monotonic())
    assert cache.get("cv_1") is None
    cache.put("cv_1", {"status": "completed"}, time.monotonic())
    assert cache.get("cv_1") == {"status": "completed"}
    cache.on_event(
        _heard(ConversionStarted(tenant_id="t", job_id="cv_2"))
    )  # late, after the outcome
    cache.put("cv_2", {"status": "failed"}, time.monotonic())
    assert cache.get("cv_2") == {"status": "failed"}


def test_events_of_other_kinds_are_ignored() -> None:
    cache = JobCache()
    cache.put("cv_1", {"status": "queued"}, time.monotonic())
    requested = ConversionRequested(
        tenant_id="t",
        job_id="cv_1",
        source_key="s",
        source_sha256="h",
        source_size=1,
        filename="f.mpp",
        options=ConversionOptions(),
        result_key="r",
    )
    cache.on_event(_heard(requested))
    assert cache.get("cv_1") == {"status": "queued"}


def test_entries_expire_and_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = JobCache(max_entries=2, max_age_s=10)
    now = time.monotonic()
    for job_id in ("a", "b", "c"):
        cache.put(job_id, {"id": job_id}, now)
    assert cache.get("a") is None and cache.get("c") == {"id": "c"}
    monkeypatch.setattr(time, "monotonic", lambda: now + 11)
    assert cache.get("c") is None


async def test_fetch_loads_once_then_serves_from_memory() -> None:
    cache = JobCache()
    loads = []

    async def load(job_id: str) -> dict[str, str]:
        loads.append(job_id)
        return {"id": job_id}

    for _ in range(5):
        assert await cache.fetch("cv_9", load) == {"id": "cv_9"}
    assert loads == ["cv_9"]
