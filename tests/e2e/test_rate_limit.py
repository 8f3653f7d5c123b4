"""Each API key's request rate on a running system: an admin's PATCH on one API process is
applied by an upload API of two processes within seconds, the key over it gets 429s with
``Retry-After`` and the RateLimit headers, and another key is unaffected."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from system import System

from tests.support.api import api_client
from tests.support.infra import system_of_components

NEW_POLICY = '"default";q=3;w=3'


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Upload's API as two processes, its worker and a converter; no more, so it starts in
    reasonable time on a busy machine (the session's whole system is not needed here)."""
    with system_of_components(
        tmp_path_factory.mktemp("ratelimit"),
        MONGODB_DB="ratelimit",
        API_KEY_CACHE_SECONDS="1",
        UPLOAD_API_PROCESSES="2",
    ) as running:
        yield running


async def _new_key(admin: httpx.AsyncClient, tenant: str) -> str:
    created = await admin.post("/v1/admin/api-keys", json={"tenant": tenant})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


async def _round(port: int, key: str, requests: int = 24) -> list[httpx.Response]:
    """Each request on a connection of its own, so the kernel spreads them over the API's
    processes (they share the port)."""

    async def one() -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:
            headers = {"Authorization": f"Bearer {key}"}
            return await fresh.get("/v1/conversions/job_missing", headers=headers)

    return list(await asyncio.gather(*(one() for _ in range(requests))))


async def test_a_patched_rate_holds_on_every_process_and_spares_other_keys(
    limited: System,
) -> None:
    port = _port(limited.base_url)
    async with api_client(limited.base_url, limited.admin_key) as admin:
        tenant = f"limited-{uuid.uuid4().hex[:8]}"
        hammering, calm = await _new_key(admin, tenant), await _new_key(admin, f"calm-{tenant}")
        before = await _round(port, hammering)
        assert {r.status_code for r in before} == {404}
        patched = await admin.patch(
            f"/v1/admin/tenants/{tenant}", json={"limits": {"requests_per_s": 1, "burst": 3}}
        )
        assert patched.status_code == 200, patched.text
        started = time.monotonic()
        while True:
            answers = await _round(port, hammering)
            if all(a.headers.get("ratelimit-policy") == NEW_POLICY for a in answers):
                break
            assert time.monotonic() - started < 10, "a process still applies the old limit"
            await asyncio.sleep(0.5)
        refused = [a for a in answers if a.status_code == 429]
        # the burst, and at most one leased slot more per process
        assert len(answers) - len(refused) <= 3 + 2
        assert {a.status_code for a in answers} <= {404, 429}
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        assert all(r.headers["ratelimit"].startswith('"default";r=0;') for r in refused)
        assert all(r.json()["code"] == "rate_limited" for r in refused)
        others = await _round(port, calm)
        assert {r.status_code for r in others} == {404}


async def test_the_other_apis_limit_each_key_too(limited: System) -> None:
    apis = {
        "boleto-api": (["boleto_sync", "api"], limited.boleto_url, "/v1/jobs/job_missing"),
        "notifier-api": (["notifier", "api"], limited.notifier_url, "/v1/webhooks"),
    }
    for name, (args, base_url, _) in apis.items():
        limited.start(name, args, _port(base_url), wait=False)
    async with api_client(limited.base_url, limited.admin_key) as admin:
        tenant = f"limited-{uuid.uuid4().hex[:8]}"
        keys = {name: await _new_key(admin, tenant) for name in apis}  # a bucket per key
        patched = await admin.patch(
            f"/v1/admin/tenants/{tenant}", json={"limits": {"requests_per_s": 1, "burst": 2}}
        )
        assert patched.status_code == 200
    for name, (_, base_url, route) in apis.items():
        limited.wait_ready(name)
        async with api_client(base_url, keys[name]) as client:
            answers = [await client.get(route) for _ in range(6)]
        statuses = [a.status_code for a in answers]
        assert 429 in statuses and statuses[0] != 429, (name, statuses)
        refused = answers[statuses.index(429)]
        assert refused.json()["code"] == "rate_limited" and "retry-after" in refused.headers


def _port(url: str) -> int:
    return urlsplit(url).port or 80
