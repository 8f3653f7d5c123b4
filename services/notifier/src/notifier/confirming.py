"""Asking e-mail recipients to confirm: no event mail reaches an address until whoever reads
it opened the single-use link of the confirmation mail sent to it.

A tenant can name any address, so the confirmation mail is the only one an unconfirmed
address gets, and at most one per ``resend_after`` however often the settings are saved.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from notifier.repository.confirmations import ConfirmationRepository
from notifier.repository.deliveries import DeliveryRepository
from shared.clock import now

CHANNEL = "email-confirmation"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Confirmations:
    repository: ConfirmationRepository
    deliveries: DeliveryRepository
    api_url: str  # where the notifier's API is reached from outside, for the link
    ttl: timedelta
    resend_after: timedelta

    async def ask(self, subscription: dict[str, Any], addresses: list[str]) -> list[str]:
        """Send a confirmation mail to each address not asked lately; those asked now."""
        sub_id = subscription["_id"]
        asked = await self.repository.asked_since(sub_id, addresses, now() - self.resend_after)
        fresh = [address for address in addresses if address not in asked]
        tokens = {address: secrets.token_urlsafe(32) for address in fresh}
        at = now()
        await self.repository.add(
            [
                {
                    "_id": digest(token),
                    "tenant": subscription["tenant"],
                    "subscription_id": sub_id,
                    "address": address,
                    "created_at": at,
                    "expires_at": at + self.ttl,
                }
                for address, token in tokens.items()
            ]
        )
        docs = [self._delivery(subscription, a, t) for a, t in tokens.items()]
        await self.deliveries.add_new(docs)
        return fresh

    async def take(self, token: str) -> dict[str, Any] | None:
        return await self.repository.take(digest(token))

    def link(self, token: str) -> str:
        return f"{self.api_url.rstrip('/')}/v1/email/confirm?{urlencode({'token': token})}"

    def _delivery(self, subscription: dict[str, Any], address: str, token: str) -> dict[str, Any]:
        """A pending delivery held by no worker: the next sweep of any worker sends it."""
        at, key, sub_id = now(), digest(token), subscription["_id"]
        body = {"tenant": subscription["tenant"], "address": address, "link": self.link(token)}
        return {
            "_id": f"dlv_{digest(f'{sub_id}:{key}')[:32]}",
            "tenant": subscription["tenant"],
            "subscription_id": sub_id,
            "channel": CHANNEL,
            "event_id": f"confirm_{key[:24]}",
            "event_type": "email.confirmation",
            "subject": sub_id,
            "msg_id": f"confirm_{key[:24]}",
            "body": json.dumps(body).encode(),
            "content_type": "application/json",
            "status": "pending",
            "attempts": [],
            "attempt_count": 0,
            "due_at": at,
            "lease": None,
            "error": None,
            "created_at": at,
            "updated_at": at,
            "event_at": at,
            "trace": {},
        }
