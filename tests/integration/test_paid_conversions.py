"""Paid conversions through events only (real RabbitMQ, SecantusDB and storage): the upload
API served in-process, the upload worker's subscription fed real events through the broker.

A paying tenant's job carries its payment; once completed with a payer, ``payment.requested``
leaves exactly once; boleto-sync's events (forged here, as boleto-sync sends them) set the
payment; the result is released only once paid."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.bootstrap import Infra
from shared.crypto import UnreadableSecret
from shared.events import (
    ChargeCancelled,
    ChargeFailed,
    ChargePaid,
    ConversionCompleted,
    Event,
    Manifest,
    PaymentPending,
)
from shared.messaging import OutboxRelay, encode
from shared.messaging.notices import announce_recorded
from shared.settings import InfraSettings
from tests.support.events import captured_bodies
from tests.support.upload_api import served_upload_api
from upload import consumer
from upload.files import JobFiles
from upload.payment import open_payer
from upload.payment_repository import PaymentRepository
from upload.payments import Payments
from upload.repository import COLLECTION, JobRepository
from upload.settings import UploadSettings

ADMIN_KEY = f"sk_admin_{uuid.uuid4().hex}"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCHEDULE = Path(__file__).parents[1] / "fixtures" / "projects" / "other" / "legacy__sample.mpx"
PAYER = {
    "cpfCnpj": "529.982.247-25",
    "tipoPessoa": "FISICA",
    "nome": "Maria da Silva",
    "endereco": "Avenida Paulista",
    "numero": "1000",
    "cidade": "São Paulo",
    "uf": "SP",
    "cep": "01310-100",
    "email": "maria@example.com",
}
OTHER_PAYER = {**PAYER, "cpfCnpj": "11144477735", "nome": "João Souza"}
RESULT = b"<Project>the converted plan</Project>"
PDF = b"%PDF-1.4 the boleto"
PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"


@dataclass
class Platform:
    api: httpx.AsyncClient
    infra: Infra
    requested: list[bytes]  # payment.requested bodies published
    tenant: str
    key: dict[str, str]

    async def publish(self, event: Event, source: str = "/services/boleto-sync") -> None:
        await self.infra.broker.publish(encode(event, source))

    async def upload(self, **fields: str) -> dict[str, Any]:
        answer = await self.api.post(
            "/v1/conversions",
            files={"file": ("plan.mpx", SCHEDULE.read_bytes(), "application/octet-stream")},
            data=fields,
            headers=self.key,
        )
        assert answer.status_code == 202, answer.text
        return answer.json()  # type: ignore[no-any-return]

    async def complete(self, job_id: str, paid: bool = True, times: int = 1) -> None:
        """The converter's completion (``times`` redeliveries of one event, a new id each)."""
        key = f"{self.tenant}/{job_id}/result.xml"
        writer = self.infra.store.writer(key)
        writer.write(RESULT)
        stored = await writer.commit()
        event = ConversionCompleted(
            tenant_id=self.tenant,
            job_id=job_id,
            result_key=key,
            size=stored.size,
            sha256=stored.sha256,
            media_type="application/xml",
            manifest=Manifest(source_format="MPX", read={}, written={}),
            payment_required=paid,
        )
        envelope = encode(event, "/services/converter")
        await asyncio.gather(
            self.infra.broker.publish(envelope),  # the same event twice: a redelivery
            self.infra.broker.publish(envelope),
            *(self.publish(event, "/services/converter") for _ in range(times - 1)),
        )

    async def view(self, job_id: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        job: dict[str, Any] = {}
        for _ in range(200):
            answer = await self.api.get(f"/v1/conversions/{job_id}", headers=self.key)
            assert answer.status_code == 200, answer.text
            job = answer.json()
            if until(job):
                return job
            await asyncio.sleep(0.05)
        raise AssertionError(f"the job never got there: {job}")

    async def issued(self, job_id: str, boleto_id: str, **fields: Any) -> PaymentPending:
        pdf_key = f"{self.tenant}/boletos/{boleto_id}/boleto.pdf"
        writer = self.infra.store.writer(pdf_key)
        writer.write(PDF)
        await writer.commit()
        return PaymentPending(
            tenant_id=self.tenant,
            job_id=job_id,
            boleto_id=boleto_id,
            charge_id=f"charge-{boleto_id}",
            amount_cents=990,
            due_date=date.today() + timedelta(days=5),
            pix_copia_e_cola=PIX,
            linha_digitavel="07790.00116 12345.678901 23456.789012 1 99990000000990",
            pdf_key=pdf_key,
            **fields,
        )

    def paid(self, job_id: str, boleto_id: str) -> ChargePaid:
        return ChargePaid(
            tenant_id=self.tenant,
            job_id=job_id,
            boleto_id=boleto_id,
            charge_id=f"charge-{boleto_id}",
            situacao="RECEBIDO",
            paid_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        )

    def requests_of(self, job_id: str) -> list[dict[str, Any]]:
        return [r for r in map(json.loads, self.requested) if r["job_id"] == job_id]


@pytest.fixture
async def platform(
    infra_settings: InfraSettings, infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    monkeypatch.setattr(consumer, "QUEUE", f"upload-paid-{uuid.uuid4().hex[:8]}")
    jobs = JobRepository(infra.db, partial(announce_recorded, infra.broker, COLLECTION))
    files = JobFiles(infra.store, jobs, UploadSettings(), infra.sealer)
    payments = Payments(
        PaymentRepository(infra.db, partial(announce_recorded, infra.broker, COLLECTION)),
        OutboxRelay(jobs.outbox, infra.broker),
        infra.store,
        infra.sealer,
    )
    connection, requested = await captured_bodies(
        infra_settings.rabbitmq_url,
        "payment.requested.v1",
        exchange_name=infra_settings.events_exchange,
    )
    subscription = consumer.conversion_events(infra, jobs, files, 16, payments)
    await subscription.start()
    try:
        async with served_upload_api(infra_settings, dev_admin_key=ADMIN_KEY) as api:
            tenant = f"t{uuid.uuid4().hex[:8]}"
            created = await api.post("/v1/admin/api-keys", json={"tenant": tenant}, headers=ADMIN)
            assert created.status_code == 201, created.text
            key = {"Authorization": f"Bearer {created.json()['key']}"}
            yield Platform(api, infra, requested, tenant, key)
    finally:
        await subscription.stop(grace_s=5)
        await connection.close()


async def _charge(platform: Platform, price_cents: int = 990, due_days: int = 5) -> None:
    body = {"price_cents": price_cents, "due_days": due_days}
    answer = await platform.api.patch(
        f"/v1/admin/tenants/{platform.tenant}", json=body, headers=ADMIN
    )
    assert answer.status_code == 200, answer.text  # the API's own process sees it at once


def _requested(job: dict[str, Any]) -> bool:
    return job["status"] == "completed" and job["payment"]["payer_required"] is False


async def _settle() -> None:
    await asyncio.sleep(0.5)  # what else would have arrived by now


async def test_a_paid_job_is_charged_once_and_released_when_paid(platform: Platform) -> None:
    await _charge(platform)
    job = await platform.upload(payer=json.dumps(PAYER))
    assert job["payment"] == {
        "status": "pending",
        "amount_cents": 990,
        "currency": "BRL",
        "due_date": None,
        "charge_id": None,
        "boleto_id": None,
        "pix_copia_e_cola": None,
        "linha_digitavel": None,
        "boleto_pdf": None,
        "pix_qr": None,
        "payer_required": False,
        "paid_at": None,
        "error": None,
    }
    job_id = job["id"]
    await platform.complete(job_id, times=3)
    await platform.view(job_id, lambda j: j["status"] == "completed")
    for _ in range(100):
        if platform.requests_of(job_id):
            break
        await asyncio.sleep(0.05)
    await _settle()
    [request] = platform.requests_of(job_id)
    assert request["attempt"] == 1 and request["amount_cents"] == 990
    assert request["due_date"] == (date.today() + timedelta(days=5)).isoformat()
    assert request["payer"]["cpfCnpj"] == "52998224725" and request["payer"]["cep"] == "01310100"
    stored = await platform.infra.db[COLLECTION].find_one({"_id": job_id})
    assert stored is not None and stored["payment"]["attempt"] == 1
    # the payer rests sealed, bound to its job: a backup of the database does not show it
    assert isinstance(stored["payer"], bytes) and b"Maria" not in stored["payer"]
    assert open_payer(platform.infra.sealer, stored)["cpfCnpj"] == "52998224725"
    with pytest.raises(UnreadableSecret):
        open_payer(platform.infra.sealer, {**stored, "_id": "cv_another"})

    locked = await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    assert locked.status_code == 402, locked.text
    assert locked.json()["code"] == "payment_required"
    assert locked.json()["payment"]["status"] == "pending"
    not_ready = await platform.api.get(
        f"/v1/conversions/{job_id}/payment/boleto.pdf", headers=platform.key
    )
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "payment_not_ready"

    await platform.publish(await platform.issued(job_id, "bol_1"))
    job = await platform.view(job_id, lambda j: j["payment"]["boleto_id"] == "bol_1")
    path = f"/v1/conversions/{job_id}/payment"
    assert job["payment"]["boleto_pdf"] == f"{path}/boleto.pdf"
    assert job["payment"]["pix_qr"] == f"{path}/pix.svg"
    assert job["payment"]["charge_id"] == "charge-bol_1"
    assert job["payment"]["pix_copia_e_cola"] == PIX
    assert "Maria" not in json.dumps(job) and "52998224725" not in json.dumps(job)
    pdf = await platform.api.get(job["payment"]["boleto_pdf"], headers=platform.key)
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    svg = await platform.api.get(job["payment"]["pix_qr"], headers=platform.key)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert (
        await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    ).status_code == 402

    await platform.publish(platform.paid(job_id, "bol_1"))
    job = await platform.view(job_id, lambda j: j["payment"]["status"] == "paid")
    assert job["payment"]["paid_at"].startswith("2026-12-01T12:00")
    result = await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    assert result.status_code == 200 and result.content == RESULT
    await _settle()
    assert len(platform.requests_of(job_id)) == 1


@pytest.mark.parametrize(
    ("payer", "field"),
    [
        ("not json", "payer"),
        (json.dumps({**PAYER, "cpfCnpj": "52998224724"}), "CPF"),
        (json.dumps({**PAYER, "uf": "sp"}), "uf"),
        (json.dumps({k: v for k, v in PAYER.items() if k != "nome"}), "nome"),
        (json.dumps({**PAYER, "surprise": 1}), "surprise"),
    ],
)
async def test_an_invalid_payer_is_refused_and_nothing_stored(
    platform: Platform, payer: str, field: str
) -> None:
    await _charge(platform)
    answer = await platform.api.post(
        "/v1/conversions",
        files={"file": ("plan.mpx", SCHEDULE.read_bytes(), "application/octet-stream")},
        data={"payer": payer},
        headers=platform.key,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_payer" and field in answer.json()["detail"]
    assert await platform.infra.db[COLLECTION].count_documents({}) == 0


async def test_a_payer_given_later_requests_the_charge_and_a_failed_one_takes_another(
    platform: Platform,
) -> None:
    await _charge(platform)
    job_id = (await platform.upload())["id"]
    url = f"/v1/conversions/{job_id}/payer"
    early = await platform.api.put(url, json=PAYER, headers=platform.key)
    assert early.status_code == 200, early.text  # stored; the charge waits for the result
    await platform.complete(job_id)
    await platform.view(job_id, _requested)
    for _ in range(100):
        if platform.requests_of(job_id):
            break
        await asyncio.sleep(0.05)
    assert [r["attempt"] for r in platform.requests_of(job_id)] == [1]

    again = await platform.api.put(url, json=OTHER_PAYER, headers=platform.key)
    assert again.status_code == 409 and again.json()["code"] == "payer_locked"
    bad = await platform.api.put(url, json={**PAYER, "cep": "123"}, headers=platform.key)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_payer"
    missing = await platform.api.put(
        "/v1/conversions/cv_missing/payer", json=PAYER, headers=platform.key
    )
    assert missing.status_code == 404

    failed = ChargeFailed(
        tenant_id=platform.tenant,
        job_id=job_id,
        boleto_id="bol_1",
        code="payer_refused",
        message="the bank refused the payer",
    )
    await platform.publish(failed)
    await platform.publish(failed)
    job = await platform.view(job_id, lambda j: j["payment"]["status"] == "failed")
    assert job["payment"]["error"] == {
        "code": "payer_refused",
        "message": "the bank refused the payer",
    }

    answer = await platform.api.put(url, json=OTHER_PAYER, headers=platform.key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment"]["status"] == "pending"
    assert answer.json()["payment"]["boleto_id"] is None
    for _ in range(100):
        if len(platform.requests_of(job_id)) == 2:
            break
        await asyncio.sleep(0.05)
    second = platform.requests_of(job_id)[1]
    assert second["attempt"] == 2 and second["payer"]["nome"] == "João Souza"

    # the failed attempt's late announcement does not become the new attempt's boleto
    await platform.publish(await platform.issued(job_id, "bol_1"))
    await platform.publish(await platform.issued(job_id, "bol_2"))
    job = await platform.view(job_id, lambda j: j["payment"]["boleto_id"] is not None)
    assert job["payment"]["boleto_id"] == "bol_2"
    stale = ChargeCancelled(
        tenant_id=platform.tenant,
        job_id=job_id,
        boleto_id="bol_1",
        charge_id="charge-bol_1",
        situacao="CANCELADO",
    )
    await platform.publish(stale)
    await _settle()
    stored = await platform.infra.db[COLLECTION].find_one({"_id": job_id})
    assert stored is not None and stored["payment"]["status"] == "pending"
    assert stored["payment"]["boleto_id"] == "bol_2"
    await _settle()
    assert len(platform.requests_of(job_id)) == 2


async def test_charge_paid_before_its_announcement_ends_paid_with_the_charge(
    platform: Platform,
) -> None:
    await _charge(platform)
    job_id = (await platform.upload(payer=json.dumps(PAYER)))["id"]
    await platform.complete(job_id)
    await platform.view(job_id, lambda j: j["status"] == "completed")
    await platform.publish(platform.paid(job_id, "bol_9"))
    await platform.view(job_id, lambda j: j["payment"]["status"] == "paid")
    await platform.publish(await platform.issued(job_id, "bol_9"))
    job = await platform.view(job_id, lambda j: j["payment"]["boleto_pdf"] is not None)
    assert job["payment"]["status"] == "paid" and job["payment"]["charge_id"] == "charge-bol_9"
    assert job["payment"]["linha_digitavel"] is not None
    result = await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    assert result.status_code == 200 and result.content == RESULT


async def test_an_expired_charge_locks_the_result_until_the_bank_confirms_a_payment(
    platform: Platform,
) -> None:
    await _charge(platform)
    job_id = (await platform.upload(payer=json.dumps(PAYER)))["id"]
    await platform.complete(job_id)
    await platform.view(job_id, lambda j: j["status"] == "completed")
    await platform.publish(await platform.issued(job_id, "bol_3"))
    expired = ChargeCancelled(
        tenant_id=platform.tenant,
        job_id=job_id,
        boleto_id="bol_3",
        charge_id="charge-bol_3",
        situacao="EXPIRADO",
    )
    await platform.publish(expired)
    await platform.view(job_id, lambda j: j["payment"]["status"] == "expired")
    await platform.publish(await platform.issued(job_id, "bol_3"))  # redelivered
    await _settle()
    locked = await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    assert locked.status_code == 402 and locked.json()["payment"]["status"] == "expired"
    locked_payer = await platform.api.put(
        f"/v1/conversions/{job_id}/payer", json=OTHER_PAYER, headers=platform.key
    )
    assert locked_payer.status_code == 409
    await platform.publish(platform.paid(job_id, "bol_3"))
    await platform.view(job_id, lambda j: j["payment"]["status"] == "paid")
    cancelled = ChargeCancelled(
        tenant_id=platform.tenant,
        job_id=job_id,
        boleto_id="bol_3",
        charge_id="charge-bol_3",
        situacao="CANCELADO",
    )
    await platform.publish(cancelled)
    await _settle()
    result = await platform.api.get(f"/v1/conversions/{job_id}/result", headers=platform.key)
    assert result.status_code == 200 and result.content == RESULT


async def test_a_reused_result_needs_its_own_payment(platform: Platform) -> None:
    await _charge(platform)
    first = (await platform.upload(payer=json.dumps(PAYER)))["id"]
    await platform.complete(first)
    await platform.view(first, lambda j: j["status"] == "completed")
    await platform.publish(platform.paid(first, "bol_a"))
    await platform.view(first, lambda j: j["payment"]["status"] == "paid")

    second = await platform.upload(payer=json.dumps(OTHER_PAYER))
    assert second["reused"] and second["status"] == "completed"
    assert second["payment"]["status"] == "pending" and second["payment"]["due_date"]
    locked = await platform.api.get(f"/v1/conversions/{second['id']}/result", headers=platform.key)
    assert locked.status_code == 402
    for _ in range(100):
        if platform.requests_of(second["id"]):
            break
        await asyncio.sleep(0.05)
    await _settle()
    [request] = platform.requests_of(second["id"])
    assert request["attempt"] == 1 and request["payer"]["nome"] == "João Souza"

    third = await platform.upload()  # reused, no payer yet: the PUT requests the charge
    assert third["reused"] and third["payment"]["payer_required"]
    answer = await platform.api.put(
        f"/v1/conversions/{third['id']}/payer", json=PAYER, headers=platform.key
    )
    assert answer.status_code == 200 and answer.json()["payment"]["due_date"]
    for _ in range(100):
        if platform.requests_of(third["id"]):
            break
        await asyncio.sleep(0.05)
    assert len(platform.requests_of(third["id"])) == 1


async def test_a_free_tenant_is_unchanged(platform: Platform) -> None:
    job = await platform.upload(payer="ignored: not even JSON")
    assert job["payment"] is None
    await platform.complete(job["id"], paid=False)
    await platform.view(job["id"], lambda j: j["status"] == "completed")
    result = await platform.api.get(f"/v1/conversions/{job['id']}/result", headers=platform.key)
    assert result.status_code == 200 and result.content == RESULT
    base = f"/v1/conversions/{job['id']}"
    payer = await platform.api.put(f"{base}/payer", json=PAYER, headers=platform.key)
    assert payer.status_code == 409 and payer.json()["code"] == "payment_not_required"
    for path in ("payment/boleto.pdf", "payment/pix.svg", "payment/simulate"):
        method = "POST" if path.endswith("simulate") else "GET"
        answer = await platform.api.request(method, f"{base}/{path}", headers=platform.key)
        assert answer.status_code == 404, (path, answer.text)
    await _settle()
    assert platform.requests_of(job["id"]) == []
    stored = await platform.infra.db[COLLECTION].find_one({"_id": job["id"]})
    assert stored is not None and "payment" not in stored and "payer" not in stored


async def test_a_boleto_outside_its_prefix_or_another_tenants_job_is_refused(
    platform: Platform,
) -> None:
    await _charge(platform)
    job_id = (await platform.upload(payer=json.dumps(PAYER)))["id"]
    await platform.complete(job_id)
    await platform.view(job_id, lambda j: j["status"] == "completed")
    forged = (await platform.issued(job_id, "bol_x")).model_copy(
        update={"pdf_key": f"{platform.tenant}/boletos/bol_x/../../{job_id}/result.xml"}
    )
    await platform.publish(forged)
    other = (await platform.issued(job_id, "bol_y")).model_copy(update={"tenant_id": "globex"})
    await platform.publish(other)
    await _settle()
    stored = await platform.infra.db[COLLECTION].find_one({"_id": job_id})
    assert stored is not None and stored["payment"]["boleto_id"] is None


async def test_simulated_payments_need_the_sandbox_bank(
    infra_settings: InfraSettings, platform: Platform
) -> None:
    await _charge(platform)
    job_id = (await platform.upload(payer=json.dumps(PAYER)))["id"]
    url = f"/v1/conversions/{job_id}/payment/simulate"
    assert (await platform.api.post(url, headers=platform.key)).status_code == 404
    await platform.complete(job_id)
    await platform.view(job_id, lambda j: j["payment"]["due_date"] is not None)
    await platform.publish(await platform.issued(job_id, "bol_s"))
    await platform.view(job_id, lambda j: j["payment"]["charge_id"] is not None)
    sandbox = UploadSettings(sandbox_bank_url="http://127.0.0.1:9")  # nothing listens there
    async with served_upload_api(infra_settings, sandbox, dev_admin_key=ADMIN_KEY) as api:
        answer = await api.post(url, headers=platform.key)
        assert answer.status_code == 503 and answer.json()["code"] == "bank_unavailable"
    production = infra_settings.model_copy(update={"environment": "production"})
    with pytest.raises(ValueError, match="SANDBOX"):
        async with served_upload_api(production, sandbox):
            pass


async def test_a_replica_whose_copy_lags_reads_the_stored_job_before_refusing(
    platform: Platform,
) -> None:
    """Another replica has shown the job completed (or paid), and the client's next request,
    for the result, comes to this one before its notice does: the stored job decides."""
    await _charge(platform)
    job = await platform.upload(payer=json.dumps(PAYER))
    job_id = job["id"]
    await platform.complete(job_id)
    await platform.view(job_id, lambda j: j["status"] == "completed")
    await platform.publish(platform.paid(job_id, "bol_1"))
    await platform.view(job_id, lambda j: j["payment"]["status"] == "paid")
    stored = await platform.infra.db[COLLECTION].find_one({"_id": job_id}, {"outbox": 0})
    assert stored is not None
    cache = platform.api._transport.app.state.deps.uploads.cache  # type: ignore[attr-defined]
    url = f"/v1/conversions/{job_id}/result"
    for lagging in (
        {**stored, "status": "converting", "result": None},
        {**stored, "payment": {**stored["payment"], "status": "pending"}},
    ):
        cache.seed(job_id, lagging)
        result = await platform.api.get(url, headers=platform.key)
        assert result.status_code == 200 and result.content == RESULT
