"""Subscribers of the upload worker: converter events update the jobs."""

from functools import partial

from shared import queues
from shared.batching import Batcher
from shared.bootstrap import Infra
from shared.events import ConversionCompleted, ConversionFailed, ConversionStarted
from shared.messaging import Subscription
from shared.service import subscribe
from upload import handlers
from upload.files import JobFiles
from upload.repository import JobRepository

QUEUE = queues.CONVERSION_EVENTS


def conversion_events(
    infra: Infra, jobs: JobRepository, files: JobFiles, prefetch: int
) -> Subscription:
    starts: handlers.Starts = Batcher(jobs.mark_converting)
    outcomes: handlers.Outcomes = Batcher(jobs.transition_many)
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
