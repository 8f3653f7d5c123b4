"""Upload quotas on real SecantusDB and storage, through the upload API served in-process:
uploads at once per API key (across replicas) and per process, conversions in flight per
tenant, and slots given back on every way out of an upload."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from shared.bootstrap import Infra
from shared.settings import InfraSettings
from tests.support.upload_api import served_upload_api
from upload.model import ACTIVE
from upload.quota_repository import Lease, QuotaRepository
from upload.quotas import FULL_RECHECK_S
from upload.repository import JobRepository
from upload.settings import UploadSettings

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
BOUNDARY = "quota-test"
FORM = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
SCHEDULE = b"MPX,Microsoft Project for Windows,4.0,ANSI\r\n" + b"x" * 2048


class SlowUpload:
    """An upload whose body stops after its first bytes until ``finish()``."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.reading = asyncio.Event()
        self._go_on = asyncio.Event()
        self.task = asyncio.create_task(
            client.post("/v1/conversions", content=self._body(), headers={**_auth(key), **FORM})
        )

    async def _body(self) -> AsyncIterator[bytes]:
        self.reading.set()  # the server reads the body: its upload slots are taken
        yield _part_head() + SCHEDULE[:1024]
        await self._go_on.wait()
        yield SCHEDULE[1024:] + f"\r\n--{BOUNDARY}--\r\n".encode()

    async def started(self) -> "SlowUpload":
        await asyncio.wait_for(self.reading.wait(), 10)
        return self

    async def finish(self) -> httpx.Response:
        self._go_on.set()
        return await asyncio.wait_for(self.task, 20)


def _part_head() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="plan.mpx"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _upload(client: httpx.AsyncClient, key: str, content: bytes = SCHEDULE) -> httpx.Response:
    files = {"file": ("plan.mpx", content, "application/octet-stream")}
    return await client.post("/v1/conversions", files=files, headers=_auth(key))


