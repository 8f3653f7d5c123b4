"""Faults through the whole system: a converter killed mid-batch loses and doubles nothing."""

import asyncio
import uuid
from pathlib import Path

import httpx
from system import System

from tests.support.api import upload, wait_final
from tests.support.events import outcome_listener


async def test_converter_killed_mid_batch_loses_no_job_and_converts_none_twice(
    system: System, admin: httpx.AsyncClient, all_mpp_files: list[Path]
) -> None:
    mpp_files = all_mpp_files  # enough files for the kill to land mid-batch
    key = (
        await admin.post("/v1/admin/api-keys", json={"tenant": f"faults-{uuid.uuid4().hex[:6]}"})
    ).json()
    connection, outcomes, _ = await outcome_listener(system.env["RABBITMQ_URL"])
    async with httpx.AsyncClient(
        base_url=system.base_url, timeout=60, headers={"Authorization": f"Bearer {key['key']}"}
    ) as client:
        responses = await asyncio.gather(*(upload(client, p) for p in mpp_files))
        ids = [r.json()["id"] for r in responses]
        for _ in range(600):
            if sum(1 for job_id in ids if job_id in outcomes) >= 10:
                break
            await asyncio.sleep(0.05)
        finished_before_kill = sum(1 for job_id in ids if job_id in outcomes)
        system.kill("converter")
        assert finished_before_kill < len(ids), (
            "the batch finished before the kill; nothing was tested"
        )
        system.start_converter("converter")
        jobs = await asyncio.gather(*(wait_final(client, job_id, timeout=180) for job_id in ids))
    await asyncio.sleep(1)  # let any duplicate announcement arrive before counting
    await connection.close()
    assert [j["status"] for j in jobs] == ["completed"] * len(ids), [
        j["error"] for j in jobs if j["error"]
    ]
    # a second conversion of a job would announce itself with a second, different event id
    assert {job_id: len(outcomes[job_id]) for job_id in ids} == dict.fromkeys(ids, 1)
