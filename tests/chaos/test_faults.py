"""Faults injected into a running system while real conversions are in flight (`make chaos`).

Every scenario asserts what a user must be able to count on: no answer is a 500, every job
accepted completes exactly once (one webhook delivery of its completion), and a process that
is serving stays ready. The figures go to docs/resilience.md.
"""

import asyncio
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.chaos.conftest import Chaos, Tenant, new_tenant_of, ready_urls
from tests.support.api import api_client
from tests.support.chaos import Outcome, Traffic, measure
from tests.support.inter import charge_body
from tests.support.makerun import children
from tests.support.notifier import Receiver, receiver

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
        await _subscribe(tenant, hook)
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


async def _subscribe(tenant: Tenant, hook: Receiver) -> None:
    response = await tenant.notifier.post(
        "/v1/webhooks", json={"url": hook.url, "events": ["conversion.completed"]}
    )
    assert response.status_code == 201, response.text


def _judge(outcome: Outcome, outcomes: list[Outcome], *, outage: bool) -> None:
    """Recorded for docs/resilience.md, then held to the bars: with ``outage`` (a dependency
    was down) requests were told so, each within a second; without, nobody was refused."""
    outcomes.append(outcome)
    _assert_nothing_lost(outcome)
    if outage:
        assert outcome.answers_503 > 0, "requests needing the dependency said it was down"
        assert outcome.slowest_503_s < 1.0, outcome
    else:
        assert outcome.answers_503 == 0, outcome
    _assert_ready(outcome)


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
    _judge(outcome, outcomes, outage=False)  # uploads wait in the outbox for the broker


async def test_database_killed_and_restarted(
    chaos: Chaos, tenant: Tenant, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    outcome = await _scenario(
        "database killed 15 s", chaos, tenant, all_mpp_files,
        chaos.kill_database, chaos.start_database, hold_s=15,
    )  # fmt: skip
    _judge(outcome, outcomes, outage=True)
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
    _judge(outcome, outcomes, outage=True)


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
    _judge(outcome, outcomes, outage=True)


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
    _judge(outcome, outcomes, outage=False)


FLOOD = 1000
# The flood's client waits this long for each answer. The 1,000 answers come one after another
# from two cores that the system shares with this client, so the last comes tens of seconds
# after the first (22 s here, more on a slower runner); how soon is bench/load.py's figure
# (docs/benchmarks.md), this scenario's is that every upload is answered 202.
FLOOD_TIMEOUT_S = 180


@pytest.mark.timeout(900)
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
        await _subscribe(tenant, hook)
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
            await asyncio.gather(
                *(traffic.upload(small, body, flood, FLOOD_TIMEOUT_S) for body in files)
            )
            done_at = traffic.now()
        outcome = await measure(
            f"{FLOOD} uploads at once", traffic, hook, done_at, delivery_timeout=300
        )
    _judge(outcome, outcomes, outage=False)
    assert outcome.accepted == FLOOD, outcome


def _raise_open_file_limit() -> None:
    """A connection is a file: 1000 at once need more than the usual soft limit of 1024."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


CHARGES = 20
UNSETTLED = {"PENDING", "EM_PROCESSAMENTO"}  # ours before the bank answers; the bank's own


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_boleto_worker_stopped_mid_batch(
    s3_chaos: Chaos, outcomes: list[Outcome], sig: signal.Signals
) -> None:
    """Charges requested just before boleto-sync's worker gets the signal are each issued at
    the bank exactly once, by the worker started after it."""
    system = s3_chaos.system
    run = uuid.uuid4().hex[:8]
    async with (
        new_tenant_of(system) as tenant,
        api_client(system.boleto_url, tenant.key) as boletos,
        api_client(system.simulator_url) as bank,
    ):
        before = (await bank.get("/_sim/stats")).json()["charges"]["total"]
        began = time.monotonic()
        created = await asyncio.gather(
            *(
                boletos.post("/v1/boletos", json=charge_body(seuNumero=f"C{run}{i:03d}"))
                for i in range(CHARGES)
            )
        )
        assert [r.status_code for r in created] == [202] * CHARGES
        process = system.processes["boleto-worker"]
        process.send_signal(sig)
        await asyncio.to_thread(process.wait, 60)
        await asyncio.to_thread(system.restart, "boleto-worker")
        await asyncio.to_thread(system.wait_ready, "boleto-worker")
        healed = time.monotonic()
        statuses = await _boleto_statuses(boletos, [r.json()["id"] for r in created], 120)
        issued_s = time.monotonic() - healed
        at_bank = (await bank.get("/_sim/stats")).json()["charges"]["total"] - before
    issued = sum(status == "A_RECEBER" for status in statuses)
    outcome = Outcome(
        scenario=f"boleto-worker {sig.name} mid-batch ({CHARGES} charges)",
        accepted=CHARGES, completed=issued, failed=CHARGES - issued, lost=CHARGES - at_bank,
        duplicates=max(0, at_bank - CHARGES), retransmitted=0, answers_500=0, answers_503=0,
        slowest_503_s=0.0, p95_503_s=0.0, refused=0, slowest_upload_s=0.0, not_ready=0,
        unanswered_probes=0, longest_unready_streak=0, recovery_s=healed - began,
        drained_s=issued_s, delivered_s=issued_s,
    )  # fmt: skip
    outcomes.append(outcome)
    assert statuses == ["A_RECEBER"] * CHARGES, statuses
    assert at_bank == CHARGES, f"{at_bank} charges at the bank for {CHARGES} requested"


async def _boleto_statuses(boletos: httpx.AsyncClient, ids: list[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = [(await boletos.get(f"/v1/boletos/{i}")).json()["status"] for i in ids]
        if not set(statuses) & UNSETTLED or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.5)


async def test_converter_jvms_killed_mid_batch(
    chaos: Chaos, tenant: Tenant, all_mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    """Every JVM of the converter SIGKILLed mid-batch (as the kernel's OOM killer would): the
    jobs they held go to the JVMs that replace them; none fails."""
    converter = chaos.system.processes["converter"].pid

    def kill_the_jvms() -> None:
        jvms = _jvms(converter)
        assert jvms, "the converter has no JVM processes to kill"
        for pid in jvms:
            os.kill(pid, signal.SIGKILL)

    outcome = await _scenario(
        "converter's JVMs SIGKILLed mid-batch", chaos, tenant, all_mpp_files,
        kill_the_jvms, lambda: None, hold_s=1,
    )  # fmt: skip
    _judge(outcome, outcomes, outage=False)


def _jvms(converter: int) -> list[int]:
    """The converter's JVM worker processes (spawned by multiprocessing; not its resource
    tracker)."""
    return [
        pid
        for pid in children(converter)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
