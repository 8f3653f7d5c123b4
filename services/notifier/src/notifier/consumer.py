"""Subscribers of the notifier worker: every deliverable event is fanned out to its receivers."""

from functools import partial

from notifier.events import DELIVERABLE
from notifier.handlers import FanOutDeps, fan_out
from shared import queues
from shared.bootstrap import Infra
from shared.messaging import Subscription
from shared.service import subscribe

QUEUE = queues.DELIVERIES


def deliverable_events(infra: Infra, deps: FanOutDeps, prefetch: int) -> Subscription:
    handle = partial(fan_out, deps=deps)
    return subscribe(infra, QUEUE, dict.fromkeys(DELIVERABLE, handle), prefetch=prefetch)
