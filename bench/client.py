"""The benchmark's API client: upload a file, poll its job until final, time every step.

aiohttp, not httpx: the client shares the 2 cores with the pipeline it measures, and httpx
spent 2.9 ms of CPU per job (an upload and a long poll) in the throughput rounds.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

FINAL = ("completed", "failed")


@dataclass(frozen=True)
class Outcome:
    """One job as the client saw it; ``*_at`` are wall-clock seconds (comparable with logs)."""

    path: Path
    job_id: str
    status: str
    posted_at: float
    accepted_at: float
    observed_at: float
    updated_at: float  # the job document's updated_at (its final status was recorded)
    polls: int

    @property
    def latency(self) -> float:
        return self.observed_at - self.posted_at


def client(base_url: str, key: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=120),
        connector=aiohttp.TCPConnector(limit=64),
    )


async def new_tenant(base_url: str, admin_key: str) -> str:
    """A tenant of its own, so no file is reused from an earlier round; returns its API key."""
    async with client(base_url, admin_key) as admin:
        tenant = {"tenant": f"bench-{uuid.uuid4().hex[:8]}"}
        async with admin.post("/v1/admin/api-keys", json=tenant) as response:
            response.raise_for_status()
            return str((await response.json())["key"])


async def convert(api: aiohttp.ClientSession, path: Path, content: bytes, poll_s: float) -> Outcome:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=path.name, content_type="application/octet-stream")
    posted_at = time.time()
    async with api.post("/v1/conversions", data=form) as response:
        accepted_at = time.time()
        if response.status != 202:
            text = await response.text()
            raise RuntimeError(f"upload of {path.name} answered {response.status}: {text[:300]}")
        job_id = (await response.json())["id"]
    job, polls = await _final(api, job_id, poll_s)
    return Outcome(
        path,
        job["id"],
        job["status"],
        posted_at,
        accepted_at,
        time.time(),
        epoch_seconds(job["updated_at"]),
        polls,
    )


LONG_POLL_S = 30


async def _final(
    api: aiohttp.ClientSession, job_id: str, poll_s: float, timeout: float = 300
) -> tuple[dict[str, Any], int]:
    """Polls every ``poll_s``, or with ``poll_s`` 0 long-polls (``?wait=``: each request
    answered when the job changes)."""
    deadline, polls = time.monotonic() + timeout, 0
    path = f"/v1/conversions/{job_id}" + ("" if poll_s else f"?wait={LONG_POLL_S}")
    while time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        async with api.get(path) as response:
            response.raise_for_status()
            job: dict[str, Any] = await response.json()
        polls += 1
        if job["status"] in FINAL:
            return job, polls
    raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")


def epoch_seconds(stamp: str) -> float:
    """An ISO 8601 timestamp from a service (API answer or log line) as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
