"""One OAuth2 token for every replica, kept in MongoDB and refreshed before it expires.

The bank allows only a few token calls a minute, so replicas share the token: one replica
takes a short lease and fetches a new token; the others wait for it to appear.

A token is refreshed ``refresh_margin`` before it expires, or, when the bank grants a
lifetime shorter than four margins, a quarter of its lifetime before: any lifetime the bank
grants (even none) gives one fetch and a token to use, never a loop of fetches.
"""

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from boleto_sync.inter.token_repository import StoredToken, TokenRepository
from shared.clock import now

log = structlog.get_logger()

Fetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (access token, lifetime in seconds)
Clock = Callable[[], datetime]
_OWNER = f"{socket.gethostname()}:{os.getpid()}"
SHORT_LIFETIME_SHARE = 0.25  # of a short lifetime, how much is left when the token is renewed


def refresh_margin_for(lifetime: timedelta, margin: timedelta) -> timedelta:
    """How long before its expiry a token of ``lifetime`` is renewed."""
    return max(min(margin, lifetime * SHORT_LIFETIME_SHARE), timedelta(0))


class SharedToken:
    def __init__(
        self,
        stored: TokenRepository,
        fetch: Fetch,
        refresh_margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
        clock: Clock = now,
    ) -> None:
        self.stored, self.fetch = stored, fetch
        self.refresh_margin, self.lease = refresh_margin, lease
        self._clock = clock
        self._token: str | None = None
        self._valid_until = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token and self._clock() < self._valid_until:
            return self._token
        async with self._lock:
            while not (self._token and self._clock() < self._valid_until):
                if fetched := await self._load_or_refresh():
                    return fetched  # used even if its lifetime is already spent
            return self._token

    async def invalidate(self, token: str) -> None:
        """The bank refused ``token``: drop it (unless another replica already replaced it)."""
        self._token = None
        await self.stored.expire(token, self._clock())

    async def _load_or_refresh(self) -> str | None:
        """The token just fetched, or None (the stored one was loaded, or is being fetched)."""
        moment = self._clock()
        stored = await self.stored.load()
        if stored and self._renew_at(stored) > moment:
            self._token, self._valid_until = stored.token, self._renew_at(stored)
            return None
        if await self.stored.take_lease(moment, moment + self.lease, _OWNER):
            return await self._refresh()
        await asyncio.sleep(0.2)  # another replica is fetching it
        return None

    def _renew_at(self, stored: StoredToken) -> datetime:
        if stored.refresh_at is not None:
            return stored.refresh_at
        return stored.expires_at - self.refresh_margin  # saved before refresh_at was kept

    async def _refresh(self) -> str:
        try:
            token, lifetime_s = await self.fetch()
        except BaseException:
            await self.stored.release_lease(_OWNER)
            raise
        lifetime = timedelta(seconds=max(lifetime_s, 0.0))
        expires = self._clock() + lifetime
        renew_at = expires - refresh_margin_for(lifetime, self.refresh_margin)
        await self.stored.save(token, expires, renew_at)
        self._token, self._valid_until = token, renew_at
        log.info("inter.token.refreshed", expires_in_s=lifetime_s)
        return token
