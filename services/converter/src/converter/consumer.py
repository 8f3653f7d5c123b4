"""The converter's subscriber: ``conversion.requested`` -> convert."""

from functools import partial

from converter.handlers import ConverterDeps, conversion_dead, conversion_requested
from shared.events import ConversionRequested
from shared.messaging import Broker, Subscription

QUEUE = "converter.conversion-requested"


def conversion_requests(
    broker: Broker, deps: ConverterDeps, prefetch: int, max_attempts: int, base_delay_ms: int
) -> Subscription:
    return Subscription(
        broker,
        QUEUE,
        {ConversionRequested: partial(conversion_requested, deps=deps)},
        prefetch=prefetch,
        max_attempts=max_attempts,
        base_delay_ms=base_delay_ms,
        on_dead=partial(conversion_dead, deps=deps),
    )
