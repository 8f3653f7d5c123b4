"""A new e-mail recipient gets one confirmation mail and nothing else until it opens the
link; then the events' mails. Through the notifier's API (uvicorn), its worker's fan-out
and dispatcher, real RabbitMQ, SecantusDB and a local SMTP server."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bootstrap import free_port

from notifier.bootstrap import RepositoryDeps, dispatcher
from notifier.delivery.dispatcher import Dispatcher
from notifier.handlers import FanOutDeps, fan_out
from notifier.settings import NotifierSettings
from shared.bootstrap import Infra
from shared.messaging import Delivery
from shared.settings import InfraSettings
from tests.support.hangs import stacks_if_longer_than
from tests.support.mail import Inbox, smtp_server
from tests.support.notifier import completed, eventually
from tests.support.notifier_api import notifier_replica

KEY = f"sk_mail_{uuid.uuid4().hex}"
AUTH = {"Authorization": f"Bearer {KEY}"}
TENANT = "dev"  # the tenant of the configured development key
LINK = re.compile(r"(http://\S+/v1/email/confirm\?token=([A-Za-z0-9_-]+))")


@dataclass
class Mailing:
    api: httpx.AsyncClient
    inbox: Inbox
    fan_out: FanOutDeps

    async def event(self) -> str:
        event = completed(TENANT)
        delivery = Delivery(str(uuid.uuid4()), 1, False, "/test", datetime.now(UTC))
        await fan_out(event, delivery, self.fan_out)
        return event.job_id


@pytest.fixture
async def mailing(infra: Infra, infra_settings: InfraSettings) -> AsyncIterator[Mailing]:
    """The API, a worker's fan-out and dispatcher, and an SMTP server, on one configuration."""
    port, api_port = free_port(), free_port()
    settings = NotifierSettings(
        public_notifier_url=f"http://127.0.0.1:{api_port}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_allow_plain=True,
        sweep_interval_s=0.2,
        retry_schedule_s=[0.2],
        retry_jitter=0.0,
    )
    repos = RepositoryDeps.build(infra)
    sending, webhooks = dispatcher(infra, repos, settings)
    deps = FanOutDeps(
        repos.subscriptions, repos.deliveries, repos.replay, timedelta(hours=1), sending
    )
    with smtp_server(port, Inbox()) as inbox:
        # the teardown of one case once hung in about one whole-suite run in two: the
        # dispatcher's sweep had lost its cancellation (shared.cancellation); should a
        # teardown hang again, what it waits on is printed
        async with (
            stacks_if_longer_than(60, "the mailing fixture"),
            notifier_replica(infra_settings, settings, KEY, api_port) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as api,
        ):
            task = asyncio.create_task(sending.run())
            try:
                yield Mailing(api, inbox, deps)
            finally:
                await _stop(task, sending)
                await webhooks.client.aclose()


async def _stop(task: asyncio.Task[None], sending: Dispatcher) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sending.drain()


def _link(inbox: Inbox, index: int) -> tuple[str, str]:
    found = LINK.search(inbox.texts()[index])
    assert found is not None, inbox.texts()[index]
    return found.group(1), found.group(2)


async def test_an_unconfirmed_recipient_gets_only_the_confirmation_mail(
    mailing: Mailing,
) -> None:
    put = await mailing.api.put("/v1/email", json={"recipients": ["pm@example.com"]})
    assert put.status_code == 200, put.text
    assert put.json()["confirmed"] == []
    await eventually(lambda: len(mailing.inbox.messages) == 1, 15, "the confirmation mail")
    [(to, message)] = mailing.inbox.messages
    assert to == ["pm@example.com"] and "Confirm" in message["Subject"]
    await mailing.event()
    # saving the settings again does not mail the address again (one per resend period)
    again = await mailing.api.put("/v1/email", json={"recipients": ["pm@example.com"]})
    assert again.status_code == 200
    await asyncio.sleep(1.5)  # several sweeps: room for any mail that would go out
    assert len(mailing.inbox.messages) == 1


async def test_after_confirming_the_recipient_gets_the_events_mails(mailing: Mailing) -> None:
    await mailing.api.put("/v1/email", json={"recipients": ["pm@example.com"]})
    await eventually(lambda: len(mailing.inbox.messages) == 1, 15, "the confirmation mail")
    link, token = _link(mailing.inbox, 0)
    async with httpx.AsyncClient(timeout=10) as browser:  # the reader: no API key
        page = await browser.get(link)
        assert page.status_code == 200 and 'method="post"' in page.text
        assert (await mailing.api.get("/v1/email")).json()["confirmed"] == []  # not by a GET
        confirmed = await browser.post(link)
        assert confirmed.json() == {"address": "pm@example.com", "status": "confirmed"}
        used = await browser.post(link)
        assert used.status_code == 404 and used.json()["code"] == "confirmation_invalid"
    assert (await mailing.api.get("/v1/email")).json()["confirmed"] == ["pm@example.com"]
    job_id = await mailing.event()
    await eventually(lambda: len(mailing.inbox.messages) == 2, 15, "the event's mail")
    to, message = mailing.inbox.messages[1]
    assert to == ["pm@example.com"]
    assert message["Subject"] == f"Conversion {job_id} completed"
    assert token not in mailing.inbox.texts()[1]


async def test_a_removed_recipient_loses_its_confirmation_and_its_link(mailing: Mailing) -> None:
    both = {"recipients": ["pm@example.com", "ops@example.com"]}
    await mailing.api.put("/v1/email", json=both)
    await eventually(lambda: len(mailing.inbox.messages) == 2, 15, "two confirmation mails")
    links = {to[0]: _link(mailing.inbox, i)[0] for i, (to, _) in enumerate(mailing.inbox.messages)}
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await browser.post(links["pm@example.com"])).status_code == 200
        await mailing.api.put("/v1/email", json={"recipients": ["pm@example.com"]})
        gone = await browser.post(links["ops@example.com"])
        assert gone.status_code == 404 and "no longer" in gone.json()["detail"]
    status = (await mailing.api.get("/v1/email")).json()
    assert status["recipients"] == status["confirmed"] == ["pm@example.com"]


@pytest.mark.parametrize(
    "token, status, code",
    [
        ("x" * 43, 404, "confirmation_invalid"),
        ("short", 422, "validation_error"),
        ("<script>alert(1)</script>aaaaaaaaaaaaaa", 422, "validation_error"),
    ],
)
async def test_a_bad_link_gets_a_clear_refusal(
    mailing: Mailing, token: str, status: int, code: str
) -> None:
    async with httpx.AsyncClient(base_url=str(mailing.api.base_url), timeout=10) as browser:
        for method in ("GET", "POST") if status == 422 else ("POST",):
            response = await browser.request(method, "/v1/email/confirm", params={"token": token})
            body: dict[str, Any] = response.json()
            assert (response.status_code, body["code"]) == (status, code), body
