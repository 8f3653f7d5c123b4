"""MongoDB access for a job's payment (the ``payment`` and ``payer`` of ``conversion_jobs``).

Every write is conditional: its filter decides, on redelivered, retried or reordered events
and racing requests, whether it still applies. Each one that applied is told to the API
replicas as a notice that has them read the job again (their caches then show it).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import now, to_millis
from shared.messaging.notices import READ_AGAIN, Recorded
from upload.repository import COLLECTION

_NO_OUTBOX = {"outbox": 0}


class PaymentRepository:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        on_recorded: Callable[[Recorded], Awaitable[None]] | None = None,
    ) -> None:
        self._jobs = db[COLLECTION]
        self._on_recorded = on_recorded

    async def job(self, job_id: str) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": job_id}, _NO_OUTBOX)

    async def record_charge(
        self,
        job_id: str,
        attempt: int,
        fields: dict[str, Any],
        *,
        entry: dict[str, Any] | None = None,
        payer: bytes | None = None,
        tenant: str | None = None,
    ) -> bool:
        """Store a payer and/or request a charge (``entry``: its outbox entry) if the job's
        payment is still at ``attempt`` (after a first attempt: only once that one failed).
        A request needs a completed job, and a payer stored already unless one is given."""
        query: dict[str, Any] = {"_id": job_id, "payment.attempt": attempt}
        if attempt > 0:
            query["payment.status"] = "failed"
        if tenant is not None:
            query["tenant"] = tenant
        if entry is not None:
            query["status"] = "completed"
            if payer is None:
                query["payer"] = {"$ne": None}  # sealed: upload.payment.seal_payer
        sets = {**fields, **({"payer": payer} if payer is not None else {})}
        update: dict[str, Any] = {"$set": {**sets, "updated_at": to_millis(now())}}
        if entry is not None:
            update["$push"] = {"outbox": entry}
        return await self._update(job_id, query, update)

    async def record_bank_news(
        self,
        job_id: str,
        tenant: str,
        fields: dict[str, Any],
        *,
        boleto_id: str | None,
        statuses: list[str] | None = None,
    ) -> bool:
        """Set payment ``fields`` if the payment is in one of ``statuses`` (any but paid when
        None) and, with ``boleto_id``, is that boleto's: its own, or one not tied to a boleto
        yet and for which that boleto is not an earlier attempt's."""
        query: dict[str, Any] = {
            "_id": job_id,
            "tenant": tenant,
            "payment.status": {"$in": statuses} if statuses else {"$in": NOT_PAID},
        }
        if boleto_id is not None:
            query["payment.boleto_id"] = {"$in": [None, boleto_id]}
            query["payment.old_boletos"] = {"$nin": [boleto_id]}
        update = {"$set": {**fields, "updated_at": to_millis(now())}}
        return await self._update(job_id, query, update)

    async def _update(self, job_id: str, query: dict[str, Any], update: dict[str, Any]) -> bool:
        result = await self._jobs.update_one(query, update)
        if not result.modified_count:
            return False
        if self._on_recorded is not None:
            await self._on_recorded({job_id: READ_AGAIN})
        return True


NOT_PAID = ["pending", "expired", "cancelled", "failed"]
