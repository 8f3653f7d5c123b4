"""Subscribers of the upload worker: converter events update the jobs, and the API replicas hear
of each write (a notice) so that their long polls read the change once it is there."""

from functools import partial

from shared.batching import Batcher
from shared.bootstrap import Infra
from shared.events import ConversionCompleted, ConversionFailed, ConversionStarted
from shared.messaging import Subscription
from shared.messaging.notices import announce_recorded
from shared.service import subscribe
from upload import handlers
from upload.files import JobFiles
from upload.repository import COLLECTION, JobRepository, Transition

QUEUE = "upload.conversion-events"


def conversion_events(
    infra: Infra, jobs: JobRepository, files: JobFiles, prefetch: int
) -> Subscription:
    async def mark_converting(job_ids: list[str]) -> None:
        await jobs.mark_converting(job_ids)
        await announce_recorded(
            infra.broker, COLLECTION, {job_id: {"status": "converting"} for job_id in job_ids}
        )

    async def record_outcomes(changes: list[Transition]) -> set[str]:
        gone = await jobs.transition_many(changes)
        recorded = {job_id: {"status": fields["status"]} for job_id, _, fields in changes}
        await announce_recorded(infra.broker, COLLECTION, recorded)
        return gone

    starts: handlers.Starts = Batcher(mark_converting)
    outcomes: handlers.Outcomes = Batcher(record_outcomes)
    return subscribe(
        infra,
        QUEUE,
        {
            ConversionStarted: partial(handlers.conversion_started, starts=starts),
            ConversionCompleted: partial(
                handlers.conversion_completed, outcomes=outcomes, files=files
            ),
            ConversionFailed: partial(handlers.conversion_failed, outcomes=outcomes),
        },
        prefetch=prefetch,
    )
