"""One OAuth2 token for every replica, kept in MongoDB and refreshed before it expires.

The bank allows only a few token calls a minute, so replicas share the token: one replica
takes a short lease and fetches a new token; the others wait for it to appear.
"""

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from boleto_sync.inter.token_repository import TokenRepository
from shared.clock import now

log = structlog.get_logger()

Fetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (access token, lifetime in seconds)
_OWNER = f"{socket.gethostname()}:{os.getpid()}"


class SharedToken:
    def __init__(
        self,
        stored: TokenRepository,
        fetch: Fetch,
        refresh_margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.stored, self.fetch = stored, fetch
        self.refresh_margin, self.lease = refresh_margin, lease
        self._token: str | None = None
        self._valid_until = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token and now() < self._valid_until:
            return self._token
        async with self._lock:
            while not (self._token and now() < self._valid_until):
                await self._load_or_refresh()
            return self._token

    async def invalidate(self, token: str) -> None:
        """The bank refused ``token``: drop it (unless another replica already replaced it)."""
        self._token = None
        await self.stored.expire(token, now())

    async def _load_or_refresh(self) -> None:
        moment = now()
        stored = await self.stored.load()
        if stored and stored.expires_at - self.refresh_margin > moment:
            self._token, self._valid_until = stored.token, stored.expires_at - self.refresh_margin
            return
        if await self.stored.take_lease(moment, moment + self.lease, _OWNER):
            await self._refresh()
        else:
            await asyncio.sleep(0.2)  # another replica is fetching it

    async def _refresh(self) -> None:
        try:
            token, lifetime = await self.fetch()
        except BaseException:
            await self.stored.release_lease(_OWNER)
            raise
        expires = now() + timedelta(seconds=lifetime)
        await self.stored.save(token, expires)
        self._token, self._valid_until = token, expires - self.refresh_margin
        log.info("inter.token.refreshed", expires_in_s=lifetime)
