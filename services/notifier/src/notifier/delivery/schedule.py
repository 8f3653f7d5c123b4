"""When a failed attempt is tried again: the configured schedule, jitter, and Retry-After."""

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from shared.clock import now as clock_now

RETRYABLE_STATUS = {408, 425, 429}
RETRY_AFTER_MAX_S = 86400.0  # a receiver asking for longer is tried again after a day


def retryable(status: int | None) -> bool:
    """Network errors (no status), 5xx and 429 are retried; other answers are final."""
    return status is None or status >= 500 or status in RETRYABLE_STATUS


def next_delay(
    schedule: list[float],
    attempt: int,
    jitter: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds before the attempt after ``attempt`` (1-based), or None when none is left.

    The delay is the schedule's, spread by +/- ``jitter`` so a burst of failures does not
    come back at once, and never shorter than what the receiver asked for in Retry-After.
    """
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    spread = base * jitter * (2 * (rng or random).random() - 1)
    return max(base + spread, retry_after_s or 0.0)


def retry_after(
    value: str | None, now: datetime | None = None, cap_s: float = RETRY_AFTER_MAX_S
) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap_s)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - (now or clock_now())).total_seconds(), 0.0), cap_s)
