"""The events the notifier delivers (including the one it announces itself)."""

from shared.events import (
    BoletoSynced,
    BoletoSyncFailed,
    ChargeIssued,
    ConversionCompleted,
    ConversionFailed,
    Event,
    WebhookEndpointDisabled,
)

DELIVERABLE: list[type[Event]] = [
    ConversionCompleted,
    ConversionFailed,
    ChargeIssued,
    BoletoSynced,
    BoletoSyncFailed,
    WebhookEndpointDisabled,
]
EVENT_NAMES = [model.name for model in DELIVERABLE]
ROUTING_KEYS = [model.routing_key() for model in DELIVERABLE]
