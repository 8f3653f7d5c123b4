"""``notifier.signing.verify``: the verification helper docs/webhooks.md offers subscribers.

The signatures themselves live with the delivery engine (``notifier.delivery.signing``).
"""

from notifier.delivery.signing import InvalidSignature, verify

__all__ = ["InvalidSignature", "verify"]