@asynccontextmanager
async def _served(
    infra_settings: InfraSettings, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with served_upload_api(
        infra_settings, UploadSettings(**settings), dev_admin_key=ADMIN_KEY
    ) as client:
        yield client


@pytest.fixture
async def api(infra_settings: InfraSettings, infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with _served(infra_settings) as client:
        yield client


async def _key(client: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    created = await client.post("/v1/admin/api-keys", json={"tenant": tenant}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def _limit(client: httpx.AsyncClient, tenant: str, **limits: int) -> None:
    patched = await client.patch(
        f"/v1/admin/tenants/{tenant}", json={"limits": limits}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert int(response.headers["Retry-After"]) > 0


async def test_a_key_has_at_most_its_uploads_at_once_on_every_replica_while_another_key_uploads(
    api: httpx.AsyncClient, infra_settings: InfraSettings
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    await _limit(api, tenant, concurrent_uploads=2)
    first, second = (await _key(api, tenant))["key"], (await _key(api, tenant))["key"]
    slow = [await SlowUpload(api, first).started() for _ in range(2)]

    over = await _upload(api, first)
    _refused(over, 429, "too_many_uploads")
    assert over.json()["limit"] == 2
    async with _served(infra_settings) as replica:  # another API process, same database
        _refused(await _upload(replica, first), 429, "too_many_uploads")
    # the limit is the key's: another key of the tenant uploads meanwhile
    assert (await _upload(api, second)).status_code == 202

    assert [(await upload.finish()).status_code for upload in slow] == [202, 202]
    assert (await _upload(api, first)).status_code == 202


async def test_a_process_answers_503_beyond_its_uploads_at_once(
    infra_settings: InfraSettings, infra: Infra
) -> None:
    async with _served(infra_settings, max_concurrent_uploads=2) as api:
        keys = [(await _key(api, f"t{uuid.uuid4().hex[:8]}"))["key"] for _ in range(3)]
        slow = [await SlowUpload(api, key).started() for key in keys[:2]]
        busy = await _upload(api, keys[2])
        _refused(busy, 503, "server_busy")
        assert [(await upload.finish()).status_code for upload in slow] == [202, 202]
        assert (await _upload(api, keys[2])).status_code == 202


def test_the_default_cap_is_what_the_spool_volume_holds() -> None:
    from upload.quotas import max_uploads_of

    hundred_mib, two_gib = 100 * 1024**2, 2 * 1024**3
    assert max_uploads_of(two_gib, hundred_mib, 1) == 16  # 16 x 100 MiB in 80 % of 2 GiB
    assert max_uploads_of(two_gib, hundred_mib, 4) == 4
    assert max_uploads_of(hundred_mib, two_gib, 1) == 1


async def test_a_slot_is_given_back_when_the_upload_is_refused_or_the_client_goes(
    api: httpx.AsyncClient, infra: Infra
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    await _limit(api, tenant, concurrent_uploads=1)
    key = await _key(api, tenant)
    refused = await _upload(api, key["key"], content=b"%PDF-1.7 not a schedule")
    assert refused.status_code == 415, refused.text

    gone = await SlowUpload(api, key["key"]).started()
    _refused(await _upload(api, key["key"]), 429, "too_many_uploads")
    gone.task.cancel()  # the client drops the connection mid-body
    quotas = infra.db["conversion_quotas"]
    for _ in range(200):  # the lease and the place of the abandoned upload given back
        if (await quotas.find_one({"_id": tenant}) or {}).get("uploads") == []:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the abandoned upload's lease was never dropped")
    assert (await quotas.find_one({"_id": tenant}))["jobs"] == []  # nor its place in flight
    assert (await _upload(api, key["key"])).status_code == 202


async def test_a_crashed_process_holds_a_key_slot_only_until_its_lease_lapses(
    infra_settings: InfraSettings, infra: Infra
) -> None:
    async with _served(infra_settings, key_lease_s=1.0) as api:
        tenant = f"t{uuid.uuid4().hex[:8]}"
        await _limit(api, tenant, concurrent_uploads=1)
        key = await _key(api, tenant)
        # what a process killed mid-upload leaves behind: a lease nobody will drop
        crashed = Lease("crashed", key["id"], "cv_never_recorded")
        assert await QuotaRepository(infra.db).take(tenant, crashed, 1, 200, 1.0)
        _refused(await _upload(api, key["key"]), 429, "too_many_uploads")
        await asyncio.sleep(1.2)
        assert (await _upload(api, key["key"])).status_code == 202


async def test_a_tenant_has_at_most_its_jobs_in_flight_and_gets_places_back_as_they_finish(
    api: httpx.AsyncClient, infra: Infra
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    await _limit(api, tenant, jobs_in_flight=2)
    key = (await _key(api, tenant))["key"]
    other_tenant = (await _key(api, f"t{uuid.uuid4().hex[:8]}"))["key"]

    def distinct() -> bytes:  # identical files would reuse one result once it exists
        return SCHEDULE + uuid.uuid4().hex.encode()

    queued = [await _upload(api, key, distinct()) for _ in range(2)]
    assert [response.status_code for response in queued] == [202, 202]
    over = await _upload(api, key, distinct())
    _refused(over, 429, "too_many_jobs")
    assert over.json()["limit"] == 2 and "2 conversions" in over.json()["detail"]
    unread = SlowUpload(api, key)  # refused from memory now, before its body is read
    _refused(await asyncio.wait_for(unread.task, 10), 429, "too_many_jobs")
    assert not unread.reading.is_set()
    assert (await _upload(api, other_tenant, distinct())).status_code == 202

    # the upload worker records a conversion's outcome: its place is free again
    first, second = (response.json()["id"] for response in queued)
    failed: tuple[str, list[str], dict[str, Any]] = (
        first,
        ACTIVE,
        {"status": "failed", "error": {"code": "corrupt_file", "message": "m"}},
    )
    await JobRepository(infra.db).transition_many([failed])
    await asyncio.sleep(FULL_RECHECK_S)  # a tenant found full is refused from memory meanwhile
    assert (await _upload(api, key, distinct())).status_code == 202
    _refused(await _upload(api, key, distinct()), 429, "too_many_jobs")
    # a deleted job frees its place too
    assert (await api.delete(f"/v1/conversions/{second}", headers=_auth(key))).status_code == 204
    await asyncio.sleep(FULL_RECHECK_S)
    assert (await _upload(api, key, distinct())).status_code == 202


async def test_racing_uploads_never_pass_the_limits_even_on_a_tenants_first_upload(
    infra: Infra,
) -> None:
    quotas = QuotaRepository(infra.db)
    leases = [Lease(f"l{n}", f"key{n % 2}", f"cv_{n}") for n in range(20)]
    granted = await asyncio.gather(*(quotas.take("racing", lease, 3, 5, 60) for lease in leases))
    assert sum(granted) == 5  # at most 3 per key, 5 for the tenant
    doc = await infra.db["conversion_quotas"].find_one({"_id": "racing"})
    assert doc is not None and len(doc["jobs"]) == 5
    assert max(sum(1 for u in doc["uploads"] if u["key"] == k) for k in ("key0", "key1")) == 3
