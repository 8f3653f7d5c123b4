"""Retry timing: the configured schedule, jitter within bounds, Retry-After honoured."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from notifier.delivery.schedule import next_delay, retry_after, retryable
from notifier.settings import DEFAULT_SCHEDULE, NotifierSettings

SCHEDULE = [0.2, 0.4, 0.8]


def test_delays_follow_the_schedule_then_stop() -> None:
    assert [next_delay(SCHEDULE, n, 0.0) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, None]


def test_jitter_spreads_delays_within_its_fraction() -> None:
    rng = random.Random(7)
    delays = [next_delay([10.0], 1, 0.2, rng=rng) for _ in range(500)]
    assert all(8.0 <= d <= 12.0 for d in delays if d is not None)
    assert len({round(d, 3) for d in delays if d is not None}) > 100


def test_retry_after_lengthens_a_delay_never_shortens_it() -> None:
    assert next_delay(SCHEDULE, 1, 0.0, retry_after_s=5.0) == 5.0
    assert next_delay([30.0], 1, 0.0, retry_after_s=5.0) == 30.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after("120") == 120.0
    assert retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert retry_after("999999999") == 86400
    assert retry_after("soon") is None and retry_after(None) is None


@pytest.mark.parametrize(
    "status, expected",
    [
        (None, True),
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (302, False),
    ],
)
def test_what_is_retried(status: int | None, expected: bool) -> None:
    assert retryable(status) is expected


def test_default_schedule_spans_about_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 20 * 3600 <= sum(DEFAULT_SCHEDULE) <= 30 * 3600
    monkeypatch.setenv("NOTIFIER_RETRY_SCHEDULE_S", "0.2, 0.4,0.8")
    settings = NotifierSettings()
    assert settings.retry_schedule_s == SCHEDULE and settings.max_attempts == 4
