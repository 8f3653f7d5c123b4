"""The global rate limiter against real SecantusDB, shared by limiter instances that stand for
replicas (each with its own client, and once as separate processes): no sliding window ever
holds more than the limit, the allowed rate is used, a 429's back-off reaches every replica.

Times are taken when ``acquire`` returns, i.e. when the request would leave for the bank.
The window is 3 s (60 per 3 s, the production rule's shape at 20/s): with the limiter's 3 %
margin that leaves ~60 ms for scheduling jitter, which a 1 s window (~20 ms) does not.
"""

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from shared.bootstrap import Infra
from shared.mongo import connect, database
from shared.ratelimit.gcra import GlobalRateLimiter, Limit, TooLongAWait
from shared.ratelimit.repository import RateLimitRepository
from shared.settings import InfraSettings

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
LIMIT, WINDOW_S = 60, 3.0
RATE = LIMIT / WINDOW_S
LIMITS = {"pdf": Limit(LIMIT, WINDOW_S), "issue": Limit(LIMIT, WINDOW_S)}
# below the service's 0.97: these timestamps are taken where the caller wakes up, and a loaded
# CI machine delays wake-ups by more than 3 % of a 3 s window; the bank-side count is in bench/
UTILISATION = 0.93
INTERVAL_S = WINDOW_S / (LIMIT * UTILISATION)
COLLECTION = "inter_rate_limits"


@asynccontextmanager
async def replicas(settings: InfraSettings, count: int) -> AsyncIterator[list[GlobalRateLimiter]]:
    """``count`` limiters over one collection, each with its own client, as replicas have."""
    clients = [connect(settings) for _ in range(count)]
    try:
        yield [
            GlobalRateLimiter(
                RateLimitRepository(database(c, settings), COLLECTION), LIMITS, UTILISATION
            )
            for c in clients
        ]
    finally:
        for client in clients:
            await client.close()


async def first_use(limiter: GlobalRateLimiter, *groups: str) -> None:
    """Create the groups' documents with one caller (concurrent first use has its own test)."""
    for group in groups:
        await limiter.acquire(group)


async def acquire_until(limiter: GlobalRateLimiter, deadline: float, tasks: int) -> list[float]:
    """``tasks`` callers in a loop, each recording when its slot came."""
    sent: list[float] = []

    async def caller() -> None:
        while time.time() < deadline:
            await limiter.acquire("pdf")
            sent.append(time.time())

    await asyncio.gather(*(caller() for _ in range(tasks)))
    return sent


def max_in_window(times: list[float], window: float = WINDOW_S) -> int:
    """The most timestamps any half-open interval of ``window`` seconds holds."""
    ordered, start, most = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def utilisation(times: list[float]) -> float:
    """Achieved rate between the first and the last request over the allowed rate."""
    ordered = sorted(times)
    return (len(ordered) - 1) / (ordered[-1] - ordered[0]) / RATE


async def test_replicas_keep_every_window_within_the_limit_and_use_the_rate(
    infra: Infra,
) -> None:
    async with replicas(infra.settings, 3) as limiters:
        await first_use(limiters[0], "pdf")
        deadline = time.time() + 6
        runs = await asyncio.gather(*(acquire_until(lim, deadline, 4) for lim in limiters))
        stats = await limiters[0].stats()
    sent = [moment for run in runs for moment in run]
    assert all(len(run) >= 20 for run in runs), [len(run) for run in runs]  # all took part
    assert max_in_window(sent) <= LIMIT
    assert utilisation(sent) >= 0.9
    assert stats["pdf"]["requests_sent"] == len(sent) + 1
    assert stats["pdf"]["waits"] >= len(sent) - 12


async def test_separate_processes_share_the_limit(infra: Infra) -> None:
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from tests.integration.test_rate_limiter import child; child()",
            cwd=ROOT,
            env={**os.environ, "CHILD_MONGODB": json.dumps(_where(infra.settings))},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for process in children:  # each has imported and connected
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    # the group's document, created alone just before the children start asking
    await first_use(
        GlobalRateLimiter(RateLimitRepository(infra.db, COLLECTION), LIMITS, UTILISATION), "pdf"
    )
    until = f"{time.time() + 5}\n".encode()
    outputs = await asyncio.gather(*(process.communicate(until) for process in children))
    assert [process.returncode for process in children] == [0, 0, 0]
    runs: list[list[float]] = [json.loads(stdout) for stdout, _ in outputs]
    sent = [moment for run in runs for moment in run]
    assert all(len(run) >= 20 for run in runs), [len(run) for run in runs]  # they overlapped
    assert max_in_window(sent) <= LIMIT
    assert utilisation(sent) >= 0.9


def _where(settings: InfraSettings) -> dict[str, str]:
    return {"mongodb_url": settings.mongodb_url, "mongodb_db": settings.mongodb_db}


