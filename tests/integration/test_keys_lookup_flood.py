"""Random keys neither push a valid key out of the cache nor turn into a database read each."""

import asyncio
import secrets
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from shared.auth import ApiKeyRepository, ApiKeys, Principal, require_principal
from shared.auth.guard import FailedLookups, TooManyFailedLookups
from shared.bootstrap import Infra
from shared.http.problems import install_problem_handlers

RANDOM_KEYS = 2000


class CountingKeys(ApiKeyRepository):
    reads = 0

    async def find_active(self, key: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().find_active(key)


async def test_random_keys_cost_a_bounded_number_of_reads_and_evict_nothing(infra: Infra) -> None:
    repository = CountingKeys(infra.db)
    _, valid = await repository.create("acme")
    guard = FailedLookups(per_s=0.001, burst=10)
    auth = ApiKeys(repository, cache_seconds=60, max_cached=100, failed_lookups=guard)
    assert await auth.authenticate(valid, "198.51.100.1") is not None
    refused = 0
    for _ in range(RANDOM_KEYS):
        try:
            assert await auth.authenticate(f"sk_{secrets.token_urlsafe(32)}", "203.0.113.9") is None
        except TooManyFailedLookups:
            refused += 1
    # before: one read per random key (2000), and the cache emptied once it held 10 000
    assert repository.reads == 1 + 10
    assert refused == RANDOM_KEYS - 10
    assert await auth.authenticate(valid, "203.0.113.9") is not None  # still cached
    assert repository.reads == 1 + 10
    assert await auth.authenticate("sk_other", "198.51.100.2") is None  # another address
    assert repository.reads == 1 + 10 + 1


async def test_a_key_found_costs_its_address_nothing(infra: Infra) -> None:
    repository = CountingKeys(infra.db)
    keys = [(await repository.create("acme"))[1] for _ in range(30)]
    auth = ApiKeys(repository, cache_seconds=60, failed_lookups=FailedLookups(0.001, burst=2))
    assert all([await auth.authenticate(key, "198.51.100.1") for key in keys])


async def test_concurrent_requests_with_a_new_key_share_one_token(infra: Infra) -> None:
    repository = CountingKeys(infra.db)
    _, key = await repository.create("acme")
    auth = ApiKeys(repository, failed_lookups=FailedLookups(per_s=0.001, burst=1))
    principals = await asyncio.gather(*(auth.authenticate(key, "198.51.100.1") for _ in range(40)))
    assert all(p is not None for p in principals) and repository.reads == 1


async def test_the_api_answers_429_with_retry_after_once_an_address_spent_its_lookups(
    infra: Infra,
) -> None:
    repository = CountingKeys(infra.db)
    _, valid = await repository.create("acme")
    app = FastAPI()
    install_problem_handlers(app)
    app.state.api_keys = ApiKeys(repository, failed_lookups=FailedLookups(per_s=0.5, burst=3))

    @app.get("/whoami")
    async def whoami(principal: Principal = Depends(require_principal)) -> str:  # noqa: B008
        return principal.tenant

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await client.get("/whoami", headers=_bearer(valid))).json() == "acme"
        answers = [(await client.get("/whoami", headers=_bearer("sk_nope"))) for _ in range(5)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
        assert answers[-1].json()["code"] == "too_many_failed_keys"
        assert answers[-1].headers["Retry-After"] == "2"
        assert (await client.get("/whoami", headers=_bearer(valid))).status_code == 200
    assert repository.reads == 1 + 3


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_more_new_keys_at_once_than_the_burst_are_all_accepted(infra: Infra) -> None:
    # a client that has just created its tenants' keys uses them all at once (the load
    # benchmark's set-up: 50 new keys, 16 at a time, were refused 429 before)
    repository = CountingKeys(infra.db)
    keys = [(await repository.create(f"t{number}"))[1] for number in range(16)]
    auth = ApiKeys(repository, failed_lookups=FailedLookups(per_s=0.001, burst=2))
    principals = await asyncio.gather(*(auth.authenticate(key, "198.51.100.1") for key in keys))
    assert [p.tenant for p in principals if p is not None] == [f"t{n}" for n in range(16)]


async def test_random_keys_at_once_still_cost_at_most_the_burst_in_reads(infra: Infra) -> None:
    repository = CountingKeys(infra.db)
    auth = ApiKeys(repository, failed_lookups=FailedLookups(per_s=0.001, burst=5))
    guesses = [f"sk_{secrets.token_urlsafe(32)}" for _ in range(200)]
    answers = await asyncio.gather(
        *(auth.authenticate(key, "203.0.113.9") for key in guesses), return_exceptions=True
    )
    assert repository.reads == 5
    assert sum(isinstance(a, TooManyFailedLookups) for a in answers) == 195
    assert all(a is None for a in answers if not isinstance(a, TooManyFailedLookups))
