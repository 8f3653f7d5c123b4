"""Webhook signing secrets at rest, against real MongoDB and RabbitMQ: the database holds them
sealed to their webhook, deliveries signed with them verify with the official Standard Webhooks
library, through a rotation too, and secrets stored in plain text by earlier versions keep
signing until start-up seals them."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from notifier.bootstrap import RepositoryDeps, dispatcher
from notifier.handlers import FanOutDeps, fan_out
from notifier.schemas import WebhookCreate
from notifier.service import WebhookService
from notifier.settings import NotifierSettings
from notifier.targets import TargetPolicy
from shared.bootstrap import Infra
from shared.crypto import UnreadableSecret
from shared.messaging import Delivery
from tests.support.notifier import Receiver, completed, eventually, receiver

TENANT = "t-secrets"


class Notifier:
    def __init__(self, infra: Infra) -> None:
        self.collection = infra.db["webhook_subscriptions"]
        self.repos = RepositoryDeps.build(infra)
        self.service = WebhookService(
            self.repos.subscriptions,
            self.repos.deliveries,
            TargetPolicy(allow_http=True, allow_loopback=True),
            timedelta(hours=1),
            timedelta(days=1),
            email_enabled=False,
        )
        config = NotifierSettings(
            retry_schedule_s=[0.1], retry_jitter=0.0, allow_http=True, allow_loopback=True
        )
        self.dispatcher, self.webhooks = dispatcher(infra, self.repos, config)
        self.fan_out = FanOutDeps(
            self.repos.subscriptions,
            self.repos.deliveries,
            self.repos.replay,
            timedelta(hours=1),
            self.dispatcher,
        )

    async def event(self) -> None:
        delivery = Delivery(str(uuid.uuid4()), 1, False, "/test", datetime.now(UTC))
        await fan_out(completed(TENANT), delivery, self.fan_out)

    async def delivered(self, hook: Receiver, count: int) -> list[Any]:
        """``count`` events delivered to ``hook`` by the running dispatcher."""
        task = asyncio.create_task(self.dispatcher.run())
        try:
            for _ in range(count):
                await self.event()
            await eventually(lambda: len(hook.delivered()) == count, 10, "the deliveries")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self.dispatcher.drain()
        return hook.delivered()


@pytest.fixture
async def notifier(infra: Infra) -> AsyncIterator[Notifier]:
    built = Notifier(infra)
    await built.repos.ensure_indexes()
    yield built
    await built.webhooks.client.aclose()


def _verifies(secret: str, request: Any) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except Exception:
        return False
    return True


async def test_the_stored_secret_is_sealed_and_deliveries_verify(notifier: Notifier) -> None:
    async with receiver() as hook:
        created = await notifier.service.create(
            TENANT, WebhookCreate(url=hook.url, events=["conversion.*"])
        )
        secret = created["secrets"][0]["secret"]
        stored = await notifier.collection.find_one({"_id": created["_id"]})
        assert stored is not None
        assert secret not in str(stored) and secret.removeprefix("whsec_") not in str(stored)
        [request] = await notifier.delivered(hook, 1)
    assert _verifies(secret, request)


async def test_a_sealed_secret_copied_to_another_webhook_does_not_open(
    notifier: Notifier,
) -> None:
    request = WebhookCreate(url="http://127.0.0.1:9/hook", events=["conversion.*"])
    first = await notifier.service.create(TENANT, request)
    second = await notifier.service.create(TENANT, request)
    stored = await notifier.collection.find_one({"_id": first["_id"]})
    assert stored is not None
    await notifier.collection.update_one(
        {"_id": second["_id"]}, {"$set": {"secrets": stored["secrets"]}}
    )
    with pytest.raises(UnreadableSecret):
        await notifier.repos.subscriptions.by_id(second["_id"])


async def test_after_a_rotation_both_secrets_sign_and_both_rest_sealed(
    notifier: Notifier,
) -> None:
    async with receiver() as hook:
        created = await notifier.service.create(
            TENANT, WebhookCreate(url=hook.url, events=["conversion.*"])
        )
        old = created["secrets"][0]["secret"]
        rotated = await notifier.service.rotate(TENANT, created["_id"])
        assert rotated is not None
        new = rotated[0]
        stored = await notifier.collection.find_one({"_id": created["_id"]})
        assert stored is not None and len(stored["secrets"]) == 2
        assert old not in str(stored) and new not in str(stored)
        [request] = await notifier.delivered(hook, 1)
    assert _verifies(new, request) and _verifies(old, request)


async def test_a_secret_stored_in_plain_text_keeps_signing_and_is_sealed_at_start(
    notifier: Notifier,
) -> None:
    async with receiver() as hook:
        created = await notifier.service.create(
            TENANT, WebhookCreate(url=hook.url, events=["conversion.*"])
        )
        legacy = created["secrets"][0]["secret"]
        plain = [{"secret": legacy, "expires_at": None}]
        await notifier.collection.update_one({"_id": created["_id"]}, {"$set": {"secrets": plain}})
        [request] = await notifier.delivered(hook, 1)
        assert _verifies(legacy, request)
        assert await notifier.repos.subscriptions.seal_plaintext_secrets() == 1
        stored = await notifier.collection.find_one({"_id": created["_id"]})
        assert stored is not None and legacy not in str(stored)
        opened = await notifier.repos.subscriptions.by_id(created["_id"])
        assert opened is not None and opened["secrets"][0]["secret"] == legacy
