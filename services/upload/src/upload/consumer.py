"""Subscribers of the upload worker: converter events update the jobs, boleto-sync's events
their payments."""

from functools import partial

from shared import queues
from shared.batching import Batcher
from shared.bootstrap import Infra
from shared.events import (
    ChargeCancelled,
    ChargeFailed,
    ChargePaid,
    ConversionCompleted,
    ConversionFailed,
    ConversionStarted,
    PaymentPending,
)
from shared.messaging import Subscription
from shared.service import subscribe
from upload import handlers, payment_handlers
from upload.files import JobFiles
from upload.payments import Payments
from upload.repository import JobRepository

QUEUE = queues.CONVERSION_EVENTS


def conversion_events(
    infra: Infra,
    jobs: JobRepository,
    files: JobFiles,
    prefetch: int,
    payments: Payments,
) -> Subscription:
    starts: handlers.Starts = Batcher(jobs.mark_converting)
    outcomes: handlers.Outcomes = Batcher(jobs.transition_many)
    records = payments.payments
    return subscribe(
        infra,
        QUEUE,
        {
            ConversionStarted: partial(handlers.conversion_started, starts=starts),
            ConversionCompleted: partial(
                handlers.conversion_completed, outcomes=outcomes, files=files, payments=payments
            ),
            ConversionFailed: partial(handlers.conversion_failed, outcomes=outcomes),
            PaymentPending: partial(payment_handlers.payment_pending, payments=records),
            ChargePaid: partial(payment_handlers.charge_paid, payments=records),
            ChargeCancelled: partial(payment_handlers.charge_cancelled, payments=records),
            ChargeFailed: partial(payment_handlers.charge_failed, payments=records),
        },
        prefetch=prefetch,
    )
