"""Small client-side helpers for the conversions API, as a user's code would write them."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx


@asynccontextmanager
async def api_client(
    base_url: str, key: str | None = None, timeout: float = 60
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of one API, sending ``key`` as its bearer API key when given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout) as client:
        yield client


async def upload(
    client: httpx.AsyncClient,
    path: Path | None = None,
    *,
    content: bytes | None = None,
    name: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    data = content if content is not None else path.read_bytes()  # type: ignore[union-attr]
    filename = name or (path.name if path else "upload.bin")
    return await client.post(
        "/v1/conversions",
        files={"file": (filename, data, "application/octet-stream")},
        data=fields,
        headers=headers,
    )


async def wait_final(
    client: httpx.AsyncClient, job_id: str, timeout: float = 120
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        response = await client.get(f"/v1/conversions/{job_id}")
        response.raise_for_status()
        job = response.json()
        if job["status"] in ("completed", "failed"):
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


async def convert(client: httpx.AsyncClient, path: Path, **fields: str) -> dict[str, Any]:
    response = await upload(client, path, **fields)
    assert response.status_code == 202, response.text
    return await wait_final(client, response.json()["id"])


async def new_key(base_url: str, admin_key: str, tenant: str) -> str:
    """A new API key of ``tenant``, made with the admin key."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as admin:
        response = await admin.post(
            "/v1/admin/api-keys",
            json={"tenant": tenant},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
    response.raise_for_status()
    return str(response.json()["key"])
