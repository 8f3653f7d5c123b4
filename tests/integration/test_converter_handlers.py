"""The converter's request handler against real JVMs, MongoDB, RabbitMQ and storage: a job's
outcome is announced once, however often its request arrives, and a redelivery of a converted
job does not convert it again. A worker killed under a job does not fail it; a file that kills
every worker it is given does, as `crashed`."""

import asyncio
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import pytest

from converter.bootstrap import WorkerDeps
from converter.handlers import conversion_dead, conversion_requested
from converter.pool import ConverterPool
from converter.repository import ConversionRecords
from shared.bootstrap import Infra
from shared.clock import now
from shared.events import ConversionFailed, ConversionOptions, ConversionRequested
from shared.messaging import Delivery, OutboxRelay, encode, outbox_entry
from shared.storage import ObjectNotFound
from tests.support.events import captured_bodies
from tests.support.worker_kills import kill_the_worker_reading, open_when_read


@pytest.fixture
async def deps(infra: Infra, tmp_path: Path) -> AsyncIterator[WorkerDeps]:
    pool = ConverterPool(1, 256, 60, tmp_path / "work")
    await pool.start()
    records = ConversionRecords(infra.db, timedelta(hours=1))
    await records.ensure_indexes()
    relay = OutboxRelay(records.outbox, infra.broker)
    try:
        yield WorkerDeps(
            pool, infra.store, records, relay, infra.broker, tmp_path, 10**8, infra.sealer
        )
    finally:
        await pool.close()


async def _outcomes(infra: Infra) -> tuple[aio_pika.abc.AbstractConnection, list[bytes]]:
    """The outcome events published on the test's exchange from now on."""
    return await captured_bodies(
        infra.settings.rabbitmq_url,
        "conversion.completed.v1",
        "conversion.failed.v1",
        exchange_name=infra.broker.exchange_name,
    )


async def _request(infra: Infra, source: Path) -> ConversionRequested:
    job_id = f"cv_{uuid.uuid4().hex}"
    key = f"acme/{job_id}/source.mpp"
    writer = infra.store.writer(key)
    writer.write(source.read_bytes())
    stored = await writer.commit()
    return ConversionRequested(
        tenant_id="acme",
        job_id=job_id,
        source_key=key,
        source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        source_size=stored.size,
        filename=source.name,
        options=ConversionOptions(target="json"),
        result_key=f"acme/{job_id}/result.json",
    )


def _delivery(attempt: int = 1, redelivered: bool = False) -> Delivery:
    return Delivery(f"evt-{uuid.uuid4().hex}", attempt, redelivered, "/test", datetime.now(UTC))


async def _settle(announced: list[bytes], at_least: int) -> None:
    for _ in range(50):
        if len(announced) >= at_least:
            await asyncio.sleep(0.3)  # and nothing more follows
            return
        await asyncio.sleep(0.1)


async def test_a_request_published_twice_is_announced_once(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """Two first deliveries of one job (its request published twice): both convert, the
    first outcome recorded is the only one announced."""
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[0])
        await conversion_requested(request, _delivery(), deps)
        await conversion_requested(request, _delivery(), deps)
        await asyncio.gather(
            conversion_requested(request, _delivery(), deps),
            conversion_requested(request, _delivery(), deps),
        )
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert len(announced) == 1
    record = await infra.db["converter_records"].find_one({"_id": request.job_id})
    assert record is not None and record["outcome"]["job_id"] == request.job_id


async def test_a_conversion_leaves_no_files_in_the_work_folder(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.mpp"
    garbage.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))
    for source in (mpp_files[0], garbage):  # a completion and a failure
        await conversion_requested(await _request(infra, source), _delivery(), deps)
    assert sorted(path.name for path in deps.work_dir.glob("job-*")) == []


async def test_a_redelivered_request_of_a_converted_job_is_not_converted_again(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[1])
        await conversion_requested(request, _delivery(), deps)
        await infra.store.delete(request.result_key)
        await conversion_requested(request, _delivery(attempt=2), deps)
        await conversion_requested(request, _delivery(redelivered=True), deps)
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert len(announced) == 1
    with pytest.raises(ObjectNotFound):  # no conversion wrote it again
        await infra.store.size(request.result_key)


