"""Subscribers of the notifier worker: every deliverable event is fanned out to its receivers."""

from functools import partial

from notifier.events import DELIVERABLE
from notifier.handlers import FanOut, fan_out
from shared.bootstrap import Infra
from shared.messaging import Subscription

QUEUE = "notifier.deliveries"


def deliverable_events(infra: Infra, deps: FanOut, prefetch: int) -> Subscription:
    handle = partial(fan_out, deps=deps)
    return Subscription(
        infra.broker,
        QUEUE,
        dict.fromkeys(DELIVERABLE, handle),
        prefetch=prefetch,
        max_attempts=infra.settings.max_delivery_attempts,
        base_delay_ms=infra.settings.retry_base_delay_ms,
    )
