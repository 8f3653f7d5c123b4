import asyncio
import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import bson

from shared import caching
from shared.caching import DocumentCache
from shared.events import (
    ConversionCompleted,
    ConversionOptions,
    ConversionRequested,
    ConversionStarted,
    Event,
    Manifest,
)
from shared.memory import release_free_memory
from shared.messaging.envelope import Received
from shared.messaging.notices import Change
from upload.cache import SETTLED


class Table:
    """What the database holds, and how often it was read."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.read_started = asyncio.Event()

    async def load(self, doc_id: str) -> dict[str, Any] | None:
        self.reads += 1
        self.read_started.set()
        doc = self.docs.get(doc_id)  # the database's state when the read arrived...
        await asyncio.sleep(0.01)  # ...reaches the cache a moment later
        return dict(doc) if doc else None


def _cache(table: Table, **limits: Any) -> DocumentCache:
    return DocumentCache("test", table.load, lambda d: json.dumps(d).encode(), SETTLED, **limits)


def _heard(event: Event) -> Received:
    return Received("evt", "/test", datetime.now(UTC), event)


def _completed(job_id: str) -> Received:
    manifest = Manifest(source_format="MPP", read={}, written={})
    event = ConversionCompleted(
        tenant_id="t",
        job_id=job_id,
        result_key="r",
        size=1,
        sha256="s",
        media_type="m",
        manifest=manifest,
    )
    return _heard(event)


async def test_a_document_is_read_once_and_served_rendered_until_an_event_changes_it() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    first = await cache.get("cv_1")
    assert first is not None and json.loads(first.body) == {"status": "queued"}
    assert await cache.get("cv_1") is first and table.reads == 1
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_event(_completed("cv_1"))
    second = await cache.get("cv_1")
    assert second is not None and json.loads(second.body) == {"status": "completed"}
    assert second.etag != first.etag and table.reads == 2


async def test_a_read_that_does_not_show_the_last_event_yet_is_not_kept() -> None:
    """The worker applies the event to the database a moment after the API hears it."""
    table = Table()
    table.docs["cv_1"] = {"status": "converting"}
    cache = _cache(table)
    cache.on_event(_completed("cv_1"))
    await cache.get("cv_1")
    await cache.get("cv_1")
    assert table.reads == 2
    table.docs["cv_1"] = {"status": "completed"}
    await cache.get("cv_1")
    await cache.get("cv_1")
    assert table.reads == 3
    # a late "started" after the outcome is settled by the outcome's status
    cache.on_event(_heard(ConversionStarted(tenant_id="t", job_id="cv_1")))
    await cache.get("cv_1")
    await cache.get("cv_1")
    assert table.reads == 4


async def test_events_of_other_kinds_are_ignored() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    await cache.get("cv_1")
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
    await cache.get("cv_1")
    assert table.reads == 1


async def test_entries_expire_and_the_cache_is_bounded() -> None:
    table = Table()
    table.docs = {name: {"status": "queued", "id": name} for name in "abc"}
    cache = _cache(table, max_entries=2, max_age_s=0.5)
    for name in "abc":
        await cache.get(name)
    await cache.get("c")
    assert table.reads == 3
    await cache.get("a")  # pushed out by c
    assert table.reads == 4
    await asyncio.sleep(0.6)
    await cache.get("a")  # expired: served, and read again in the background
    await asyncio.sleep(0.05)
    assert table.reads == 5


async def test_memory_follows_the_documents_in_use_not_the_history(monkeypatch: Any) -> None:
    clock = [1000.0]
    monkeypatch.setattr(caching, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    table = Table()
    table.docs = {name: {"status": "queued", "id": name} for name in ("hot", "cold", "gone")}
    cache = _cache(table, idle_s=60)
    for name in ("hot", "cold"):
        await cache.get(name)
    cache.on_event(_completed("gone"))  # announced, never read
    for _ in range(4):  # "hot" is read every 20 s, the others never again
        clock[0] += 20
        await cache.get("hot")
    assert list(cache._entries) == ["hot"]
    assert not cache._pending
    reads = table.reads
    await cache.get("hot")
    assert table.reads == reads  # still served from memory


async def test_what_went_idle_is_dropped_before_a_trim_though_nothing_reads(
    monkeypatch: Any,
) -> None:
    """After a burst nobody may look at the cache for hours: the trim sweeps it."""
    clock = [1000.0]
    monkeypatch.setattr(caching, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    table = Table()
    table.docs = {f"cv_{n}": {"status": "queued"} for n in range(100)}
    cache = _cache(table, idle_s=60)
    for name in table.docs:
        await cache.get(name)
    clock[0] += 30
    await release_free_memory()
    assert len(cache._entries) == 100  # in use a moment ago
    clock[0] += 31
    await release_free_memory()
    assert not cache._entries


async def test_concurrent_misses_share_one_read() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    entries = await asyncio.gather(*(cache.get("cv_1") for _ in range(50)))
    assert table.reads == 1 and all(e is entries[0] for e in entries)
    assert await cache.get("missing") is None


async def test_a_long_poll_answers_once_the_database_shows_the_announced_change() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "converting"}
    cache = _cache(table)
    seen = await cache.get("cv_1")
    assert seen is not None
    waiting = asyncio.create_task(cache.changed("cv_1", seen.etag, 10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    cache.on_event(_completed("cv_1"))  # heard before the worker recorded it
    await asyncio.sleep(0.1)
    assert not waiting.done()
    table.docs["cv_1"] = {"status": "completed"}
    started = time.monotonic()
    changed = await asyncio.wait_for(waiting, 5)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}
    assert time.monotonic() - started < 1
    assert not cache._waiters  # nobody left waiting


async def test_a_long_poll_on_an_unchanged_document_answers_it_after_the_wait() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    seen = await cache.get("cv_1")
    assert seen is not None
    started = time.monotonic()
    assert await cache.changed("cv_1", seen.etag, 0.3) is seen
    assert 0.3 <= time.monotonic() - started < 2
    assert not cache._waiters
    assert await cache.changed("cv_1", '"other"', 5) is seen  # differs already: at once


async def test_a_long_poll_ends_when_the_document_is_deleted() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    seen = await cache.get("cv_1")
    assert seen is not None
    waiting = asyncio.create_task(cache.changed("cv_1", seen.etag, 10))
    await asyncio.sleep(0.05)
    del table.docs["cv_1"]
    cache.forget("cv_1")
    assert await asyncio.wait_for(waiting, 2) is None


async def test_clearing_after_a_broker_gap_drops_every_entry_and_wakes_long_polls() -> None:
    """Events published while a replica was disconnected never reach it: it starts afresh."""
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    seen = await cache.get("cv_1")
    assert seen is not None
    waiting = asyncio.create_task(cache.changed("cv_1", seen.etag, 10))
    await asyncio.sleep(0.05)
    table.docs["cv_1"] = {"status": "completed"}  # its event was missed
    cache.clear()
    changed = await asyncio.wait_for(waiting, 2)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}
    assert table.reads == 2


async def test_an_expired_entry_is_served_while_one_read_refreshes_it() -> None:
    """A slow database delays the refresh, not the requests; past three ages nothing stale."""
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table, max_age_s=0.2)
    first = await cache.get("cv_1")
    table.docs["cv_1"] = {"status": "converting"}  # changed without an event
    await asyncio.sleep(0.25)
    stale = await asyncio.gather(*(cache.get("cv_1") for _ in range(10)))
    assert all(entry is first for entry in stale)  # answered from memory...
    await asyncio.sleep(0.05)
    assert table.reads == 2  # ...while one read refreshed it
    fresh = await cache.get("cv_1")
    assert fresh is not None and json.loads(fresh.body) == {"status": "converting"}
    table.docs["cv_1"] = {"status": "completed"}
    await asyncio.sleep(0.7)  # past three ages: read before answering
    latest = await cache.get("cv_1")
    assert latest is not None and json.loads(latest.body) == {"status": "completed"}


ACTIVE = ["queued", "converting"]


def _set(status: str, condition: list[str] = ACTIVE) -> Change:
    return Change({"status": condition}, {"status": status})


async def _watching(status: str, **limits: Any) -> tuple[Table, DocumentCache, "asyncio.Task[Any]"]:
    """A cache holding cv_1 with ``status``, and a long poll waiting for it to change."""
    table = Table()
    table.docs["cv_1"] = {"status": status}
    cache = _cache(table, **limits)
    seen = await cache.get("cv_1")
    assert seen is not None
    waiting = asyncio.create_task(cache.changed("cv_1", seen.etag, 10))
    await asyncio.sleep(0.05)
    return table, cache, waiting


async def test_a_notice_updates_the_held_document_without_a_read() -> None:
    """Woken by the event, a long poll waits for the writer's notice, whose update this
    process applies to the document it held: the change is served without a read."""
    table, cache, waiting = await _watching("converting", recheck_s=(5.0, 5.0))
    cache.on_event(_completed("cv_1"))  # heard before the worker recorded it
    await asyncio.sleep(0.1)
    assert not waiting.done() and table.reads == 1  # nothing read while only announced
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_recorded({"cv_1": _set("completed")})
    changed = await asyncio.wait_for(waiting, 1)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}
    assert await cache.get("cv_1") is changed and table.reads == 1


async def test_a_process_that_held_no_copy_reads_the_noticed_document_once() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "converting"}
    cache = _cache(table, recheck_s=(5.0, 5.0))
    cache.on_event(_completed("cv_1"))
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_recorded({"cv_1": _set("completed")})
    first = await cache.get("cv_1")
    assert first is not None and json.loads(first.body) == {"status": "completed"}
    assert await cache.get("cv_1") is first and table.reads == 1


async def test_a_notice_of_an_earlier_write_is_applied_and_the_later_event_still_awaited() -> None:
    """The 'converting' notice can come after the completion event: applied, it answers the
    long poll; the completion stays awaited until its own notice (or a read) shows it."""
    table, cache, waiting = await _watching("queued", recheck_s=(5.0, 5.0))
    cache.on_event(_heard(ConversionStarted(tenant_id="t", job_id="cv_1")))
    cache.on_event(_completed("cv_1"))
    await asyncio.sleep(0.05)
    cache.on_recorded({"cv_1": _set("converting", ["queued"])})
    converting = await asyncio.wait_for(waiting, 1)
    assert converting is not None and json.loads(converting.body) == {"status": "converting"}
    assert "cv_1" in cache._pending  # the completion is still to be recorded
    cache.on_recorded({"cv_1": _set("completed")})
    completed = await cache.get("cv_1")
    assert completed is not None and json.loads(completed.body) == {"status": "completed"}
    assert table.reads == 1 and "cv_1" not in cache._pending


async def test_a_notice_whose_condition_fails_leaves_the_document_to_a_read() -> None:
    """A late 'converting' for a job already completed did not change it in the database."""
    table = Table()
    table.docs["cv_1"] = {"status": "completed"}
    cache = _cache(table)
    held = await cache.get("cv_1")
    cache.on_recorded({"cv_1": _set("converting", ["queued"])})
    again = await cache.get("cv_1")
    assert held is not None and again is not None and again.etag == held.etag
    assert table.reads == 2


async def test_without_a_notice_a_long_poll_looks_again_on_its_own() -> None:
    table, cache, waiting = await _watching("converting", recheck_s=(0.1, 0.2))
    cache.on_event(_completed("cv_1"))
    table.docs["cv_1"] = {"status": "completed"}  # recorded, but its notice is lost
    changed = await asyncio.wait_for(waiting, 2)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}


async def test_malformed_notices_are_dropped() -> None:
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    first = await cache.get("cv_1")
    bodies = [b"not bson", bson.encode({"cv_1": 3}), bson.encode({"cv_1": {"if": {}}})]
    for body in bodies:
        cache.on_recorded_notice(body)
    assert await cache.get("cv_1") is first
    cache.on_recorded_notice(bson.encode({"cv_1": {"if": {}, "set": {"status": "x"}}}))
    updated = await cache.get("cv_1")
    assert updated is not None and json.loads(updated.body) == {"status": "x"}


async def test_a_seeded_document_is_served_without_a_read() -> None:
    table = Table()
    cache = _cache(table)
    cache.seed("cv_1", {"status": "queued"})
    entry = await cache.get("cv_1")
    assert entry is not None and json.loads(entry.body) == {"status": "queued"}
    assert table.reads == 0


async def test_a_read_in_flight_when_the_notice_comes_is_not_kept() -> None:
    """It may have read the document before the write: only a read showing the change ends
    the wait for it."""
    table = Table()
    table.docs["cv_1"] = {"status": "converting"}
    cache = _cache(table)
    cache.on_event(_completed("cv_1"))
    early = asyncio.create_task(cache.get("cv_1"))  # reads 'converting'...
    await table.read_started.wait()
    table.docs["cv_1"] = {"status": "completed"}  # ...while the worker records the outcome
    cache.on_recorded({"cv_1": _set("completed")})
    stale = await early
    assert stale is not None and json.loads(stale.body) == {"status": "converting"}
    fresh = await cache.get("cv_1")
    assert fresh is not None and json.loads(fresh.body) == {"status": "completed"}
    assert await cache.get("cv_1") is fresh and table.reads == 2


async def test_a_read_that_began_before_a_notice_is_never_kept() -> None:
    """The outcome's notice is applied, the late 'converting' notice finds the job completed
    and drops it, then a read begun before both answers: it shows the job as it was."""
    table = Table()
    table.docs["cv_1"] = {"status": "queued"}
    cache = _cache(table)
    await cache.get("cv_1")
    cache.on_event(_heard(ConversionStarted(tenant_id="t", job_id="cv_1")))
    cache.on_event(_completed("cv_1"))
    table.read_started.clear()
    early = asyncio.create_task(cache.get("cv_1"))  # reads 'queued'...
    await table.read_started.wait()
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_recorded({"cv_1": _set("completed")})
    cache.on_recorded({"cv_1": _set("converting", ["queued"])})
    await early
    latest = await cache.get("cv_1")
    assert latest is not None and json.loads(latest.body) == {"status": "completed"}


async def test_a_long_poll_that_joined_an_earlier_read_sees_what_came_meanwhile() -> None:
    """Its lookup shared a read begun before the notice: the stale answer must not send it
    to sleep until the next change, which will never come."""
    table = Table()
    table.docs["cv_1"] = {"status": "converting"}
    cache = _cache(table, recheck_s=(5.0, 5.0))
    seen = await cache.get("cv_1")
    assert seen is not None
    cache.on_event(_completed("cv_1"))
    table.read_started.clear()
    other = asyncio.create_task(cache.get("cv_1"))  # another request's read of 'converting'
    await table.read_started.wait()
    waiting = asyncio.create_task(cache.changed("cv_1", seen.etag, 10))  # joins that read
    await asyncio.sleep(0)
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_recorded({"cv_1": _set("completed")})
    await other
    changed = await asyncio.wait_for(waiting, 2)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}


async def test_a_long_poll_woken_by_an_event_sees_a_notice_that_came_before_it_ran() -> None:
    """The event wakes the long poll; the notice, handled before the long poll's task runs
    again, finds nobody waiting: the long poll must look, not wait for another wake."""
    table, cache, waiting = await _watching("converting", recheck_s=(5.0, 5.0))
    table.docs["cv_1"] = {"status": "completed"}
    cache.on_event(_completed("cv_1"))  # the same turn of the loop: the waiter has not run
    cache.on_recorded({"cv_1": _set("completed")})
    changed = await asyncio.wait_for(waiting, 2)
    assert changed is not None and json.loads(changed.body) == {"status": "completed"}
    assert table.reads == 1
