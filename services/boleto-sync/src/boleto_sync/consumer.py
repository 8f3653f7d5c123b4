"""Subscribers of the boleto worker: paid conversions' charges, issue charges, sync PDFs."""

from functools import partial
from typing import TYPE_CHECKING

from boleto_sync.issuing import issue_charge, issue_gave_up
from boleto_sync.payments import request_payment
from boleto_sync.pdf_sync import sync_failed, sync_pdf
from shared import queues
from shared.bootstrap import Infra
from shared.events import BoletoSyncRequested, ChargeIssueRequested, PaymentRequested
from shared.messaging import Subscription
from shared.service import subscribe

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

ISSUE_QUEUE = queues.CHARGE_ISSUE
SYNC_QUEUE = queues.PDF_SYNC


def subscriptions(infra: Infra, deps: "WorkerDeps", prefetch: int) -> list[Subscription]:
    return [
        subscribe(
            infra,
            ISSUE_QUEUE,
            {
                ChargeIssueRequested: partial(issue_charge, deps=deps),
                PaymentRequested: partial(request_payment, deps=deps),
            },
            prefetch=prefetch,
            on_dead=partial(issue_gave_up, deps=deps),
        ),
        subscribe(
            infra,
            SYNC_QUEUE,
            {BoletoSyncRequested: partial(sync_pdf, deps=deps)},
            prefetch=prefetch,
            on_dead=partial(sync_failed, deps=deps),
        ),
    ]
