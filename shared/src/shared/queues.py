"""The platform's consumer queues, named once.

Each worker subscribes under its name here, and the operator views (``shared.admin``) list
every one of them from any API, whichever service consumes it.
"""

from shared.messaging.broker import retry_delays

CONVERSION_REQUESTS = "converter.conversion-requested"
CONVERSION_EVENTS = "upload.conversion-events"
CHARGE_ISSUE = "boleto-sync.charge-issue"
PDF_SYNC = "boleto-sync.pdf-sync"
DELIVERIES = "notifier.deliveries"

PLATFORM_QUEUES = (CONVERSION_REQUESTS, CONVERSION_EVENTS, CHARGE_ISSUE, PDF_SYNC, DELIVERIES)

# the start of the reason a job fails with when its message ran out of attempts; a replay
# of that message looks for it to know which failure it may undo
GAVE_UP = "gave up after repeated failures"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queues(queue: str, base_delay_ms: int, max_attempts: int) -> list[str]:
    """The TTL queues a failed message waits in before its next attempt, shortest first."""
    return [f"{queue}.retry.{delay}ms" for delay in retry_delays(base_delay_ms, max_attempts)]
