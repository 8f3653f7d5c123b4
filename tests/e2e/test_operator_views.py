"""The operator views of a running system: every service's queue, seen from upload's API,
and a conversion in the job summary, each view an audit line in upload's log."""

import asyncio
import json
from pathlib import Path

import httpx
from system import System

from shared.queues import PLATFORM_QUEUES
from tests.support.api import convert

# the system's RETRY_BASE_DELAY_MS (200) doubled for each of MAX_DELIVERY_ATTEMPTS (5) - 1
RETRIES = ("200ms", "400ms", "800ms", "1600ms")


async def test_every_platform_queue_is_listed_with_its_consumer(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/v1/admin/queues")
    assert response.status_code == 200, response.text
    views = {view["queue"]: view for view in response.json()["queues"]}
    assert set(views) == set(PLATFORM_QUEUES)
    for queue, view in views.items():
        assert view["declared"] and view["consumers"] >= 1, view
        assert view["dead_letters"] == 0, view
        assert set(view["retrying"]) == {f"{queue}.retry.{delay}" for delay in RETRIES}


async def test_a_conversion_shows_in_the_summary_and_the_view_in_the_audit_log(
    system: System, client: httpx.AsyncClient, admin: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    job = await convert(client, mpp_files[0])
    assert job["status"] == "completed"
    response = await admin.get("/v1/admin/conversions/summary")
    assert response.status_code == 200, response.text
    completed = {s["status"]: s["count"] for s in response.json()["statuses"]}["completed"]
    assert completed >= 1
    assert (await client.get("/v1/admin/conversions/summary")).status_code == 403
    await _audited(system.logs / "upload-api.log", "conversions.summary", {"ok", "forbidden"})


async def _audited(log: Path, action: str, results: set[str]) -> None:
    """Upload's log holds an audit line of ``action`` with each of ``results``, and no key."""
    seen: set[str] = set()
    for _ in range(50):
        text = log.read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        seen = {
            line["result"]
            for line in lines
            if line.get("event") == "admin.audit" and line.get("action") == action
        }
        if results <= seen:
            assert "e2e-admin-key" not in text
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"audit lines of {action}: {seen}, expected {results}")
