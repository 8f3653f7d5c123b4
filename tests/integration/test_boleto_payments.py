"""A paid conversion's charge through events only: payment.requested, however often delivered,
makes one charge at the bank and one payment.pending with a stored PDF; the bank's payment
(confirmed by a GET) makes one charge.paid and its cancellation one charge.cancelled; a forged
callback makes none; a payer the service or the bank refuses, or a charge the bank fails to
issue, makes one charge.failed and no payment.pending."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any, cast

import aio_pika
import httpx
import pytest
from system import System

from boleto_sync.bootstrap import WorkerDeps
from boleto_sync.inter.client import InterClient
from boleto_sync.issuing import issue_gave_up
from boleto_sync.payments import payment_ids
from boleto_sync.repository import BoletoRepository
from shared import queues
from shared.events import (
    ChargeCancelled,
    ChargeFailed,
    ChargePaid,
    Event,
    PaymentPending,
    PaymentRequested,
)
from shared.messaging import OutboxRelay, encode
from shared.messaging.broker import Broker
from shared.mongo import connect
from shared.settings import InfraSettings
from shared.storage import create_store
from tests.support import boleto
from tests.support.api import api_client
from tests.support.infra import system_of_components
from tests.support.inter import CHARGES, CPF, configure, registered_bank, stats
from tests.support.s3server import S3Server, running_s3_server

pytestmark = pytest.mark.timeout(180)
SECRET = f"cb-{uuid.uuid4().hex}"
BUCKET = "boleto-payments"
TENANT = "dev"  # the system's API key's tenant
OUTCOMES = (PaymentPending, ChargePaid, ChargeCancelled, ChargeFailed)
PAYER = {
    "cpfCnpj": CPF,
    "tipoPessoa": "FISICA",
    "nome": "Maria da Silva",
    "endereco": "Avenida Paulista",
    "numero": "1000",
    "cidade": "São Paulo",
    "uf": "SP",
    "cep": "01310100",
}
api = boleto.api  # fixture: boleto-sync's API as the tenant


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("boleto-payments"),
        boleto=True,
        MONGODB_DB="boleto_payments",
        BOLETO_WEBHOOK_TOKEN=SECRET,
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.2",
        BOLETO_PROCESSING_POLL_S="0.1",
        STORAGE_BACKEND="s3",
        S3_ENDPOINT=s3.endpoint,
        S3_ACCESS_KEY=s3.access_key,
        S3_SECRET_KEY=s3.secret_key,
        S3_BUCKET=BUCKET,
        S3_SECURE="false",
    ) as running:
        yield running


@pytest.fixture
async def bank(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with registered_bank(system.simulator_url, SECRET) as client:
        yield client


@pytest.fixture
async def broker(system: System) -> AsyncIterator[Broker]:
    opened = Broker(system.env["RABBITMQ_URL"], "events")
    await opened.connect()
    try:
        yield opened
    finally:
        await opened.close()


class Outcomes:
    """Every paid-flow outcome published from now on, by routing key, as its event."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self._types = {kind.routing_key(): kind for kind in OUTCOMES}

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            self.seen.append(
                self._types[str(message.routing_key)].model_validate_json(message.body)
            )

    def of(self, kind: type[Event], boleto_id: str) -> list[Any]:
        return [
            e
            for e in self.seen
            if isinstance(e, kind) and getattr(e, "boleto_id", None) == boleto_id
        ]

    async def wait(self, kind: type[Event], boleto_id: str, within: float = 60) -> list[Any]:
        for _ in range(int(within / 0.1)):
            if found := self.of(kind, boleto_id):
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {kind.name} for {boleto_id} within {within} s: {self.seen}")


@pytest.fixture
async def outcomes(system: System) -> AsyncIterator[Outcomes]:
    listener = Outcomes()
    connection = await aio_pika.connect_robust(system.env["RABBITMQ_URL"])
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"test-payments-{uuid.uuid4().hex[:6]}", exclusive=True)
        for kind in OUTCOMES:
            await queue.bind(exchange, kind.routing_key())
        await queue.consume(listener.on_message)
        yield listener
    finally:
        await connection.close()


def payment(job_id: str, **overrides: Any) -> PaymentRequested:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "job_id": job_id,
        "amount_cents": 4990,
        "due_date": date.today() + timedelta(days=5),
        "payer": PAYER,
    }
    return PaymentRequested(**(fields | overrides))


async def charges_at_bank(bank: httpx.AsyncClient, seu_numero: str) -> list[dict[str, Any]]:
    today = date.today()
    params = {
        "dataInicial": (today - timedelta(days=1)).isoformat(),
        "dataFinal": (today + timedelta(days=1)).isoformat(),
        "filtrarDataPor": "EMISSAO",
        "seuNumero": seu_numero,
    }
    listed = await bank.get(CHARGES, params=params)
    assert listed.status_code == 200, listed.text
    return [item.get("cobranca", item) for item in listed.json()["cobrancas"]]


