"""Every process's log after a full run: JSON lines, ids where they belong, no secret at all.

One system of its own, at LOG_LEVEL=DEBUG, whose every credential is distinctive: the broker
user's password, the dev API and admin keys, a tenant's key, a webhook's signing secret, the
bank's client secret and the OAuth tokens it issues, the bank callbacks' token, the SMTP
password, a file's read password, a marker string inside an uploaded schedule, and a paying
tenant's payer (name and street: personal data). After a conversion (webhook and e-mail), two
failed ones, a boleto with its PDF paid at the bank (whose callback URL holds the token), a
paid conversion paid at the bank and calls with a wrong key, no line of any process may
contain any of them; and the lines of requests and messages carry their trace, tenant and job.
"""

import asyncio
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pymongo
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from bootstrap import (
    ensure_rabbitmq,
    free_port,
    rabbitmq_user,
    rabbitmq_vhost,
    start_secantus,
)
from system import Ports, System, running_system

from tests.support.api import api_client, new_key, upload, wait_final
from tests.support.inter import charge_body, pdf_ready
from tests.support.mail import confirm, confirmation_token
from tests.support.notifier import eventually, new_tenant, receiver
from tests.support.payments import paid_tenant, payer, payment_where

HEX32, HEX16 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{16}")
Line = dict[str, Any]
# the secrets the test makes up ("wrong": a key no tenant has; "marker": a file's content)
KINDS = ("rabbitmq", "api", "admin", "wrong", "bank", "callback", "smtp", "file", "marker")


def secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


class Inbox:
    """An SMTP server's handler: checks the notifier's login, counts the mails it receives."""

    def __init__(self, password: str) -> None:
        self.password, self.logins, self.mails = password, 0, 0
        self.texts: list[str] = []

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == self.password
        self.logins += ok
        return AuthResult(success=ok)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails += 1
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.texts.append(str(message_from_bytes(content).get_payload(decode=True), "utf-8"))
        return "250 OK"


@contextmanager
def smtp_server(port: int, password: str) -> Iterator[Inbox]:
    inbox = Inbox(password)
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def marked_schedule(fixtures: Path, marker: str, complete: bool = True) -> bytes:
    """A real MSPDI project whose first task is named ``marker``; cut short just after that
    name, MPXJ cannot read it."""
    xml = (fixtures / "other" / "legacy__sample.xml").read_bytes()
    name = f"<Name>{marker}</Name>".encode()
    marked = xml.replace(b"<Name>First Task</Name>", name, 1)
    assert marked != xml, "the sample's first task was renamed"
    return marked if complete else marked[: marked.index(name) + len(name) + 100]


class Secrets:
    def __init__(self) -> None:
        self.values = {name: secret(name) for name in KINDS}

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def add(self, name: str, value: str) -> None:
        assert len(value) >= 12, f"{name} is too short to search for"
        self.values[name] = value


def read_logs(folder: Path) -> dict[str, list[str]]:
    return {path.stem: path.read_text().splitlines() for path in sorted(folder.glob("*.log"))}


def parsed(logs: dict[str, list[str]]) -> dict[str, list[Line]]:
    """Each process's lines as JSON objects; fails on the first line that is not one."""
    lines: dict[str, list[Line]] = defaultdict(list)
    for process, texts in logs.items():
        for text in texts:
            try:
                line = json.loads(text)
            except ValueError:
                raise AssertionError(f"{process}: not a JSON line: {text[:300]}") from None
            assert isinstance(line, dict), f"{process}: not a JSON object: {text[:300]}"
            lines[process].append(line)
    return lines


def events(lines: dict[str, list[Line]], process: str, event: str) -> list[Line]:
    return [line for line in lines[process] if line["event"] == event]


def assert_traced(line: Line) -> None:
    assert HEX32.fullmatch(line.get("trace_id", "")), line
    assert HEX16.fullmatch(line.get("span_id", "")), line


