"""The events the notifier delivers (including the one it announces itself).

``payment.requested`` is not among them, and must never be: it carries the payer's personal
data (name, CPF/CNPJ, address, e-mail) for boleto-sync alone. Its subscribers learn of the
charge from ``payment.pending``, which says how to pay without saying who pays.

The worker's queue and every stream replica bind these routing keys each time they start, so
a deployment that adds one here gets the binding on its next rollout.
"""

from shared.events import (
    BoletoSynced,
    BoletoSyncFailed,
    ChargeCancelled,
    ChargeFailed,
    ChargeIssued,
    ChargePaid,
    ConversionCompleted,
    ConversionFailed,
    Event,
    PaymentPending,
    WebhookEndpointDisabled,
)

DELIVERABLE: list[type[Event]] = [
    ConversionCompleted,
    ConversionFailed,
    ChargeIssued,
    BoletoSynced,
    BoletoSyncFailed,
    PaymentPending,
    ChargePaid,
    ChargeCancelled,
    ChargeFailed,
    WebhookEndpointDisabled,
]
EVENT_NAMES = [model.name for model in DELIVERABLE]
ROUTING_KEYS = [model.routing_key() for model in DELIVERABLE]
