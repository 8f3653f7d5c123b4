"""The converter's subscriber: ``conversion.requested`` -> convert."""

from functools import partial
from typing import TYPE_CHECKING

from converter.handlers import conversion_dead, conversion_requested
from shared import queues
from shared.bootstrap import Infra
from shared.events import ConversionRequested
from shared.messaging import Subscription
from shared.service import subscribe

if TYPE_CHECKING:
    from converter.bootstrap import WorkerDeps

QUEUE = queues.CONVERSION_REQUESTS


def conversion_requests(infra: Infra, deps: "WorkerDeps", prefetch: int) -> Subscription:
    return subscribe(
        infra,
        QUEUE,
        {ConversionRequested: partial(conversion_requested, deps=deps)},
        prefetch=prefetch,
        on_dead=partial(conversion_dead, deps=deps),
    )