def child() -> None:
    """One replica as its own process: print when its requests would have left."""
    settings = InfraSettings(**json.loads(os.environ["CHILD_MONGODB"]))

    async def run() -> list[float]:
        async with replicas(settings, 1) as (limiter,):
            await limiter.stats()  # connected
            print("ready", flush=True)
            until = float(await asyncio.to_thread(sys.stdin.readline))
            return await acquire_until(limiter, until, 3)

    print(json.dumps(asyncio.run(run())))


async def test_stats_count_requests_waits_and_throttling(infra: Infra) -> None:
    async with replicas(infra.settings, 2) as (first, second):
        fresh = await first.stats()
        await first_use(first, "pdf")
        await asyncio.gather(*(lim.acquire("pdf") for lim in (first, second, first)))
        await first.acquire("issue")
        await second.throttled("issue", 2.0)
        stats = await second.stats()
    assert fresh["pdf"] == {
        "limit": LIMIT,
        "window_s": WINDOW_S,
        "requests_sent": 0,
        "waits": 0,
        "wait_seconds_total": 0.0,
        "throttled_responses": 0,
        "backoff_remaining_s": 0.0,
    }
    pdf, issue = stats["pdf"], stats["issue"]
    assert pdf["requests_sent"] == 4 and pdf["throttled_responses"] == 0
    # the first went at once, the three after it waited 1, 2 and 3 intervals (a "wait" of
    # under a millisecond, from dates kept to the millisecond, may count the first too)
    assert pdf["waits"] in (3, 4)
    assert 3 * INTERVAL_S < pdf["wait_seconds_total"] <= 6 * INTERVAL_S + 0.01
    assert issue["requests_sent"] == 1 and issue["throttled_responses"] == 1
    assert 1.5 < issue["backoff_remaining_s"] <= 2.2


async def test_a_wait_longer_than_the_caller_accepts_raises_too_long_a_wait(
    infra: Infra,
) -> None:
    limiter = GlobalRateLimiter(
        RateLimitRepository(infra.db, COLLECTION), {"token": Limit(1, 10.0)}, utilisation=1.0
    )
    assert await limiter.acquire("token", max_wait_s=1) == 0.0
    started = time.monotonic()
    with pytest.raises(TooLongAWait) as refused:
        await limiter.acquire("token", max_wait_s=1)
    assert time.monotonic() - started < 0.5  # refused at once, not after a sleep
    assert 9.5 < refused.value.wait_s <= 10.0
    assert "next slot in" in str(refused.value)
    # the refused request is not counted as sent
    assert (await limiter.stats())["token"]["requests_sent"] == 1


async def test_a_429_moves_every_replicas_next_slot_past_the_backoff(infra: Infra) -> None:
    async with replicas(infra.settings, 3) as limiters:
        await first_use(limiters[0], "pdf")
        await asyncio.gather(*(lim.acquire("pdf") for lim in limiters))
        throttled_at = time.monotonic()
        backoff = await limiters[1].throttled("pdf", 1.0)

        async def next_slot(limiter: GlobalRateLimiter) -> float:
            await limiter.acquire("pdf")
            return time.monotonic() - throttled_at

        waited = sorted(await asyncio.gather(*(next_slot(lim) for lim in limiters)))
    assert 1.0 <= backoff <= 1.1
    assert waited[0] >= backoff - 0.05  # every replica, not just the one that saw the 429
    assert waited[2] - waited[0] >= 2 * INTERVAL_S - 0.05  # and still spaced after it


async def test_after_an_idle_spell_requests_are_spaced_again(infra: Infra) -> None:
    """GCRA lets the first request after a pause go at once, not the pause's unused slots."""
    async with replicas(infra.settings, 3) as limiters:
        await first_use(limiters[0], "pdf")
        await asyncio.sleep(2 * WINDOW_S)  # the group is idle
        deadline = time.time() + 2
        runs = await asyncio.gather(*(acquire_until(lim, deadline, 4) for lim in limiters))
    sent = [moment for run in runs for moment in run]
    assert max_in_window(sent) <= LIMIT, f"{len(sent)} requests in {max(sent) - min(sent):.2f} s"


async def test_many_replicas_may_use_a_group_first_at_the_same_time(infra: Infra) -> None:
    for group in ("pdf", "issue", "pdf", "issue", "pdf"):
        await infra.db[COLLECTION].delete_many({})
        async with replicas(infra.settings, 3) as limiters:
            started = time.monotonic()
            await asyncio.gather(*(lim.acquire(group) for lim in limiters for _ in range(4)))
            elapsed = time.monotonic() - started
            stats = await limiters[0].stats()
        assert stats[group]["requests_sent"] == 12, group  # no first reservation was lost
        # twelve distinct slots: the last caller waited for the eleven before it
        assert elapsed >= 11 * INTERVAL_S - 0.02, (group, elapsed)