async def test_no_secret_or_file_content_in_any_log_line(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    s = Secrets()
    ensure_rabbitmq()
    mongo = start_secantus(tmp_path / "mongo", tmp_path / "secantusdb.log")
    ports, smtp_port = Ports.free(), free_port()
    settings = {
        "MONGODB_DB": "logs",
        "LOG_LEVEL": "DEBUG",
        "INTER_SIM_CLIENTS": json.dumps({"logs-client": s["bank"]}),
        "BOLETO_INTER_CLIENT_ID": "logs-client",
        "BOLETO_INTER_CLIENT_SECRET": s["bank"],
        "BOLETO_WEBHOOK_TOKEN": s["callback"],
        "INTER_SIM_PROCESSING_DELAY_SECONDS": "0.5",
        "BOLETO_PROCESSING_POLL_S": "0.2",
        "NOTIFIER_ALLOW_HTTP": "true",
        "NOTIFIER_ALLOW_LOOPBACK": "true",
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(smtp_port),
        "NOTIFIER_SMTP_USERNAME": "notifier",
        "NOTIFIER_SMTP_PASSWORD": s["smtp"],
        "NOTIFIER_SMTP_ALLOW_PLAIN": "true",
    }
    try:
        with (
            rabbitmq_vhost("logs") as vhost_url,
            rabbitmq_user(vhost_url, s["rabbitmq"]) as amqp_url,
            smtp_server(smtp_port, s["smtp"]) as inbox,
        ):
            with running_system(
                tmp_path,
                amqp_url,
                mongo.url,
                api_key=s["api"],
                admin_key=s["admin"],
                ports=ports,
                boleto=True,
                notifier=True,
                **settings,
            ) as system:
                found = await exercise(system, s, inbox, fixtures_dir)
            add_oauth_tokens(s, mongo.url)
    finally:
        mongo.stop()
    logs = read_logs(tmp_path / "logs")
    assert_no_secret(logs, s)
    assert_ids(parsed(logs), found)


def add_oauth_tokens(s: Secrets, mongodb_url: str) -> None:
    """The tokens the bank issued to boleto-sync, from the collection its replicas share."""
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_url) as client:
        stored: list[dict[str, Any]] = list(client["logs"]["inter_tokens"].find())
    tokens = [doc["token"] for doc in stored if doc.get("token")]
    assert tokens, "no OAuth token stored: did boleto-sync ever call the bank?"
    for number, token in enumerate(tokens):
        s.add(f"oauth token {number}", token)


async def exercise(system: System, s: Secrets, inbox: Inbox, fixtures: Path) -> dict[str, Any]:
    """The run whose logs are read: returns what the assertions on the logs need."""
    tenant, key = await new_tenant(system.base_url, s["admin"])
    s.add("tenant key", key)
    await refused_keys(system, s["wrong"])
    async with (
        receiver() as hook,
        api_client(system.notifier_url, key) as notifier,
        api_client(system.base_url, key) as api,
    ):
        created = await notifier.post(
            "/v1/webhooks", json={"url": hook.url, "events": ["conversion.*"]}
        )
        assert created.status_code == 201, created.text
        webhook_secret = created.json()["secret"]
        s.add("webhook secret", webhook_secret)
        s.add("webhook signing key", webhook_secret.removeprefix("whsec_"))
        email = await notifier.put("/v1/email", json={"recipients": ["ops@example.com"]})
        assert email.status_code == 200, email.text
        await eventually(lambda: inbox.mails >= 1, 60, "the recipient's confirmation mail")
        token = confirmation_token(inbox.texts[0])
        s.add("e-mail confirmation token", token)
        await confirm(system.notifier_url, token)
        jobs = await conversions(api, s["marker"], s["file"], fixtures)
        await eventually(lambda: len(hook.delivered()) >= 3, 60, "three webhook deliveries")
        await eventually(lambda: inbox.mails >= 4, 60, "three e-mails after the confirmation")
    assert inbox.logins >= 1, "the notifier never logged in to the SMTP server"
    boleto = await boleto_with_pdf(system, system.api_key)  # the dev key, used at least once
    await paid_at_the_bank(system, boleto, s)
    await paid_conversion(system, s, fixtures)
    return {"tenant": tenant, "boleto": boleto, **jobs}