async def paid_pending(
    broker: Broker, outcomes: Outcomes, job_id: str
) -> tuple[str, PaymentPending]:
    """A payment requested and its charge issued: the boleto's id and its payment.pending."""
    await broker.publish(encode(payment(job_id), "/tests"))
    boleto_id, *_ = payment_ids(job_id, 1)
    return boleto_id, (await outcomes.wait(PaymentPending, boleto_id))[0]


async def quiet(seconds: float = 3.0) -> None:
    """Long enough for a check or a redelivery to publish what it would (many check intervals)."""
    await asyncio.sleep(seconds)


async def callback(system: System, codigo: str, situacao: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=system.boleto_url, timeout=30) as anyone:
        items = [{"codigoSolicitacao": codigo, "situacao": situacao}]
        return await anyone.post("/v1/inter/webhook", json=items, params={"token": SECRET})


async def test_a_payment_requested_twice_and_redelivered_is_one_charge_and_one_pending(
    system: System, bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    request = payment(job_id)
    delivered = encode(request, "/tests")
    await asyncio.gather(
        broker.publish(delivered),
        broker.publish(delivered),  # a redelivery: the same message again
        broker.publish(encode(request, "/tests")),  # the upload service asked twice
    )
    boleto_id, _, seu_numero = payment_ids(job_id, 1)
    [pending] = await outcomes.wait(PaymentPending, boleto_id)
    await broker.publish(encode(request, "/tests"))  # a late one, after the charge exists
    await quiet()

    assert len(outcomes.of(PaymentPending, boleto_id)) == 1
    assert len(await charges_at_bank(bank, seu_numero)) == 1
    assert (pending.job_id, pending.amount_cents, pending.due_date) == (
        job_id,
        4990,
        request.due_date,
    )
    assert pending.pix_copia_e_cola and pending.linha_digitavel and pending.charge_id
    store = create_store(InfraSettings(**_storage_settings(system)))
    pdf = b"".join([chunk async for chunk in store.read(pending.pdf_key)])
    assert pdf.startswith(b"%PDF-")


def _storage_settings(system: System) -> dict[str, Any]:
    env = system.env
    return {
        "storage_backend": "s3",
        "s3_endpoint": env["S3_ENDPOINT"],
        "s3_access_key": env["S3_ACCESS_KEY"],
        "s3_secret_key": env["S3_SECRET_KEY"],
        "s3_bucket": env["S3_BUCKET"],
        "s3_secure": False,
    }


async def test_the_banks_payment_makes_one_charge_paid_with_the_job(
    system: System, bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    boleto_id, pending = await paid_pending(broker, outcomes, job_id)
    async with api_client(system.simulator_url, timeout=30) as control:  # no token
        paid = await control.post(f"/_sim/charges/{pending.charge_id}/pagar", json={})
    assert paid.status_code == 204, paid.text
    for _ in range(3):  # the bank's callback, and the same hint again
        assert (await callback(system, pending.charge_id, "RECEBIDO")).status_code == 200
    [event] = await outcomes.wait(ChargePaid, boleto_id)
    await quiet()

    assert len(outcomes.of(ChargePaid, boleto_id)) == 1
    assert (event.job_id, event.charge_id, event.situacao) == (
        job_id,
        pending.charge_id,
        "RECEBIDO",
    )


async def test_a_forged_callback_makes_no_charge_paid(
    system: System,
    api: httpx.AsyncClient,
    bank: httpx.AsyncClient,
    broker: Broker,
    outcomes: Outcomes,
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    boleto_id, pending = await paid_pending(broker, outcomes, job_id)
    gets = (await stats(bank))["groups"]["get"]["accepted"]
    forged = await callback(system, pending.charge_id, "RECEBIDO")
    assert forged.status_code == 200 and forged.json()["to_check"] == 1
    for _ in range(100):  # the worker asks the bank
        if (await stats(bank))["groups"]["get"]["accepted"] > gets:
            break
        await asyncio.sleep(0.1)
    await quiet()

    assert outcomes.of(ChargePaid, boleto_id) == []
    assert (await api.get(f"/v1/boletos/{boleto_id}")).json()["status"] == "A_RECEBER"


async def test_an_invalid_payer_is_a_charge_failed_and_no_charge(
    bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    invalid = payment(job_id, payer={**PAYER, "cpfCnpj": "12345678900"})  # wrong check digits
    await broker.publish(encode(invalid, "/tests"))
    boleto_id, _, seu_numero = payment_ids(job_id, 1)
    [failed] = await outcomes.wait(ChargeFailed, boleto_id)

    assert (failed.job_id, failed.code) == (job_id, "invalid_payer")
    assert "CPF" in failed.message
    assert await charges_at_bank(bank, seu_numero) == []


async def test_a_charge_the_bank_refuses_is_a_charge_failed(
    api: httpx.AsyncClient, bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    refused = payment(job_id, payer={**PAYER, "uf": "ZZ"})  # no such state: the bank refuses
    await broker.publish(encode(refused, "/tests"))
    boleto_id, _, seu_numero = payment_ids(job_id, 1)
    [failed] = await outcomes.wait(ChargeFailed, boleto_id)
    await quiet(1.0)

    assert (failed.job_id, failed.code) == (job_id, "inter_rejected")
    assert len(outcomes.of(ChargeFailed, boleto_id)) == 1
    assert outcomes.of(PaymentPending, boleto_id) == []
    assert await charges_at_bank(bank, seu_numero) == []
    assert (await api.get(f"/v1/boletos/{boleto_id}")).json()["status"] == "FAILED"


async def test_a_cancelled_charge_makes_one_charge_cancelled(
    system: System, bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    boleto_id, pending = await paid_pending(broker, outcomes, job_id)
    cancelled = await bank.post(
        f"{CHARGES}/{pending.charge_id}/cancelar", json={"motivoCancelamento": "desistiu"}
    )
    assert cancelled.status_code == 202, cancelled.text
    await callback(system, pending.charge_id, "CANCELADO")  # again, as a retried callback
    [event] = await outcomes.wait(ChargeCancelled, boleto_id)
    await quiet()

    assert len(outcomes.of(ChargeCancelled, boleto_id)) == 1
    assert (event.job_id, event.situacao) == (job_id, "CANCELADO")
    assert outcomes.of(ChargePaid, boleto_id) == []


async def test_a_charge_the_bank_fails_to_issue_is_a_charge_failed(
    bank: httpx.AsyncClient, broker: Broker, outcomes: Outcomes
) -> None:
    await configure(bank, faults={"issue_failure_rate": 1.0})
    try:
        job_id = f"job_{uuid.uuid4().hex[:12]}"
        await broker.publish(encode(payment(job_id), "/tests"))
        boleto_id, *_ = payment_ids(job_id, 1)
        [failed] = await outcomes.wait(ChargeFailed, boleto_id)
    finally:
        await configure(bank, faults={"issue_failure_rate": 0.0})
    await quiet(1.0)

    assert (failed.job_id, failed.code) == (job_id, "issue_failed")
    assert len(outcomes.of(ChargeFailed, boleto_id)) == 1
    assert outcomes.of(PaymentPending, boleto_id) == []


@pytest.fixture
async def worker_deps(system: System, broker: Broker) -> AsyncIterator[WorkerDeps]:
    """The worker's own repository and relay on the system's database and broker (no bank:
    what is tested here never calls it)."""
    settings = InfraSettings(
        mongodb_url=system.env["MONGODB_URL"], mongodb_db=system.env["MONGODB_DB"]
    )
    client = connect(settings)
    repo = BoletoRepository(client[settings.mongodb_db])
    try:
        yield WorkerDeps(
            repo,
            OutboxRelay(repo.outbox, broker),
            create_store(settings),
            cast(InterClient, None),
            processing_poll_s=0.1,
            processing_timeout_s=5,
        )
    finally:
        await client.close()


async def test_a_payment_request_out_of_attempts_before_its_boleto_fails_the_payment(
    broker: Broker, outcomes: Outcomes, worker_deps: WorkerDeps
) -> None:
    """The queue's dead-letter hook (``issue_gave_up``), as the consumer calls it when a
    payment.requested ran out of attempts (the database down throughout, say)."""
    job_id = f"job_{uuid.uuid4().hex[:12]}"
    reason = f"{queues.GAVE_UP}: the database was unreachable"
    await issue_gave_up(payment(job_id), reason, worker_deps)
    await issue_gave_up(payment(job_id), reason, worker_deps)  # a second dead letter of it
    boleto_id, *_ = payment_ids(job_id, 1)
    [failed, *again] = await outcomes.wait(ChargeFailed, boleto_id)

    assert (failed.job_id, failed.code) == (job_id, "request_failed")
    assert all(e == failed for e in again)  # the same event id: consumers drop the copy

    # a request whose boleto was written goes on through that boleto's issue instead
    issued_job = f"job_{uuid.uuid4().hex[:12]}"
    issued_boleto, _ = await paid_pending(broker, outcomes, issued_job)
    await issue_gave_up(payment(issued_job), reason, worker_deps)
    await quiet(1.0)
    assert outcomes.of(ChargeFailed, issued_boleto) == []
