"""The one clock every service reads: timezone-aware UTC."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def to_millis(moment: datetime) -> datetime:
    """``moment`` as MongoDB stores it: to the millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
