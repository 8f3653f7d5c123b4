"""Decisions about a paid conversion's payment: when its charge is requested (once per
attempt, whoever asks and however often), its payer, and what the client may fetch of it."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import structlog

from shared.clock import now
from shared.crypto import Sealer
from shared.messaging import OutboxRelay, encode, outbox_entry
from shared.storage import ObjectNotFound, ObjectStore
from upload.errors import (
    BankUnavailable,
    NotFound,
    PayerLocked,
    PaymentNotReady,
    PaymentNotRequired,
)
from upload.model import SOURCE
from upload.payment import (
    boleto_key_owned,
    charge_fields,
    charge_request,
    open_payer,
    seal_payer,
)
from upload.payment_repository import PaymentRepository

log = structlog.get_logger()
FindJob = Callable[[str, str], Awaitable[dict[str, Any]]]  # (tenant, job id): raises NotFound
SIMULATE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BoletoPdf:
    size: int
    chunks: AsyncIterator[bytes]


class Payments:
    def __init__(
        self,
        payments: PaymentRepository,
        relay: OutboxRelay,
        store: ObjectStore,
        sealer: Sealer,
        find_job: FindJob | None = None,
        sandbox_bank_url: str | None = None,
    ) -> None:
        self.payments = payments
        self.relay = relay
        self.store = store
        self.sealer = sealer
        self.find_job = find_job
        self.sandbox_bank_url = sandbox_bank_url

    async def request_if_due(self, job: dict[str, Any]) -> bool:
        """Ask for the first charge of a completed paid job that has its payer; the write's
        condition (still no charge requested) makes a second call, anywhere, change nothing."""
        payment = job.get("payment")
        if payment is None or payment["attempt"] != 0 or job["status"] != "completed":
            return False
        if not job.get("payer"):
            return False
        return await self._request(job, open_payer(self.sealer, job), store_payer=False)

    async def after_completion(self, job_id: str) -> bool:
        job = await self.payments.job(job_id)
        return job is not None and await self.request_if_due(job)

    async def set_payer(self, tenant: str, job_id: str, payer: dict[str, Any]) -> dict[str, Any]:
        """Store the job's payer; for a completed job, request its charge in the same write
        (a new one after a failed charge). Returns the job as stored now."""
        job = await self._own(tenant, job_id)
        payment = job.get("payment")
        if payment is None:
            raise PaymentNotRequired(f"the conversion {job_id} is free: it takes no payer")
        if payment["attempt"] > 0 and payment["status"] != "failed":
            raise PayerLocked("a charge was requested for this conversion's payer already")
        if job["status"] == "completed":
            written = await self._request(job, payer, store_payer=True)
        elif written := await self.payments.record_charge(
            job_id, 0, {}, payer=seal_payer(self.sealer, tenant, job_id, payer), tenant=tenant
        ):
            # the completion may have been recorded meanwhile, and read before this payer
            await self.request_if_due(await self._own(tenant, job_id))
        if not written:
            raise PayerLocked("the conversion's charge was requested meanwhile")
        return await self._own(tenant, job_id)

    async def _request(self, job: dict[str, Any], payer: dict[str, Any], store_payer: bool) -> bool:
        fields = charge_fields(job["payment"], now().date())
        entry = outbox_entry(encode(charge_request(job, fields, payer), SOURCE))
        sealed = seal_payer(self.sealer, job["tenant"], job["_id"], payer) if store_payer else None
        written = await self.payments.record_charge(
            job["_id"],
            job["payment"]["attempt"],
            fields,
            entry=entry,
            payer=sealed,
            tenant=job["tenant"],
        )
        if written:
            log.info(
                "payment.charge_requested", job_id=job["_id"], attempt=fields["payment.attempt"]
            )
            await self.relay.flush_or_defer(job["_id"], [entry])
        return written

    async def _own(self, tenant: str, job_id: str) -> dict[str, Any]:
        job = await self.payments.job(job_id)
        if job is None or job["tenant"] != tenant:
            raise NotFound(f"no conversion {job_id}")
        return job

    async def _issued(self, tenant: str, job_id: str) -> dict[str, Any]:
        """The payment of a paid job whose charge the bank issued (payment.pending came)."""
        assert self.find_job is not None, "payments are fetched through the API"
        payment = (await self.find_job(tenant, job_id)).get("payment")
        if payment is None:
            raise NotFound(f"conversion {job_id} has no payment")
        if not payment.get("pdf_key"):
            raise PaymentNotReady("the bank has not issued this conversion's charge yet")
        return payment

    async def boleto_pdf(self, tenant: str, job_id: str) -> BoletoPdf:
        payment = await self._issued(tenant, job_id)
        key = payment["pdf_key"]
        if not boleto_key_owned(key, tenant, payment["boleto_id"]):
            log.error("payment.foreign_boleto_not_served", job_id=job_id)
            raise NotFound(f"conversion {job_id} has no boleto")
        try:
            return BoletoPdf(await self.store.size(key), self.store.read(key))
        except ObjectNotFound:
            raise NotFound(f"the boleto of conversion {job_id} is no longer stored") from None

    async def pix_svg(self, tenant: str, job_id: str) -> bytes:
        code = (await self._issued(tenant, job_id)).get("pix_copia_e_cola")
        if not code:
            raise PaymentNotReady("this conversion's charge has no Pix code")
        import segno  # loaded by the first Pix code shown, not at start

        svg = BytesIO()
        segno.make(code, error="m").save(svg, kind="svg", scale=4, border=2)
        return svg.getvalue()

    async def simulate_paid(self, tenant: str, job_id: str) -> None:
        """Development: the bank simulator pays the charge; the payment then arrives as the
        bank's callback (charge.paid), like a real one."""
        if not self.sandbox_bank_url:
            raise NotFound("payments are simulated only against the sandbox bank")
        assert self.find_job is not None, "payments are simulated through the API"
        payment = (await self.find_job(tenant, job_id)).get("payment")
        if payment is None:
            raise NotFound(f"conversion {job_id} has no payment")
        if not payment.get("charge_id"):
            raise PaymentNotReady("the bank has not issued this conversion's charge yet")
        url = f"{self.sandbox_bank_url.rstrip('/')}/_sim/charges/{payment['charge_id']}/pagar"
        import httpx  # development only: not loaded by every API process

        try:
            async with httpx.AsyncClient(timeout=SIMULATE_TIMEOUT_S) as client:
                answer = await client.post(url)
        except httpx.HTTPError as exc:
            log.warning("payment.simulator_unreachable", error=type(exc).__name__)
            raise BankUnavailable("the sandbox bank cannot be reached; try again") from None
        if answer.is_error:
            log.warning("payment.simulator_refused", status=answer.status_code)
            raise BankUnavailable(f"the sandbox bank answered {answer.status_code}")
