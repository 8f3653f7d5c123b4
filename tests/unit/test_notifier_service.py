"""The subscription API's decisions, through its routes, over in-memory repositories."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from notifier.bootstrap import ApiDeps
from notifier.endpoints import router
from notifier.service import WebhookService, email_subscription_id
from notifier.stream import LiveStream, StreamHub
from notifier.targets import TargetPolicy
from shared.auth import Principal, require_principal
from shared.clock import now
from shared.http.problems import install_problem_handlers

TENANT = "t-service"


class Subscriptions:
    """SubscriptionRepository's behaviour, in memory."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def add(self, doc: dict[str, Any]) -> None:
        self.docs[doc["_id"]] = doc

    async def get(
        self, tenant: str, sub_id: str, channel: str = "webhook"
    ) -> dict[str, Any] | None:
        doc = self.docs.get(sub_id)
        return doc if doc and (doc["tenant"], doc["channel"]) == (tenant, channel) else None

    async def delete(self, tenant: str, sub_id: str, channel: str = "webhook") -> bool:
        return await self.get(tenant, sub_id, channel) is not None and bool(self.docs.pop(sub_id))

    async def replace_email(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.docs[doc["_id"]] = {**self.docs.get(doc["_id"], {}), **doc}
        return self.docs[doc["_id"]]

    async def enable(self, tenant: str, sub_id: str) -> dict[str, Any] | None:
        doc = await self.get(tenant, sub_id)
        if doc is not None:
            doc.update(status="enabled", disabled=None, updated_at=now())
        return doc


class Deliveries:
    """DeliveryRepository's cancel_pending, in memory."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def pending(self, sub_id: str) -> dict[str, Any]:
        doc = {"subscription_id": sub_id, "status": "pending", "error": None, "lease": "w1"}
        self.docs.append(doc)
        return doc

    async def cancel_pending(self, sub_id: str, reason: str, expires_at: datetime) -> None:
        for doc in self.docs:
            if doc["subscription_id"] == sub_id and doc["status"] == "pending":
                doc.update(status="failed", error=reason, lease=None, expires_at=expires_at)


def webhook(webhook_id: str, status: str = "enabled") -> dict[str, Any]:
    at = now()
    disabled = {"at": at, "failures": 20, "reason": "20 failed attempts in a row"}
    return {
        "_id": webhook_id,
        "tenant": TENANT,
        "channel": "webhook",
        "url": "https://hooks.example/h",
        "events": ["conversion.*"],
        "status": status,
        "disabled": disabled if status == "disabled" else None,
        "secrets": [],
        "created_at": at,
        "updated_at": at,
    }


class Api:
    def __init__(self, client: httpx.AsyncClient, subscriptions: Any, deliveries: Any) -> None:
        self.client, self.subscriptions, self.deliveries = client, subscriptions, deliveries


@asynccontextmanager
async def serving(email_enabled: bool = True) -> AsyncIterator[Api]:
    subscriptions, deliveries = Subscriptions(), Deliveries()
    service = WebhookService(
        subscriptions,  # type: ignore[arg-type]
        deliveries,  # type: ignore[arg-type]
        TargetPolicy(),
        timedelta(hours=1),
        timedelta(days=7),
        email_enabled=email_enabled,
    )
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.dependency_overrides[require_principal] = lambda: Principal("k1", TENANT, admin=False)
    stream = LiveStream(StreamHub(10), None, 10, 1.0)  # type: ignore[arg-type]
    app.state.deps = ApiDeps(service, stream)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        yield Api(client, subscriptions, deliveries)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serving() as running:
        yield running


async def test_deleting_the_email_settings_cancels_their_pending_emails(api: Api) -> None:
    put = await api.client.put("/v1/email", json={"recipients": ["pm@example.com"]})
    assert put.status_code == 200, put.text
    emails = api.deliveries.pending(email_subscription_id(TENANT))
    other = api.deliveries.pending("wh_other")
    assert (await api.client.delete("/v1/email")).status_code == 204
    assert emails["status"] == "failed" and emails["lease"] is None
    assert emails["error"] == "the e-mail notifications were turned off"
    assert other["status"] == "pending"  # another subscription's deliveries are not touched
    assert (await api.client.delete("/v1/email")).status_code == 404


async def test_deleting_a_webhook_cancels_its_pending_deliveries(api: Api) -> None:
    await api.subscriptions.add(webhook("wh_1"))
    pending = api.deliveries.pending("wh_1")
    assert (await api.client.delete("/v1/webhooks/wh_1")).status_code == 204
    assert pending["status"] == "failed" and pending["error"] == "the webhook was deleted"


async def test_enabling_a_disabled_webhook_goes_through_the_service(api: Api) -> None:
    await api.subscriptions.add(webhook("wh_1", status="disabled"))
    with capture_logs() as logs:
        response = await api.client.post("/v1/webhooks/wh_1/enable")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "enabled" and response.json()["disabled"] is None
    assert {"event": "webhook.enabled", "webhook_id": "wh_1", "log_level": "info"} in logs
    missing = await api.client.post("/v1/webhooks/wh_2/enable")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_email_settings_are_refused_without_an_smtp_server() -> None:
    async with serving(email_enabled=False) as api:
        response = await api.client.put("/v1/email", json={"recipients": ["pm@example.com"]})
        assert response.status_code == 409 and response.json()["code"] == "email_unavailable"
        assert api.subscriptions.docs == {}
