"""Event filters: exact names and wildcards, and the messages bad ones get."""

import pytest

from notifier.events import DELIVERABLE, EVENT_NAMES, ROUTING_KEYS
from notifier.filters import InvalidFilter, check, matches, matches_any
from shared.events import (
    ChargeCancelled,
    ChargeFailed,
    ChargePaid,
    PaymentPending,
    PaymentRequested,
)


@pytest.mark.parametrize(
    "pattern, name, expected",
    [
        ("conversion.completed", "conversion.completed", True),
        ("conversion.completed", "conversion.failed", False),
        ("conversion.*", "conversion.completed", True),
        ("conversion.*", "conversion.failed", True),
        ("conversion.*", "charge.issued", False),
        ("boleto.*", "boleto.synced", True),
        ("boleto.*", "boleto.sync.failed", True),
        ("boleto.sync.*", "boleto.synced", False),
        ("boleto.sync.*", "boleto.sync.failed", True),
        ("*.failed", "conversion.failed", True),
        ("*.failed", "boleto.sync.failed", False),
        ("*", "webhook.endpoint.disabled", True),
        ("conversion", "conversion.completed", False),
        ("conversion.completed.extra", "conversion.completed", False),
    ],
)
def test_matching(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_check_normalises_case_and_versions() -> None:
    assert check(" Conversion.Completed ") == "conversion.completed"
    assert check("conversion.completed.v1") == "conversion.completed"


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("nothing.here", "matches no event"),
        ("conversion.started", "matches no event"),
        ("conversion..completed", "not an event filter"),
        ("conversion completed", "not an event filter"),
        ("conversion.**", "not an event filter"),
        ("", "not an event filter"),
    ],
)
def test_bad_filters_say_why(pattern: str, message: str) -> None:
    with pytest.raises(InvalidFilter, match=message):
        check(pattern)


@pytest.mark.parametrize(
    "pattern", ["payment.*", "payment.pending", "charge.*", "charge.paid", "charge.cancelled"]
)
def test_the_payment_events_can_be_subscribed(pattern: str) -> None:
    assert check(pattern) == pattern


def test_payment_requested_is_not_deliverable_it_carries_the_payer() -> None:
    assert PaymentRequested.name not in EVENT_NAMES
    assert PaymentRequested.routing_key() not in ROUTING_KEYS
    assert matches_any(["payment.*"], "payment.pending")
    with pytest.raises(InvalidFilter, match="matches no event"):
        check("payment.requested")


def test_every_paid_flow_event_but_the_request_is_deliverable() -> None:
    assert {PaymentPending, ChargePaid, ChargeCancelled, ChargeFailed} <= set(DELIVERABLE)
