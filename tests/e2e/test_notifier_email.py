"""Completion e-mails, received by a real SMTP server (aiosmtpd) the test starts."""

import asyncio
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from system import System

from tests.support.api import upload, wait_final
from tests.support.mail import CONFIRMATION_LINK, confirm, confirmation_token
from tests.support.notifier import completed, eventually, new_tenant, publish


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


@pytest.fixture
def inbox(system: System) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(
        handler, hostname="127.0.0.1", port=int(system.env["NOTIFIER_SMTP_PORT"])
    )
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


async def test_completion_email_reaches_the_tenants_recipients(
    system: System, inbox: Inbox, mpp_files: list[Path]
) -> None:
    _, key = await new_tenant(system.base_url, system.admin_key)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=system.notifier_url, headers=headers, timeout=30) as n:
        settings = {"recipients": ["ops@example.com", "pm@example.com"]}
        response = await n.put("/v1/email", json=settings)
        assert response.status_code == 200, response.text
        assert response.json()["events"][:2] == ["conversion.completed", "conversion.failed"]
        assert {"payment.pending", "charge.paid"} <= set(response.json()["events"])
        assert (await n.get("/v1/email")).json()["recipients"] == settings["recipients"]
        bad = await n.put("/v1/email", json={"recipients": ["not an address"]})
        assert bad.status_code == 422 and "e-mail address" in bad.text
        # each recipient confirms first; until then it gets nothing but the confirmation
        await eventually(lambda: len(inbox.messages) >= 2, 30, "the confirmation mails")
        for _, asked in inbox.messages:
            await confirm(system.notifier_url, confirmation_token(_text(asked)))
        assert (await n.get("/v1/email")).json()["confirmed"] == settings["recipients"]
        inbox.messages.clear()
        async with httpx.AsyncClient(base_url=system.base_url, headers=headers, timeout=60) as api:
            job = await wait_final(api, (await upload(api, mpp_files[2])).json()["id"])
        await eventually(lambda: len(inbox.messages) >= 1, 30, "the e-mail")
        await asyncio.sleep(1.0)
        assert (await n.delete("/v1/email")).status_code == 204
        assert (await n.get("/v1/email")).status_code == 404
    [(recipients, message)] = inbox.messages
    assert recipients == settings["recipients"]
    assert message["Subject"] == f"Conversion {job['id']} completed"
    assert f"{system.base_url}/v1/conversions/{job['id']}/result" in _text(message)


def _text(message: Message) -> str:
    return message.get_payload(decode=True).decode()  # type: ignore[union-attr,no-any-return]


class HeldInbox:
    """Holds the first event mail until released, then refuses it for now (451, retried
    later); accepts every later one, and every confirmation mail (its token kept)."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.accepted: list[list[str]] = []
        self.tokens: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        text = _text(message_from_bytes(content))
        if CONFIRMATION_LINK.search(text):
            self.tokens.append(confirmation_token(text))
            return "250 OK"
        if not self.held.is_set():
            self.held.set()
            await asyncio.to_thread(self.release.wait, 10)
            return "451 4.3.0 try again later"
        self.accepted.append(list(envelope.rcpt_tos))
        return "250 OK"


async def test_emails_not_sent_yet_are_dropped_with_the_email_settings(system: System) -> None:
    """Turning e-mail off and on again must not send what was pending before, to anyone."""
    tenant, key = await new_tenant(system.base_url, system.admin_key)
    inbox = HeldInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=int(system.env["NOTIFIER_SMTP_PORT"]))
    controller.start()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            base_url=system.notifier_url, headers=headers, timeout=30
        ) as n:
            assert (await n.put("/v1/email", json={"recipients": ["old@example.com"]})).is_success
            await eventually(lambda: bool(inbox.tokens), 30, "the confirmation mail")
            await confirm(system.notifier_url, inbox.tokens[0])
            await publish(system.env["RABBITMQ_URL"], completed(tenant))
            await eventually(inbox.held.is_set, 30, "the first attempt")
            assert (await n.delete("/v1/email")).status_code == 204  # while it is in flight
            assert (await n.put("/v1/email", json={"recipients": ["new@example.com"]})).is_success
            inbox.release.set()  # the attempt fails for now: retried, unless it was cancelled
            await asyncio.sleep(3.0)  # past the retry schedule and the worker's 2 s cache
            assert (await n.delete("/v1/email")).status_code == 204
    finally:
        inbox.release.set()
        controller.stop()
    assert inbox.accepted == []