async def test_a_redelivery_leaves_a_fresh_outcome_to_its_writer_and_publishes_an_abandoned_one(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """The outcome is recorded, not yet published: its writer is still at it (a redelivery
    publishing it too would send it twice), or died (once the entry is older than the relay's
    ``abandoned_after``, the redelivery publishes it, as the sweep would)."""
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[1])
        failed = ConversionFailed(
            tenant_id="acme", job_id=request.job_id, code="internal", message="x"
        )
        entry = outbox_entry(encode(failed, "/test"))
        await deps.records.finish(request.job_id, "acme", failed.model_dump(mode="json"), entry)
        await conversion_requested(request, _delivery(redelivered=True), deps)
        await asyncio.sleep(0.5)
        assert announced == [], "its writer's to publish"
        abandoned = now() - deps.relay.abandoned_after - timedelta(seconds=1)
        await infra.db["converter_records"].update_one(
            {"_id": request.job_id}, {"$set": {"outbox.0.queued_at": abandoned}}
        )
        await conversion_requested(request, _delivery(redelivered=True), deps)
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert [json.loads(body)["code"] for body in announced] == ["internal"]
    record = await deps.records.get(request.job_id)
    assert record is not None and record["outbox"] == []


async def test_a_replayed_request_of_a_job_that_gave_up_converts_it_then_never_again(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """Replayed from the DLQ after the converter gave up on it: the give-up failure is
    forgotten and the job converts; a second replay finds it completed and converts nothing."""
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[2])
        await conversion_dead(request, "RuntimeError: the JVM pool was broken", deps)
        await _settle(announced, 1)
        replayed = replace(_delivery(), replayed=True)
        await conversion_requested(request, replayed, deps)
        await _settle(announced, 2)
        await infra.store.delete(request.result_key)
        await conversion_requested(request, replayed, deps)
        await asyncio.sleep(0.5)
    finally:
        await connection.close()
    types = [json.loads(body).get("manifest") is not None for body in announced]
    assert types == [False, True], "a failure, then the completion, and nothing after"
    with pytest.raises(ObjectNotFound):  # the second replay did not convert again
        await infra.store.size(request.result_key)


def _source_as_fifo(infra: Infra, request: ConversionRequested) -> Path:
    """The stored source becomes a FIFO: the worker that opens it waits there to be killed."""
    source = infra.store.local_path(request.source_key)
    assert source is not None, "the tests' storage is a local folder"
    source.unlink()
    os.mkfifo(source)
    return source


async def test_a_job_whose_worker_is_killed_completes(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[2])
        source = _source_as_fifo(infra, request)
        handling = asyncio.create_task(conversion_requested(request, _delivery(), deps))
        await kill_the_worker_reading(source, then_serve=mpp_files[2])
        await handling
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert [json.loads(body)["job_id"] for body in announced] == [request.job_id]
    assert "result_key" in json.loads(announced[0])
    assert await infra.store.size(request.result_key) > 0
    assert deps.pool.restarts == 1


async def test_a_file_that_kills_every_worker_fails_as_crashed(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[3])
        source = _source_as_fifo(infra, request)
        handling = asyncio.create_task(conversion_requested(request, _delivery(), deps))
        for _ in range(2):
            await kill_the_worker_reading(source)
        await asyncio.wait_for(handling, 30)
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert len(announced) == 1
    failed = json.loads(announced[0])
    assert failed["job_id"] == request.job_id and failed["code"] == "crashed"
    assert failed["message"] == "the file crashed the converter 2 times; it was not converted"
    assert deps.pool.restarts == 2
    assert await deps.records.lost_attempts(request.job_id) == 0  # it came out of the JVM


async def test_a_job_its_converter_died_under_twice_fails_as_crashed_when_redelivered(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """Two converter processes died while the job was in one of their JVMs: the first under
    its first delivery (which leaves no mark: the redelivery tells), the second under the
    redelivery, whose mark is left as a process killed outright leaves it. The next delivery
    fails it, converting nothing, instead of handing it to a third converter."""
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[3])
        await deps.records.entered_jvm(request.job_id)
        await conversion_requested(request, _delivery(redelivered=True), deps)
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert len(announced) == 1
    failed = json.loads(announced[0])
    assert failed["job_id"] == request.job_id and failed["code"] == "crashed"
    assert failed["message"] == (
        "the converter stopped 2 times while converting the file; it was not tried again"
    )
    with pytest.raises(ObjectNotFound):
        await infra.store.size(request.result_key)


