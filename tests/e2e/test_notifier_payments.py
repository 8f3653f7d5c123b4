"""The paid flow's events through the running notifier: webhooks and the stream get
payment.pending and charge.paid, signed, once each; payment.requested (the payer's data)
reaches nobody; the e-mails say how to pay, then where to download."""

import asyncio
import json
import uuid

import httpx
from standardwebhooks.webhooks import Webhook
from system import System

from tests.support.mail import Inbox, confirm, confirmation_token, smtp_server
from tests.support.notifier import (
    Receiver,
    Stream,
    charge_paid,
    completed,
    eventually,
    new_tenant,
    payment_pending,
    payment_requested,
    publish,
    receiver,
    sse,
)

PAYER_DATA = ("Maria Pagadora", "12345678909", "maria@example.com")


async def test_payment_events_reach_webhooks_and_the_stream_and_the_payer_nobody(
    system: System,
) -> None:
    tenant, key = await new_tenant(system.base_url, system.admin_key)
    # the running boleto-sync acts on the request (its own events about that job are fine)
    job, requested = f"cv_{uuid.uuid4().hex}", f"cv_{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=system.notifier_url, headers=headers, timeout=30) as n,
        receiver() as payments,
        receiver() as everything,
    ):
        hooks = {}
        for hook, events in ((payments, ["payment.*", "charge.*"]), (everything, ["*"])):
            created = await n.post("/v1/webhooks", json={"url": hook.url, "events": events})
            assert created.status_code == 201, created.text
            hooks[hook.url] = created.json()
        refused = await n.post(
            "/v1/webhooks", json={"url": payments.url, "events": ["payment.requested"]}
        )
        assert refused.status_code == 422 and "matches no event" in refused.text
        async with sse(system.notifier_url, key) as stream:
            await publish(
                system.env["RABBITMQ_URL"],
                payment_requested(tenant, requested),
                payment_pending(tenant, job),
                charge_paid(tenant, job),
            )
            for hook in (payments, everything):
                await eventually(lambda h=hook: len(of(h, job)) >= 2, 30, "both deliveries")
            await eventually(lambda: len(streamed(stream, job)) >= 2, 30, "both on the stream")
            await asyncio.sleep(1.5)  # a duplicate, or the request, would arrive in this window
        for hook in (payments, everything):
            secret = hooks[hook.url]["secret"]
            for delivery in hook.requests:
                Webhook(secret).verify(delivery.body, delivery.headers)
                assert not any(personal in delivery.body.decode() for personal in PAYER_DATA)
            assert sorted(of(hook, job)) == ["charge.paid.v1", "payment.pending.v1"]
            assert all(kind != "payment.requested.v1" for kind in of(hook, requested))
        assert sorted(streamed(stream, job)) == ["charge.paid.v1", "payment.pending.v1"]
        assert "payment.requested.v1" not in [kind for _, kind, _ in stream.events]
        for webhook in hooks.values():
            listed = await n.get(f"/v1/webhooks/{webhook['id']}/deliveries")
            types = [item["event_type"] for item in listed.json()["items"]]
            assert "payment.requested" not in types


def of(hook: Receiver, job: str) -> list[str]:
    """The types of the deliveries about ``job``."""
    events = [json.loads(delivery.body) for delivery in hook.requests]
    return [event["type"] for event in events if event["data"].get("job_id") == job]


def streamed(stream: Stream, job: str) -> list[str]:
    return [kind for _, kind, event in stream.events if event["data"].get("job_id") == job]


async def test_a_paid_conversions_mails_say_how_to_pay_then_where_to_download(
    system: System,
) -> None:
    tenant, key = await new_tenant(system.base_url, system.admin_key)
    job = f"cv_{uuid.uuid4().hex}"
    conversion = f"{system.base_url}/v1/conversions/{job}"
    headers = {"Authorization": f"Bearer {key}"}
    with smtp_server(int(system.env["NOTIFIER_SMTP_PORT"]), Inbox()) as inbox:
        async with httpx.AsyncClient(
            base_url=system.notifier_url, headers=headers, timeout=30
        ) as n:
            response = await n.put("/v1/email", json={"recipients": ["payer@example.com"]})
            assert response.status_code == 200, response.text
            await eventually(lambda: len(inbox.messages) >= 1, 30, "the confirmation mail")
            await confirm(system.notifier_url, confirmation_token(inbox.texts()[0]))
            inbox.messages.clear()
            paid = completed(tenant, job).model_copy(update={"payment_required": True})
            await publish(system.env["RABBITMQ_URL"], paid)
            await eventually(lambda: len(inbox.messages) >= 1, 30, "the completion mail")
            await publish(system.env["RABBITMQ_URL"], payment_pending(tenant, job))
            await eventually(lambda: len(inbox.messages) >= 2, 30, "the payment mail")
            await publish(system.env["RABBITMQ_URL"], charge_paid(tenant, job))
            await eventually(lambda: len(inbox.messages) >= 3, 30, "the payment received mail")
            await asyncio.sleep(1.0)
            assert (await n.delete("/v1/email")).status_code == 204
    # long subjects arrive folded (CRLF and a space), as mail allows; a reader unfolds them
    subjects = [str(message["Subject"]).replace("\r\n", "") for _, message in inbox.messages]
    assert subjects == [
        f"Conversion {job} completed: result released once paid",
        f"Conversion {job} completed: payment due",
        f"Conversion {job}: payment received",
    ]
    done, due, received = inbox.texts()
    assert "released once it is paid" in done and "Download it with" not in done
    assert "R$ 9,90" in due and "10/12/2026" in due
    assert payment_pending(tenant, job).pix_copia_e_cola in due
    assert f"{conversion}/payment/boleto.pdf" in due and f"{conversion}/result" in due
    assert f"{conversion}/result" in received
    assert not any(personal in text for text in (done, due, received) for personal in PAYER_DATA)
