"""Subscribers of the upload worker: converter events update the jobs."""

from functools import partial

from shared.bootstrap import Infra
from shared.events import ConversionCompleted, ConversionFailed, ConversionStarted
from shared.messaging import Subscription
from upload import handlers
from upload.repository import JobRepository

QUEUE = "upload.conversion-events"


def conversion_events(infra: Infra, jobs: JobRepository, prefetch: int) -> Subscription:
    return Subscription(
        infra.broker,
        QUEUE,
        {
            ConversionStarted: partial(handlers.conversion_started, jobs=jobs),
            ConversionCompleted: partial(
                handlers.conversion_completed, jobs=jobs, store=infra.store
            ),
            ConversionFailed: partial(handlers.conversion_failed, jobs=jobs),
        },
        prefetch=prefetch,
        max_attempts=infra.settings.max_delivery_attempts,
        base_delay_ms=infra.settings.retry_base_delay_ms,
    )
