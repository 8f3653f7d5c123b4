"""The Banco Inter simulator's strict limits: sliding windows per group, 429s, profiles."""

import asyncio
import time

import httpx
import pytest

from tests.support import inter
from tests.support.inter import CHARGES, CLIENT_ID, assert_problem, configure, stats, token

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it


async def test_token_endpoint_allows_five_calls_a_minute(sim: httpx.AsyncClient) -> None:
    for _ in range(5):
        await token(sim)
    response = await sim.post("/oauth/v2/token", data={"client_id": CLIENT_ID})
    assert_problem(response, 429)
    assert 55 <= int(response.headers["retry-after"]) <= 60
    counters = (await stats(sim))["groups"]["token"]
    assert counters | {"faults": None} == {
        "limit": 5,
        "accepted": 5,
        "throttled": 1,
        "max_in_window": 5,
        "in_window": 5,
        "faults": None,
    }


async def test_429_with_and_without_retry_after(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, window_seconds=1, limits={"get": 2})
    statuses = [(await sim.get(f"{CHARGES}/x", headers=auth)).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    throttled = await sim.get(f"{CHARGES}/x", headers=auth)
    assert_problem(throttled, 429)
    assert throttled.headers["retry-after"] == "1"

    await configure(sim, retry_after=False)
    bare = await sim.get(f"{CHARGES}/x", headers=auth)
    assert bare.status_code == 429 and "retry-after" not in bare.headers

    await asyncio.sleep(1.05)
    assert (await sim.get(f"{CHARGES}/x", headers=auth)).status_code == 404
    counters = (await stats(sim))["groups"]["get"]
    assert (counters["accepted"], counters["throttled"], counters["max_in_window"]) == (3, 3, 2)


async def test_sliding_window_never_holds_more_than_the_limit(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    limit, window = 10, 0.5
    await configure(sim, window_seconds=window, limits={"get": limit})
    accepted: list[tuple[float, float]] = []  # (sent, answered) of each request let through

    async def one() -> None:
        sent = time.monotonic()
        response = await sim.get(f"{CHARGES}/x", headers=auth)
        if response.status_code != 429:
            accepted.append((sent, time.monotonic()))

    started, sent = time.monotonic(), 0
    while time.monotonic() - started < 2.0:  # bursts straddling window boundaries
        await asyncio.gather(*(one() for _ in range(7)))
        sent += 7
        await asyncio.sleep(0.03)

    counters = (await stats(sim))["groups"]["get"]
    assert counters["accepted"] + counters["throttled"] == sent
    assert counters["max_in_window"] == limit
    assert counters["accepted"] >= limit * 4  # the limit was used, not starved
    assert counters["accepted"] == len(accepted)
    # seen from the client too: the requests sent and answered within one window's span were
    # let through within it (when an answer arrives depends on the client, not the limit)
    for start, _ in accepted:
        inside = sum(start <= sent and answered < start + window for sent, answered in accepted)
        assert inside <= limit


async def test_original_profile_allows_five_requests_a_second_overall(
    sim: httpx.AsyncClient,
) -> None:
    config = await configure(sim, profile="original")
    assert config["global_limit"] == 5 and config["window_seconds"] == 1.0
    auth = await token(sim)  # the token call counts too
    paths = [f"{CHARGES}/x", f"{CHARGES}/x/pdf"] * 4
    statuses = [(await sim.get(path, headers=auth)).status_code for path in paths]
    assert statuses == [404] * 4 + [429] * 4
    assert (await stats(sim))["global"]["max_in_window"] == 5
