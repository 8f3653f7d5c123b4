"""Faults injected into a running system while real conversions are in flight (`make chaos`).

Every scenario asserts what a user must be able to count on: no answer is a 500, every job
accepted completes exactly once (one webhook delivery of its completion), and a process that
is serving stays ready. The figures go to docs/resilience.md.
"""

import asyncio
import os
import resource
import signal
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.chaos.conftest import Chaos, Tenant, new_tenant_of, ready_urls
from tests.support.chaos import Outcome, Traffic, measure
from tests.support.notifier import receiver

BATCH = 24  # uploaded just before each fault, so the fault lands mid-batch
APIS = ("upload-api", "notifier-api")
WORKERS = ("upload-worker", "converter", "notifier-worker")


async def _scenario(
    name: str,
    chaos: Chaos,
    tenant: Tenant,
    files: list[Path],
    fault: Callable[[], object],
    heal: Callable[[], object],
    *,
    hold_s: float,
    after_s: float = 6.0,
    probed: tuple[str, ...] = APIS + WORKERS,
) -> Outcome:
    async with receiver() as hook:
        response = await tenant.notifier.post(
            "/v1/webhooks", json={"url": hook.url, "events": ["conversion.completed"]}
        )
        assert response.status_code == 201, response.text
        traffic = Traffic(tenant.api, files, ready_urls(chaos.system, *probed))
        async with traffic:
            batch = await asyncio.gather(*(traffic.upload(p) for p in files[:BATCH]))
            assert all(a.status == 202 for a in batch), batch
            await asyncio.to_thread(fault)
            await asyncio.sleep(hold_s)
            await asyncio.to_thread(heal)
            healed_at = traffic.now()
            await asyncio.sleep(after_s)
        return await measure(name, traffic, hook, healed_at)


def _assert_ready(outcome: Outcome) -> None:
    """No serving process said it was not ready, and none missed three probes in a row (a
    probe with no answer in 2 s, under a flood, counts as a miss: Kubernetes's default
    failureThreshold of 3 is what takes a pod out of its Service)."""
    assert outcome.not_ready == 0, outcome
    assert outcome.longest_unready_streak < 3, outcome


def _assert_nothing_lost(outcome: Outcome) -> None:
    assert outcome.answers_500 == 0, outcome
    assert outcome.accepted >= BATCH, outcome
    assert outcome.completed == outcome.accepted, outcome
    assert (outcome.failed, outcome.lost, outcome.duplicates) == (0, 0, 0), outcome


async def test_broker_stopped_and_back(
    chaos: Chaos, tenant: Tenant, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    outcome = await _scenario(
        "broker stopped 15 s", chaos, tenant, all_mpp_files,
        chaos.broker.cut, chaos.broker.restore, hold_s=15,
    )  # fmt: skip
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.answers_503 == 0, "uploads are accepted while only the broker is down"
    _assert_ready(outcome)


async def test_database_killed_and_restarted(
    chaos: Chaos, tenant: Tenant, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    outcome = await _scenario(
        "database killed 15 s", chaos, tenant, all_mpp_files,
        chaos.kill_database, chaos.start_database, hold_s=15,
    )  # fmt: skip
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.answers_503 > 0, "requests needing the database said so while it was down"
    assert outcome.slowest_503_s < 1.0, outcome
    _assert_ready(outcome)
    assert outcome.recovery_s is not None, outcome


async def test_object_storage_unreachable(
    s3_chaos: Chaos, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    assert s3_chaos.storage is not None
    async with new_tenant_of(s3_chaos.system) as tenant:
        outcome = await _scenario(
            "S3 unreachable 10 s", s3_chaos, tenant, all_mpp_files,
            s3_chaos.storage.cut, s3_chaos.storage.restore, hold_s=10,
        )  # fmt: skip
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.answers_503 > 0, "uploads said the store was unreachable"
    assert outcome.slowest_503_s < 1.0, outcome
    _assert_ready(outcome)


async def test_disk_full_on_the_object_store(
    chaos: Chaos, tenant: Tenant, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    filler = chaos.objects / "filler"

    def fill() -> None:
        """Reserve every free block (fallocate: at once, whatever is being written)."""
        with filler.open("wb") as fh:
            size = 0
            for step in (1 << 23, 1 << 16, 1 << 12):
                with suppress(OSError):
                    while True:
                        os.posix_fallocate(fh.fileno(), size, step)
                        size += step

    outcome = await _scenario(
        "object store's disk full 10 s", chaos, tenant, all_mpp_files,
        fill, lambda: filler.unlink(), hold_s=10,
    )  # fmt: skip
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.answers_503 > 0, "uploads said the store was full"
    assert outcome.slowest_503_s < 1.0, outcome
    _assert_ready(outcome)


@pytest.mark.parametrize("process", WORKERS)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_worker_stopped_mid_batch(
    chaos: Chaos,
    tenant: Tenant,
    all_mpp_files: list[Path],
    outcomes: list[Outcome],
    process: str,
    sig: signal.Signals,
) -> None:
    """The process gets the signal mid-batch and is started again a second later, as its
    supervisor (`make run`, Kubernetes) would."""

    def stop() -> None:
        chaos.system.processes[process].send_signal(sig)
        chaos.system.processes[process].wait(60)

    def start_again() -> None:
        chaos.system.restart(process)
        chaos.system.wait_ready(process)

    outcome = await _scenario(
        f"{process} {sig.name} mid-batch", chaos, tenant, all_mpp_files, stop, start_again,
        hold_s=1, probed=tuple(p for p in APIS + WORKERS if p != process),
    )  # fmt: skip
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.answers_503 == 0, outcome
    _assert_ready(outcome)


FLOOD = 1000


async def test_upload_flood_keeps_every_process_ready(
    chaos: Chaos, tenant: Tenant, mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    """1000 connections each upload a small file at once (each file its own, so each is
    converted): every one is answered 202, and no process stops being ready meanwhile. (How
    fast they are answered is bench/load.py's to measure, with a leaner client than this
    one, which shares the machine's two cores with the system.)"""
    small = min(mpp_files, key=lambda p: p.stat().st_size)
    content = small.read_bytes()
    _raise_open_file_limit()
    async with receiver() as hook:
        response = await tenant.notifier.post(
            "/v1/webhooks", json={"url": hook.url, "events": ["conversion.completed"]}
        )
        assert response.status_code == 201, response.text
        limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
        traffic = Traffic(tenant.api, [], ready_urls(chaos.system, *APIS, *WORKERS), 0)
        async with (
            traffic,
            httpx.AsyncClient(
                base_url=chaos.system.base_url, headers=tenant.api.headers, limits=limits
            ) as flood,
        ):
            # each file its own (a trailing counter), so none is served by reuse
            files = (content + i.to_bytes(4, "big") for i in range(FLOOD))
            await asyncio.gather(*(traffic.upload(small, body, flood) for body in files))
            done_at = traffic.now()
        outcome = await measure(f"{FLOOD} uploads at once", traffic, hook, done_at)
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    assert outcome.accepted == FLOOD, outcome
    _assert_ready(outcome)


def _raise_open_file_limit() -> None:
    """A connection is a file: 1000 at once need more than the usual soft limit of 1024."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