async def test_a_job_its_converter_died_under_once_gets_one_more_attempt(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """One lost attempt (a redelivery with no mark: the first delivery's converter died) may
    be an eviction that had nothing to do with the file: it converts, and the redelivery's
    own mark is gone once it came out of the JVM."""
    connection, announced = await _outcomes(infra)
    try:
        request = await _request(infra, mpp_files[4])
        await conversion_requested(request, _delivery(redelivered=True), deps)
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert "result_key" in json.loads(announced[0])
    assert await deps.records.lost_attempts(request.job_id) == 0


async def test_a_first_delivery_costs_no_mark(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """Most jobs are delivered once: their conversion writes no mark at all."""
    request = await _request(infra, mpp_files[4])
    entered = deps.records.entered_jvm
    calls: list[str] = []

    async def counted(job_id: str) -> None:
        calls.append(job_id)
        await entered(job_id)

    deps.records.entered_jvm = counted  # type: ignore[method-assign]
    try:
        await conversion_requested(request, _delivery(), deps)
    finally:
        deps.records.entered_jvm = entered  # type: ignore[method-assign]
    assert calls == []
    assert await deps.records.get(request.job_id) is not None


async def test_a_job_that_fails_in_the_jvm_leaves_no_mark(
    infra: Infra, deps: WorkerDeps, tmp_path: Path
) -> None:
    """A failure the JVM reports (and a retry after a fault outside it) is no lost attempt."""
    garbage = tmp_path / "garbage.mpp"
    garbage.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))
    request = await _request(infra, garbage)
    await conversion_requested(request, _delivery(redelivered=True), deps)
    record = await deps.records.get(request.job_id)
    assert record is not None and record["outcome"]["code"] == "corrupt_file"
    assert await deps.records.lost_attempts(request.job_id) == 0


async def _starts_and_outcomes(infra: Infra) -> tuple[aio_pika.abc.AbstractConnection, list[bytes]]:
    return await captured_bodies(
        infra.settings.rabbitmq_url,
        "conversion.started.v1",
        "conversion.completed.v1",
        "conversion.failed.v1",
        exchange_name=infra.broker.exchange_name,
    )


def _kinds(bodies: list[bytes], job_id: str) -> list[str]:
    """Each event's kind, from its data (the type travels in a header)."""
    events = [event for event in map(json.loads, bodies) if event["job_id"] == job_id]
    return [
        "completed" if "result_key" in e else "failed" if "code" in e else "started" for e in events
    ]


async def test_a_quick_conversion_is_not_announced_started(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    """Most files convert in tens of milliseconds: queued, then their outcome, with no start
    (a write of the upload worker and a notice to each API replica fewer)."""
    connection, announced = await _starts_and_outcomes(infra)
    try:
        request = await _request(infra, mpp_files[0])
        await conversion_requested(request, _delivery(), replace(deps, started_after_s=30))
        await _settle(announced, 1)
    finally:
        await connection.close()
    assert _kinds(announced, request.job_id) == ["completed"]


async def test_a_conversion_that_takes_a_while_is_announced_started_before_its_outcome(
    infra: Infra, deps: WorkerDeps, mpp_files: list[Path]
) -> None:
    connection, announced = await _starts_and_outcomes(infra)
    try:
        request = await _request(infra, mpp_files[0])
        source = _source_as_fifo(infra, request)  # the JVM waits there for the file's bytes
        converting = asyncio.create_task(
            conversion_requested(request, _delivery(), replace(deps, started_after_s=0.2))
        )
        writer = await open_when_read(source)
        try:
            for _ in range(100):  # announced while the JVM still has it
                if announced:
                    break
                await asyncio.sleep(0.05)
            assert _kinds(announced, request.job_id) == ["started"]
            source.unlink()  # the JVM reads nothing from the FIFO, then opens the file
            shutil.copyfile(mpp_files[0], source)
        finally:
            os.close(writer)
        await asyncio.wait_for(converting, 60)
        await _settle(announced, 2)
    finally:
        await connection.close()
    assert _kinds(announced, request.job_id) == ["started", "completed"]
