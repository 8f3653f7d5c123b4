"""Job status follows the converter's events; each handler is idempotent on replays.

The jobs that change while a write is in flight are written together next (``Batcher``):
each handler acknowledges its event after the write that holds its job.
"""

import structlog

from shared.batching import Batcher
from shared.events import ConversionCompleted, ConversionFailed, ConversionStarted
from shared.messaging import Delivery
from upload.files import JobFiles, owned_by_job
from upload.model import ACTIVE, SOURCE, result_document
from upload.payments import Payments
from upload.repository import Transition

log = structlog.get_logger()

Starts = Batcher[str, None]
Outcomes = Batcher[Transition, set[str]]  # the jobs of the write that no longer exist


async def conversion_started(event: ConversionStarted, _: Delivery, starts: Starts) -> None:
    await starts.add(event.job_id)


REFUSED_RESULT = {
    "code": "result_refused",
    "message": "the conversion's result could not be accepted; quote the job id when reporting it",
}


async def conversion_completed(
    event: ConversionCompleted,
    delivery: Delivery,
    outcomes: Outcomes,
    files: JobFiles,
    payments: Payments | None = None,
) -> None:
    if delivery.source == SOURCE:
        # the upload API's own announcement of a reuse: its job was recorded completed when
        # accepted, with an earlier job's result, which is not this job's to take or delete
        return
    if not owned_by_job(event.result_key, event.tenant_id, event.job_id):
        # never record, serve or delete an object outside the job's own prefix
        log.error("conversion.result_key_refused", result_key=event.result_key[:300])
        await outcomes.add((event.job_id, ACTIVE, {"status": "failed", "error": REFUSED_RESULT}))
        return
    changes = {
        "status": "completed",
        "result": result_document(event),
        "error": None,
        "source.format": event.manifest.source_format,
    }
    if event.job_id in await outcomes.add((event.job_id, ACTIVE, changes)):
        # deleted while converting: the converter's late result must not stay behind
        await files.remove_result(event.result_key, event.job_id)
        log.info("conversion.result_of_deleted_job_removed", job_id=event.job_id)
    elif (
        event.payment_required and payments is not None
    ):  # also on a redelivery: the request may not have been written
        await payments.after_completion(event.job_id)


async def conversion_failed(event: ConversionFailed, _: Delivery, outcomes: Outcomes) -> None:
    error = {"code": event.code, "message": event.message}
    await outcomes.add((event.job_id, ACTIVE, {"status": "failed", "error": error}))
