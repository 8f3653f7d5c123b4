"""Subscribers of the upload worker: converter events update the jobs."""

from functools import partial

from shared.batching import Batcher
from shared.bootstrap import Infra
from shared.events import ConversionCompleted, ConversionFailed, ConversionStarted
from shared.messaging import Subscription
from shared.service import subscribe
from upload import handlers
from upload.files import JobFiles
from upload.repository import JobRepository

QUEUE = "upload.conversion-events"
STARTS_WINDOW_S = 0.25  # how long the jobs that start are gathered into one update


def conversion_events(
    infra: Infra, jobs: JobRepository, files: JobFiles, prefetch: int
) -> Subscription:
    return subscribe(
        infra,
        QUEUE,
        {
            ConversionStarted: partial(
                handlers.conversion_started,
                starts=Batcher(jobs.mark_converting, window_s=STARTS_WINDOW_S),
            ),
            ConversionCompleted: partial(handlers.conversion_completed, jobs=jobs, files=files),
            ConversionFailed: partial(handlers.conversion_failed, jobs=jobs),
        },
        prefetch=prefetch,
    )
