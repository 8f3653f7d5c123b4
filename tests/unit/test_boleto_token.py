"""The shared bank token for any lifetime the bank grants: shorter than, equal to and longer
than the refresh margin, and none at all. Each gives one fetch, then the token is reused
until it is renewed, before it expires."""

from datetime import UTC, datetime, timedelta

import pytest

from boleto_sync.inter.token import SharedToken
from boleto_sync.inter.token_repository import StoredToken

MARGIN = timedelta(minutes=5)
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> datetime:
        return self.moment


class MemoryTokens:
    """The token repository's port, in memory (one replica, no contention)."""

    def __init__(self) -> None:
        self.token: StoredToken | None = None
        self.leases = 0

    async def load(self) -> StoredToken | None:
        return self.token

    async def take_lease(self, now: datetime, until: datetime, owner: str) -> bool:
        self.leases += 1
        return True

    async def release_lease(self, owner: str) -> None:
        pass

    async def save(self, token: str, expires_at: datetime, refresh_at: datetime) -> None:
        self.token = StoredToken(token, expires_at, refresh_at)

    async def expire(self, token: str, now: datetime) -> None:
        if self.token and self.token.token == token:
            self.token = StoredToken(token, now, now)


class Bank:
    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s, self.fetched = lifetime_s, 0

    async def fetch(self) -> tuple[str, float]:
        self.fetched += 1
        return f"token-{self.fetched}", self.lifetime_s


def shared(lifetime_s: float) -> tuple[SharedToken, Bank, MemoryTokens, Clock]:
    bank, stored, clock = Bank(lifetime_s), MemoryTokens(), Clock()
    token = SharedToken(stored, bank.fetch, refresh_margin=MARGIN, clock=clock)  # type: ignore[arg-type]
    return token, bank, stored, clock


@pytest.mark.parametrize(
    "lifetime_s", [30, MARGIN.total_seconds() - 1, MARGIN.total_seconds(), 3600, 86_400]
)
async def test_any_lifetime_gives_one_fetch_and_a_renewal_before_expiry(lifetime_s: float) -> None:
    token, bank, stored, clock = shared(lifetime_s)
    assert await token.get() == "token-1"
    assert bank.fetched == 1
    assert stored.token is not None and stored.token.refresh_at is not None
    renew_at, expires_at = stored.token.refresh_at, stored.token.expires_at
    assert START < renew_at < expires_at == START + timedelta(seconds=lifetime_s)
    if lifetime_s > 4 * MARGIN.total_seconds():
        assert expires_at - renew_at == MARGIN
    clock.moment = renew_at - timedelta(milliseconds=1)
    assert await token.get() == "token-1" and bank.fetched == 1  # reused while fresh
    clock.moment = renew_at
    assert await token.get() == "token-2" and bank.fetched == 2  # renewed, still unexpired


async def test_a_token_with_no_lifetime_is_used_once_then_fetched_again() -> None:
    token, bank, _, _ = shared(0)
    assert await token.get() == "token-1"
    assert await token.get() == "token-2"
    assert bank.fetched == 2


async def test_another_replicas_stored_token_is_reused_until_its_renewal() -> None:
    token, bank, stored, clock = shared(60)
    stored.token = StoredToken(
        "theirs", START + timedelta(seconds=60), START + timedelta(seconds=45)
    )
    assert await token.get() == "theirs" and bank.fetched == 0
    clock.moment = START + timedelta(seconds=45)
    assert await token.get() == "token-1" and bank.fetched == 1


async def test_a_refused_token_is_fetched_again() -> None:
    token, bank, _, _ = shared(3600)
    refused = await token.get()
    await token.invalidate(refused)
    assert await token.get() == "token-2" and bank.fetched == 2
