"""Decisions of the converter: convert a requested job once, and announce its outcome once."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry.trace import Span

from converter.errors import ConversionError
from converter.metrics import JobLabels, finished, in_jvm
from converter.pool import JOB_FILE_PREFIX
from shared.crypto import ExpiredSecret, UnreadableSecret, password_context
from shared.events import (
    ConversionCompleted,
    ConversionFailed,
    ConversionRequested,
    ConversionStarted,
    Event,
    Manifest,
)
from shared.formats import media_type
from shared.messaging import Broker, Delivery, encode, outbox_entry
from shared.queues import GAVE_UP
from shared.storage import ObjectNotFound, ObjectStore
from shared.telemetry import tracer

if TYPE_CHECKING:
    from converter.bootstrap import WorkerDeps

log = structlog.get_logger()
SOURCE = "/services/converter"


async def conversion_requested(
    event: ConversionRequested, delivery: Delivery, deps: "WorkerDeps"
) -> None:
    if delivery.replayed:  # an operator put the request back after giving up on it
        await deps.records.forget_gave_up(event.job_id)
    if delivery.attempt > 1 or delivery.redelivered or delivery.replayed:  # perhaps converted
        record = await deps.records.get(event.job_id)
        if record is not None:  # only make sure its outcome was announced
            await deps.relay.flush(event.job_id, deps.relay.left_behind(record.get("outbox", [])))
            log.info("conversion.duplicate_skipped", job_id=event.job_id, attempt=delivery.attempt)
            await _forget_password(event, deps)
            return
    outcome: Event
    labels = JobLabels(event.options.target)
    start = StartAnnouncement(event, deps.broker, deps.started_after_s)
    try:
        outcome = await _convert(event, delivery, deps, labels, start)
    except ConversionError as exc:
        outcome = ConversionFailed(
            tenant_id=event.tenant_id, job_id=event.job_id, code=exc.code, message=exc.message
        )
    finally:
        await start.settle()
    await record_outcome(event.job_id, outcome, deps, labels)
    await _forget_password(event, deps)


async def record_outcome(
    job_id: str, outcome: Event, deps: "WorkerDeps", labels: JobLabels
) -> None:
    """The first outcome recorded for the job is the one announced (and counted): a second
    copy of the request (published twice, not redelivered) converts again but announces
    nothing new."""
    entry = outbox_entry(encode(outcome, SOURCE))
    recorded = await deps.records.finish(
        job_id, outcome.tenant_id, outcome.model_dump(mode="json"), entry
    )
    if entry in recorded:
        finished(labels, outcome)
    else:  # the first copy's outcome: announced by its handler unless that one died
        recorded = deps.relay.left_behind(recorded)
    await deps.relay.flush(job_id, recorded)
    log.info(
        "conversion.finished",
        job_id=job_id,
        outcome=outcome.routing_key(),
        code=getattr(outcome, "code", None),
    )


class StartAnnouncement:
    """``conversion.started``, once the job has been in a JVM for ``after_s``.

    Best effort: the status 'converting' is informative, the outcome event is what counts.
    Most files convert in tens of milliseconds; announcing each would cost the upload worker a
    write and every API replica a notice per job, and wake each long poll twice. A job shows
    `converting` once a JVM has spent ``after_s`` on it; a quicker one goes from `queued` to its
    outcome (a job waiting for a free JVM is still `queued`).
    """

    def __init__(self, event: ConversionRequested, broker: Broker, after_s: float) -> None:
        self.event, self.broker, self.after_s = event, broker, after_s
        self._task: asyncio.Task[None] | None = None
        self._sending = False

    def in_jvm(self) -> None:
        """The job went to a JVM: the announcement is due in ``after_s`` (from the first)."""
        if self._task is None:
            self._task = asyncio.create_task(self._announce())

    async def settle(self) -> None:
        """The conversion is over: an announcement not sent yet never will be; one on its way
        is waited for, so that it leaves before the outcome."""
        if self._task is None:
            return
        if self._sending:
            await self._task
        else:
            self._task.cancel()

    async def _announce(self) -> None:
        await asyncio.sleep(self.after_s)
        self._sending = True
        event = self.event
        try:
            await self.broker.publish(
                encode(ConversionStarted(tenant_id=event.tenant_id, job_id=event.job_id), SOURCE)
            )
        except Exception:
            log.warning("conversion.start_not_announced", job_id=event.job_id, exc_info=True)


async def _convert(
    event: ConversionRequested,
    delivery: Delivery,
    deps: "WorkerDeps",
    labels: JobLabels,
    start: StartAnnouncement,
) -> ConversionCompleted:
    if event.source_size > deps.max_source_bytes:
        raise ConversionError("too_large", f"the source exceeds {deps.max_source_bytes} bytes")
    marking = await _refuse_poison(event.job_id, delivery, deps)
    with job_files(deps.work_dir) as (fetched, output):
        source = await _local_source(event.source_key, deps.store, fetched)
        labels.read_format(source, event.source_size)
        job: dict[str, Any] = {
            "source": source,
            "output": output,
            "target": event.options.target,
            "password": await _password(event, deps),
            "timephased": event.options.timephased,
        }
        with jvm_span(event) as span, in_jvm(labels):
            manifest = await _convert_in_jvm(event.job_id, job, deps, marking, start)
            span.set_attribute("conversion.source_format", manifest["source_format"])
        stored = await deps.store.put_file(event.result_key, output)
    return ConversionCompleted(
        tenant_id=event.tenant_id,
        job_id=event.job_id,
        result_key=stored.key,
        size=stored.size,
        sha256=stored.sha256,
        media_type=media_type(event.options.target),
        manifest=Manifest.model_validate(manifest),
        payment_required=event.payment_required,
    )


async def _refuse_poison(job_id: str, delivery: Delivery, deps: "WorkerDeps") -> bool:
    """Whether this attempt is marked while a JVM has it. A first delivery is not: marks cost
    two writes, and most jobs are delivered once. A redelivery (the broker gives a message
    back when its consumer's link went away) counts the delivery before it as lost, and the
    marks of any lost since; a job lost as often as a file may take down a JVM worker fails
    instead of taking down another converter."""
    if not delivery.redelivered:
        return False
    lost = await deps.records.lost_attempts(job_id) + 1
    if lost >= deps.pool.max_crashes:
        log.warning("conversion.poison_refused", job_id=job_id, lost_attempts=lost)
        raise ConversionError(
            "crashed",
            f"the converter stopped {lost} times while converting the file; it was not tried again",
        )
    return True


async def _convert_in_jvm(
    job_id: str,
    job: dict[str, Any],
    deps: "WorkerDeps",
    marking: bool,
    start: StartAnnouncement,
) -> dict[str, Any]:
    """The conversion, marked in the database while a JVM has it (``marking``): a mark still
    there on a redelivery means the converter process died under the job."""
    marked = False

    async def mark() -> None:
        nonlocal marked
        start.in_jvm()
        if marking and not marked:
            await deps.records.entered_jvm(job_id)
            marked = True

    try:
        return await deps.pool.convert(job, mark)
    finally:
        if marked:
            await _unmark(job_id, deps)


async def _unmark(job_id: str, deps: "WorkerDeps") -> None:
    try:
        await deps.records.left_jvm(job_id)
    except Exception:  # the next delivery may take this attempt for a lost one; no more
        log.warning("conversion.jvm_mark_kept", job_id=job_id, exc_info=True)


@contextmanager
def jvm_span(event: ConversionRequested) -> Iterator[Span]:
    """The conversion in a JVM worker, where a job's time mostly goes; a failure's code (the
    one the user sees) is its outcome."""
    with tracer.start_as_current_span(
        "jvm convert",
        attributes={
            "conversion.format": Path(event.filename).suffix.lstrip(".").lower(),
            "conversion.target": event.options.target,
            "conversion.input_bytes": event.source_size,
        },
    ) as span:
        try:
            yield span
        except ConversionError as exc:
            span.set_attribute("conversion.outcome", exc.code)
            raise
        span.set_attribute("conversion.outcome", "ok")


async def _password(event: ConversionRequested, deps: "WorkerDeps") -> str | None:
    if event.password_key is None:
        return None
    try:
        sealed = b"".join([chunk async for chunk in deps.store.read(event.password_key)])
        return deps.sealer.open(sealed, password_context(event.tenant_id, event.job_id)).decode()
    except ObjectNotFound:
        raise ConversionError(
            "internal", "the password given for the file is no longer stored"
        ) from None
    except ExpiredSecret:
        raise ConversionError(
            "internal", "the password given for the file expired before its turn; upload again"
        ) from None
    except UnreadableSecret:
        log.error("conversion.password_unreadable", job_id=event.job_id)
        message = "the password given for the file cannot be read"
        raise ConversionError("internal", message) from None


async def _forget_password(event: ConversionRequested, deps: "WorkerDeps") -> None:
    """Once the job has its outcome, whichever it is, its read password has no use left."""
    if event.password_key:
        await deps.store.delete(event.password_key)


@contextmanager
def job_files(work_dir: Path) -> Iterator[tuple[Path, Path]]:
    """Where a job's source is fetched to (unless the store has it on this disk) and its
    result written, in the work folder: files, not a folder per job, whose creation and
    removal took a tenth of the converter's CPU. Named after this process, so that a
    converter starting on the same folder removes what a dead one left
    (``ConverterPool.start``)."""
    base = work_dir / f"{JOB_FILE_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    fetched, output = base.with_suffix(".source"), base.with_suffix(".result")
    try:
        yield fetched, output
    finally:
        fetched.unlink(missing_ok=True)
        output.unlink(missing_ok=True)


async def _local_source(key: str, store: ObjectStore, target: Path) -> Path:
    local = store.local_path(key)
    if local is not None:
        if not local.exists():
            raise ConversionError("internal", "the source file is no longer stored")
        return local
    try:
        await store.get_file(key, target)
    except ObjectNotFound:
        raise ConversionError("internal", "the source file is no longer stored") from None
    return target


async def conversion_dead(event: Event, reason: str, deps: "WorkerDeps") -> None:
    """After the last retry: the job fails with a reason instead of vanishing."""
    if isinstance(event, ConversionRequested):
        failed = ConversionFailed(
            tenant_id=event.tenant_id,
            job_id=event.job_id,
            code="internal",
            message=f"{GAVE_UP}: {reason[:300]}",
        )
        await record_outcome(event.job_id, failed, deps, JobLabels(event.options.target))
        await _forget_password(event, deps)
