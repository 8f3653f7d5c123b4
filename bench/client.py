"""The benchmark's API client: upload a file, poll its job until final, time every step."""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

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


def client(base_url: str, key: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120, limits=limits
    )


async def new_tenant(base_url: str, admin_key: str) -> str:
    """A tenant of its own, so no file is reused from an earlier round; returns its API key."""
    async with client(base_url, admin_key) as admin:
        response = await admin.post(
            "/v1/admin/api-keys", json={"tenant": f"bench-{uuid.uuid4().hex[:8]}"}
        )
        response.raise_for_status()
        return str(response.json()["key"])


async def convert(api: httpx.AsyncClient, path: Path, content: bytes, poll_s: float) -> Outcome:
    posted_at = time.time()
    response = await api.post(
        "/v1/conversions", files={"file": (path.name, content, "application/octet-stream")}
    )
    accepted_at = time.time()
    if response.status_code != 202:
        raise RuntimeError(
            f"upload of {path.name} answered {response.status_code}: {response.text[:300]}"
        )
    job, polls = await _final(api, response.json()["id"], poll_s)
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
    api: httpx.AsyncClient, job_id: str, poll_s: float, timeout: float = 300
) -> tuple[dict[str, Any], int]:
    """Polls every ``poll_s``, or with ``poll_s`` 0 long-polls (``?wait=``: each request
    answered when the job changes)."""
    deadline, polls = time.monotonic() + timeout, 0
    path = f"/v1/conversions/{job_id}" + ("" if poll_s else f"?wait={LONG_POLL_S}")
    while time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        response = await api.get(path)
        polls += 1
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        if job["status"] in FINAL:
            return job, polls
    raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")


def epoch_seconds(stamp: str) -> float:
    """An ISO 8601 timestamp from a service (API answer or log line) as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