async def paid_conversion(system: System, s: Secrets, fixtures: Path) -> None:
    """A paying tenant's conversion, its payer given at upload, paid at the bank."""
    tenant = await paid_tenant(system.base_url, s["admin"])
    key = await new_key(system.base_url, s["admin"], tenant)
    s.add("paying tenant's key", key)
    # a CPF's 11 digits may occur by chance in a log line (in a timestamp, say): the payer's
    # name and street, which travel with it, are searched for instead
    name, street = f"Payer {uuid.uuid4().hex}", f"Rua {uuid.uuid4().hex}"
    s.add("payer's name", name)
    s.add("payer's street", street)
    async with api_client(system.base_url, key) as api, api_client(system.simulator_url) as bank:
        given = payer(nome=name, endereco=street)
        response = await upload(
            api, fixtures / "mpp" / "mpp14timephased.mpp", payer=json.dumps(given)
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        issued = (await payment_where(api, job_id, "issued"))["payment"]
        paid = await bank.post(f"/_sim/charges/{issued['charge_id']}/pagar")
        assert paid.status_code < 300, paid.text
        await payment_where(api, job_id, "paid")


async def refused_keys(system: System, key: str) -> None:
    wrong = {"Authorization": f"Bearer {key}"}
    for url, path in (
        (system.base_url, "/v1/conversions"),
        (system.boleto_url, "/v1/boletos/bol_x"),
        (system.notifier_url, "/v1/webhooks"),
    ):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await client.get(path, headers=wrong)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"


async def conversions(
    api: httpx.AsyncClient, marker: str, password: str, fixtures: Path
) -> dict[str, Any]:
    """A conversion of a marked schedule, a marked file MPXJ cannot read, a wrong password."""
    good = await upload(api, content=marked_schedule(fixtures, marker), name="plan.xml")
    assert good.status_code == 202, good.text
    cut = marked_schedule(fixtures, marker, complete=False)
    broken = await upload(api, content=cut, name="cut.xml")
    locked = await upload(
        api, fixtures / "password" / "password-protected-mpp9.mpp", password=password
    )
    ids = [response.json()["id"] for response in (good, broken, locked)]
    finals = await asyncio.gather(*(wait_final(api, job_id) for job_id in ids))
    assert [job["status"] for job in finals] == ["completed", "failed", "failed"], finals
    return {"good": ids[0], "failed": ids[1:], "trace": good.headers["x-trace-id"]}


async def boleto_with_pdf(system: System, key: str) -> str:
    async with api_client(system.boleto_url, key) as boletos:
        created = await boletos.post("/v1/boletos", json=charge_body(seuNumero="LOGS1"))
        assert created.status_code == 202, created.text
        boleto_id: str = created.json()["id"]
        await pdf_ready(boletos, boleto_id, within=30)
    return boleto_id


async def paid_at_the_bank(system: System, boleto_id: str, s: Secrets) -> None:
    """The bank's callback (to a URL holding the callback token) and the PDF synced again."""
    async with api_client(system.boleto_url, system.api_key) as boletos:
        codigo = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()["inter"]
        async with api_client(system.simulator_url) as bank:
            token = await bank.post(
                "/oauth/v2/token",
                data={
                    "client_id": "logs-client",
                    "client_secret": s["bank"],
                    "grant_type": "client_credentials",
                    "scope": "boleto-cobranca.read boleto-cobranca.write",
                },
            )
            s.add("oauth token of the test", token.json()["access_token"])
            paid = await bank.post(
                f"/cobranca/v3/cobrancas/{codigo['codigo_solicitacao']}/pagar",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert paid.status_code < 300, paid.text
        for _ in range(300):
            record = (await boletos.get(f"/v1/boletos/{boleto_id}")).json()
            if record["status"] == "RECEBIDO" and len(record["pdf"]["versions"]) == 2:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the payment of {boleto_id} never came back from the bank")


def assert_no_secret(logs: dict[str, list[str]], s: Secrets) -> None:
    expected = {"upload-api", "upload-worker", "converter", "inter-simulator", "boleto-api"}
    expected |= {"boleto-worker", "notifier-api", "notifier-worker"}
    assert expected <= logs.keys(), f"missing logs: {expected - logs.keys()}"
    for process in expected:
        assert logs[process], f"{process} logged nothing"
    leaks = [
        f"{process}: {name} in {text[:200]}"
        for process, texts in logs.items()
        for text in texts
        for name, value in s.values.items()
        if value in text
    ]
    assert not leaks, "\n".join(leaks[:20])


def assert_ids(lines: dict[str, list[Line]], found: dict[str, Any]) -> None:
    tenant, good, failed = found["tenant"], found["good"], found["failed"]
    assert any(line["level"] == "debug" for line in lines["converter"]), "LOG_LEVEL not honoured"
    accepted = events(lines, "upload-api", "conversion.accepted")
    [accepted_good] = [line for line in accepted if line.get("job_id") == good]
    assert_traced(accepted_good)
    assert accepted_good["trace_id"] == found["trace"] and accepted_good["tenant_id"] == tenant
    every_finished = events(lines, "converter", "conversion.finished")
    for line in every_finished:  # the paying tenant's conversion's too
        assert_traced(line)
        assert line["tenant_id"]
    finished = {line["job_id"]: line for line in every_finished if line["tenant_id"] == tenant}
    assert finished.keys() == {good, *failed}
    assert finished[good]["trace_id"] == found["trace"], "the job's trace ends at the broker"
    fanned = events(lines, "notifier-worker", "event.fanned_out")
    assert {good, *failed} <= {line.get("job_id") for line in fanned}
    attempts = events(lines, "notifier-worker", "delivery.attempted")
    # and the confirmation mail's, about the tenant's e-mail settings
    assert {line.get("job_id") for line in attempts} == {good, *failed, f"em_{tenant}"}
    assert {line.get("tenant_id") for line in attempts} == {tenant}
    assert_boleto_ids(lines, found["boleto"])
    for process, process_lines in lines.items():
        for line in process_lines:
            if "event_id" in line:  # logged while a message was handled
                assert_traced(line)
                assert line.get("tenant_id"), f"{process}: {line}"
            if process.endswith("-api") and "tenant_id" in line:  # while a request was
                assert_traced(line)
            if "job_id" in line:
                assert line.get("tenant_id"), f"{process}: {line}"


def assert_boleto_ids(lines: dict[str, list[Line]], boleto_id: str) -> None:
    """The job of a boleto is the PDF sync its creation started."""
    [accepted] = events(lines, "boleto-api", "boleto.accepted")
    assert_traced(accepted)
    assert accepted["boleto_id"] == boleto_id and accepted["tenant_id"]
    job_id, tenant = accepted["job_id"], accepted["tenant_id"]

    # the bank's callback is a hint: the API asks for a check, the worker asks the bank (the
    # paid conversion's boleto has lines of its own: each is judged by its boleto's)
    def of_boleto(process: str, name: str) -> list[Line]:
        return [line for line in events(lines, process, name) if line["boleto_id"] == boleto_id]

    [hint] = of_boleto("boleto-api", "boleto.check_requested")
    [status] = of_boleto("boleto-worker", "boleto.status_from_bank")
    for line in (hint, status):
        assert_traced(line)
        assert line["tenant_id"] == tenant, line
    callbacks = events(lines, "inter-simulator", "webhook.callback.sent")
    assert callbacks
    for callback in callbacks:
        assert "token=***" in callback["url"], "the callback URL was logged without its token"
    [issued] = of_boleto("boleto-worker", "boleto.issued")
    synced = of_boleto("boleto-worker", "boleto.synced")
    for line in (issued, *synced):
        assert_traced(line)
        assert line["tenant_id"] == tenant, line
    assert issued["job_id"] == job_id and synced[0]["job_id"] == job_id
    assert len(synced) == 2 and synced[1]["job_id"] != job_id  # the payment's sync job
