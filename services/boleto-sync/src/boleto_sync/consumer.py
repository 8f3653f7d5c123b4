"""Subscribers of the boleto worker: issue charges, sync PDFs."""

from functools import partial

from boleto_sync.handlers import WorkerDeps, issue_charge, sync_failed, sync_pdf
from shared.events import BoletoSyncRequested, ChargeIssueRequested
from shared.messaging import Broker, Subscription

ISSUE_QUEUE = "boleto-sync.charge-issue"
SYNC_QUEUE = "boleto-sync.pdf-sync"


def subscriptions(
    broker: Broker, deps: WorkerDeps, parallel_pdfs: int, max_attempts: int, base_delay_ms: int
) -> list[Subscription]:
    on_dead = partial(sync_failed, deps=deps)
    return [
        Subscription(
            broker,
            ISSUE_QUEUE,
            {ChargeIssueRequested: partial(issue_charge, deps=deps)},
            prefetch=parallel_pdfs,
            max_attempts=max_attempts,
            base_delay_ms=base_delay_ms,
            on_dead=on_dead,
        ),
        Subscription(
            broker,
            SYNC_QUEUE,
            {BoletoSyncRequested: partial(sync_pdf, deps=deps)},
            prefetch=parallel_pdfs,
            max_attempts=max_attempts,
            base_delay_ms=base_delay_ms,
            on_dead=on_dead,
        ),
    ]
