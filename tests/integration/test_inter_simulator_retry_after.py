"""The simulator's 429 without ``Retry-After`` (the bank does not document the header), and
boleto-sync's Inter client against it: with no hint it backs off a whole window and succeeds.

The simulator allows 2 charge lookups a second; the client believes the bank allows 10, so it
overshoots, is refused, and has only its own back-off to go by.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest

from boleto_sync.inter.client import InterClient, fetch_token
from boleto_sync.inter.token import SharedToken
from boleto_sync.inter.token_repository import TokenRepository
from shared.bootstrap import Infra
from shared.ratelimit.gcra import GlobalRateLimiter, Limit
from shared.ratelimit.repository import RateLimitRepository
from tests.support.inter import (
    CHARGES,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPES,
    assert_problem,
    charge_body,
    simulator_client,
    stats,
    token,
)

pytestmark = pytest.mark.timeout(120)
BANK_PER_S, CLIENT_PER_S, LOOKUPS = 2, 10, 4
CLIENT_LIMITS = {g: Limit(CLIENT_PER_S, 1.0) for g in ("issue", "get", "pdf", "list")} | {
    "token": Limit(5, 1.0),
    "webhook": Limit(5, 1.0),
}


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    async with simulator_client(
        processing_delay_seconds=0,
        retry_after=False,
        window_seconds=1,
        limits={"get": BANK_PER_S},
    ) as client:
        yield client


def _bank(infra: Infra, sim: httpx.AsyncClient) -> InterClient:
    group = f"noretry-{uuid.uuid4().hex[:6]}"  # a limiter state of its own
    limiter = GlobalRateLimiter(RateLimitRepository(infra.db, group), CLIENT_LIMITS)
    fetch = partial(fetch_token, sim, limiter, CLIENT_ID, CLIENT_SECRET, SCOPES)
    return InterClient(sim, limiter, SharedToken(TokenRepository(infra.db, group), fetch))


async def test_429_carries_no_retry_after_when_switched_off(sim: httpx.AsyncClient) -> None:
    assert (await stats(sim))["retry_after"] is False
    auth = await token(sim)
    answers = [await sim.get(f"{CHARGES}/x", headers=auth) for _ in range(BANK_PER_S + 1)]
    assert [answer.status_code for answer in answers] == [404] * BANK_PER_S + [429]
    assert_problem(answers[-1], 429)
    assert "retry-after" not in answers[-1].headers


async def test_the_client_backs_off_without_retry_after(
    infra: Infra, sim: httpx.AsyncClient
) -> None:
    bank = _bank(infra, sim)
    codigo = await bank.issue(charge_body(seuNumero=f"R{uuid.uuid4().hex[:8]}"))
    started = time.monotonic()
    views = await asyncio.gather(*(bank.get(codigo) for _ in range(LOOKUPS)))
    elapsed = time.monotonic() - started

    assert all(view["cobranca"]["codigoSolicitacao"] == codigo for view in views)
    lookups = (await stats(sim))["groups"]["get"]
    assert lookups["throttled"] >= 1  # the client did overshoot the bank
    assert lookups["accepted"] == LOOKUPS and lookups["max_in_window"] <= BANK_PER_S
    # it waited out a window after the refusal rather than hammering the bank: each lookup
    # was refused at most a couple of times, and the lookups took more than one window
    assert lookups["throttled"] <= 2 * LOOKUPS, lookups
    assert elapsed >= 1.0, elapsed
