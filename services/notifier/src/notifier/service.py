"""Decisions behind the subscription API: webhooks (create, rotate, enable, delete, their
deliveries) and each tenant's e-mail settings."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from notifier.confirming import Confirmations
from notifier.delivery.signing import new_secret
from notifier.repository.deliveries import DeliveryRepository
from notifier.repository.subscriptions import SubscriptionRepository
from notifier.schemas import EmailSettings, WebhookCreate
from notifier.targets import Resolver, TargetPolicy
from shared.clock import now
from shared.pagination import Cursor, Page
from shared.tenants import TenantLimits, TenantSettings

log = structlog.get_logger()


class EmailUnavailable(Exception):
    """The platform has no SMTP server, so e-mail notifications cannot be set up."""


class ConfirmationInvalid(Exception):
    """The confirmation link is unknown, used already, expired, or its address was removed."""


class WebhookLimitReached(Exception):
    """The tenant has as many webhooks as its limit allows."""


@dataclass
class WebhookService:
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    policy: TargetPolicy
    secret_grace: timedelta
    delivery_retention: timedelta
    email_enabled: bool
    resolver: Resolver | None = None
    tenants: TenantSettings | None = None  # the tenants' limits; the defaults without it
    confirmations: Confirmations | None = None  # None: recipients are not asked to confirm

    async def create(self, tenant: str, request: WebhookCreate) -> dict[str, Any]:
        """Store a webhook whose URL passed the target policy; TargetRefused otherwise, and
        WebhookLimitReached when the tenant has its limit's worth already (checked before
        the insert: creations racing each other may pass it by as many as race)."""
        await self._check_room(tenant)
        await self.policy.resolve(request.url, self.resolver)
        created = now()
        doc = {
            "_id": f"wh_{secrets.token_hex(12)}",
            "tenant": tenant,
            "channel": "webhook",
            "url": request.url,
            "events": request.events,
            "description": request.description,
            "status": "enabled",
            "disabled": None,
            "secrets": [{"secret": new_secret(), "expires_at": None}],
            "created_at": created,
            "updated_at": created,
        }
        await self.subscriptions.add(doc)
        log.info("webhook.created", webhook_id=doc["_id"], events=request.events)
        return doc

    async def _check_room(self, tenant: str) -> None:
        cap = (await self.tenants.limits(tenant) if self.tenants else TenantLimits()).webhooks
        if await self.subscriptions.count(tenant, cap) >= cap:
            raise WebhookLimitReached(
                f"this tenant has {cap} webhooks, its limit; delete one to add another"
            )

    async def get(self, tenant: str, webhook_id: str) -> dict[str, Any] | None:
        return await self.subscriptions.get(tenant, webhook_id)

    async def of_tenant(self, tenant: str) -> list[dict[str, Any]]:
        return await self.subscriptions.of_tenant(tenant)

    async def rotate(self, tenant: str, webhook_id: str) -> tuple[str, dict[str, Any]] | None:
        secret = new_secret()
        doc = await self.subscriptions.rotate(tenant, webhook_id, secret, now() + self.secret_grace)
        if doc is None:
            return None
        log.info("webhook.secret_rotated", webhook_id=webhook_id)
        return secret, doc

    async def enable(self, tenant: str, webhook_id: str) -> dict[str, Any] | None:
        """Enable a webhook again (after it was disabled for failing), its failures forgotten."""
        doc = await self.subscriptions.enable(tenant, webhook_id)
        if doc is None:
            return None
        log.info("webhook.enabled", webhook_id=webhook_id)
        return doc

    async def delete(self, tenant: str, webhook_id: str) -> bool:
        if not await self._delete(tenant, webhook_id, "webhook", "the webhook was deleted"):
            return False
        log.info("webhook.deleted", webhook_id=webhook_id)
        return True

    async def delivery_page(
        self, tenant: str, webhook_id: str, status: str | None, limit: int, cursor: str | None
    ) -> Page | None:
        """A page of the webhook's deliveries, None without such a webhook; InvalidCursor when
        the cursor is not one a page gave."""
        if await self.subscriptions.get(tenant, webhook_id) is None:
            return None
        after = Cursor.decode(cursor) if cursor else None
        return await self.deliveries.page(webhook_id, status, limit, after)

    async def set_email(self, tenant: str, settings: EmailSettings) -> dict[str, Any]:
        """Store the tenant's e-mail settings and ask each recipient not confirmed yet to
        confirm (a recipient removed loses its confirmation); EmailUnavailable without an
        SMTP server."""
        if not self.email_enabled:
            raise EmailUnavailable("this platform has no SMTP server configured")
        before = await self.get_email(tenant) or {}
        confirmed = [r for r in settings.recipients if r in before.get("confirmed", [])]
        doc = await self.subscriptions.replace_email(
            {
                "_id": email_subscription_id(tenant),
                "tenant": tenant,
                "channel": "email",
                "recipients": settings.recipients,
                "confirmed": confirmed,
                "events": settings.events,
                "status": "enabled",
                "created_at": now(),
                "updated_at": now(),
            }
        )
        if self.confirmations is not None:
            waiting = [r for r in settings.recipients if r not in confirmed]
            asked = await self.confirmations.ask(doc, waiting)
            log.info("email.confirmation_asked", tenant=tenant, asked=len(asked))
        return doc

    async def confirm_email(self, token: str) -> str:
        """Confirm the recipient a confirmation link was sent to; its address."""
        taken = await self.confirmations.take(token) if self.confirmations else None
        if taken is None:
            raise ConfirmationInvalid("the link is not valid: unknown, used already or expired")
        if not await self.subscriptions.confirm_recipient(
            taken["subscription_id"], taken["address"]
        ):
            raise ConfirmationInvalid("the address is no longer among the recipients")
        log.info("email.recipient_confirmed", tenant=taken["tenant"])
        return str(taken["address"])

    async def get_email(self, tenant: str) -> dict[str, Any] | None:
        return await self.subscriptions.get(tenant, email_subscription_id(tenant), "email")

    async def delete_email(self, tenant: str) -> bool:
        """Stop e-mailing the tenant; the e-mails not sent yet are not sent at all."""
        reason = "the e-mail notifications were turned off"
        if not await self._delete(tenant, email_subscription_id(tenant), "email", reason):
            return False
        log.info("email.deleted", tenant=tenant)
        return True

    async def _delete(self, tenant: str, sub_id: str, channel: str, reason: str) -> bool:
        """Delete a subscription and fail its pending deliveries (a subscription set up again
        under the same id must not inherit them)."""
        if not await self.subscriptions.delete(tenant, sub_id, channel):
            return False
        await self.deliveries.cancel_pending(sub_id, reason, now() + self.delivery_retention)
        return True


def email_subscription_id(tenant: str) -> str:
    return f"em_{tenant}"
