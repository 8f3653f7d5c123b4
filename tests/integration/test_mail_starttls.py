"""Mail leaves only over an encrypted connection unless plain SMTP is allowed explicitly."""

import json
import uuid
from pathlib import Path
from typing import Any

from bootstrap import free_port

from notifier.delivery.mail import EmailSender
from notifier.settings import NotifierSettings
from tests.support.mail import Inbox, self_signed, smtp_server
from tests.support.notifier import completed


def _delivery() -> dict[str, Any]:
    event = completed("t-mail")
    body = {"type": "conversion.completed.v1", "data": event.model_dump(mode="json")}
    return {"_id": "dlv_1", "msg_id": str(uuid.uuid4()), "body": json.dumps(body).encode()}


SUBSCRIPTION = {
    "_id": "em_t-mail",
    "recipients": ["pm@example.com"],
    "confirmed": ["pm@example.com"],
}


def _sender(port: int, **overrides: Any) -> EmailSender:
    return EmailSender(
        NotifierSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_s=5, **overrides)
    )


async def test_starttls_is_required_by_default_and_nothing_goes_out_in_clear() -> None:
    port = free_port()
    with smtp_server(port, Inbox()) as inbox:
        outcome = await _sender(port).send(_delivery(), SUBSCRIPTION)
    assert not outcome.ok and outcome.retry
    assert "STARTTLS" in (outcome.error or "")
    assert inbox.commands == [] and inbox.messages == []


async def test_mail_goes_out_once_the_session_is_encrypted(tmp_path: Path) -> None:
    port, certificate = free_port(), self_signed(tmp_path)
    with smtp_server(port, Inbox(), certificate) as inbox:
        sender = _sender(port, smtp_ca_file=str(certificate[0]))
        outcome = await sender.send(_delivery(), SUBSCRIPTION)
    assert outcome.ok, outcome.error
    assert inbox.encrypted == [True]
    assert inbox.messages[0][0] == ["pm@example.com"]


async def test_an_unknown_certificate_is_refused(tmp_path: Path) -> None:
    port = free_port()
    with smtp_server(port, Inbox(), self_signed(tmp_path)) as inbox:
        outcome = await _sender(port).send(_delivery(), SUBSCRIPTION)
    assert not outcome.ok
    assert inbox.commands == []


async def test_plain_smtp_when_allowed_explicitly() -> None:
    port = free_port()
    with smtp_server(port, Inbox()) as inbox:
        outcome = await _sender(port, smtp_allow_plain=True).send(_delivery(), SUBSCRIPTION)
    assert outcome.ok, outcome.error
    assert inbox.encrypted == [False]
