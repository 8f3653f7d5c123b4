"""Responses that stay open (SSE) end soon after the key that opened them is revoked."""

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import structlog
from fastapi import Request

from shared.auth.dependencies import bearer_key
from shared.auth.service import ApiKeys
from shared.cancellation import raise_lost_cancel
from shared.runtime import Stopping

log = structlog.get_logger()
T = TypeVar("T")
MIN_RECHECK_S = 0.1


async def until_revoked(request: Request, body: AsyncIterator[T]) -> AsyncIterator[T]:
    """``body``'s items until it ends or the request's key is no longer valid.

    The key is checked again every cache period through the process's key cache, so the
    streams of one key cost one database read per period between them, however many are open;
    a revocation ends them within about three periods (the cache serves a known key while it
    refreshes it). A database out of reach keeps the stream open."""
    keys: ApiKeys = request.app.state.api_keys
    key = bearer_key(request)
    revoked = Stopping()
    watch = asyncio.create_task(_watch(keys, key, revoked)) if key else None
    items = revoked.until(body)
    try:
        async for item in items:
            yield item
    finally:
        if watch is not None:
            watch.cancel()
        await items.aclose()  # type: ignore[attr-defined]


async def _watch(keys: ApiKeys, key: str, revoked: Stopping) -> None:
    while True:
        raise_lost_cancel()
        await asyncio.sleep(max(keys.cache_seconds, MIN_RECHECK_S))
        try:
            principal = await keys.authenticate(key)
        except Exception as exc:  # an outage is no reason to cut a stream
            log.warning("auth.stream.recheck_failed", error=type(exc).__name__)
            continue
        if principal is None:
            log.info("auth.stream.key_revoked")
            revoked.set()
            return
