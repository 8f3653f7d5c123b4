"""A paid conversion's payment: its part of the job document, the payer's checks and the
event that asks boleto-sync for the charge.

The payer (personal data) is stored beside the payment as ``payer``, sealed like an MPP
password (``shared.crypto``, bound to the job), and travels only in ``payment.requested``:
never in a log, a job view or another event.
"""

import json
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from shared.crypto import Sealer
from shared.events import PaymentRequested
from shared.messaging import encode, outbox_entry
from shared.payer import Payer
from shared.tenants import TenantPrice
from upload.errors import InvalidPayer
from upload.model import SOURCE

# the fields a new charge starts again with (a new attempt after a failed one)
UNISSUED: dict[str, Any] = {
    "boleto_id": None,
    "charge_id": None,
    "pix_copia_e_cola": None,
    "linha_digitavel": None,
    "pdf_key": None,
    "paid_at": None,
    "error": None,
}


def new_payment(price: TenantPrice) -> dict[str, Any]:
    """The payment of a job accepted for a paying tenant: no charge requested yet."""
    return {
        "status": "pending",
        "amount_cents": price.price_cents,
        "currency": price.currency,
        "due_days": price.due_days,
        "attempt": 0,
        "due_date": None,
        **UNISSUED,
        "old_boletos": [],  # the boletos of earlier attempts: their late events change nothing
    }


def payer_context(tenant: str, job_id: str) -> str:
    """What a sealed payer is bound to: it opens for its own job only."""
    return f"payer:{tenant}/{job_id}"


def seal_payer(sealer: Sealer, tenant: str, job_id: str, payer: dict[str, Any]) -> bytes:
    """The payer as the job document keeps it: a database backup does not show it."""
    plain = json.dumps(payer, separators=(",", ":"), ensure_ascii=False).encode()
    return sealer.seal(plain, payer_context(tenant, job_id))


def open_payer(sealer: Sealer, job: dict[str, Any]) -> dict[str, Any]:
    payer: dict[str, Any] = json.loads(
        sealer.open(job["payer"], payer_context(job["tenant"], job["_id"]))
    )
    return payer


def parse_payer(text: str) -> dict[str, Any]:
    """The payer given as a form field's JSON, checked (``InvalidPayer`` says what is wrong)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidPayer("payer must be a JSON object in the bank's field names") from None
    return validate_payer(data)


def validate_payer(data: Any) -> dict[str, Any]:
    try:
        return Payer.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as invalid:
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "payer",
                "msg": error["msg"].removeprefix("Value error, "),
            }
            for error in invalid.errors(
                include_url=False, include_context=False, include_input=False
            )
        ]
        said = "; ".join(f"{error['field']}: {error['msg']}" for error in errors)
        raise InvalidPayer(f"invalid payer: {said}", errors=errors) from None


def charge_fields(payment: dict[str, Any], today: date) -> dict[str, Any]:
    """The payment's fields once its next charge is requested (``$set`` paths). A new attempt
    starts afresh; the first keeps what it holds (still nothing, unless the bank's news of
    that charge overtook the request's own write)."""
    due = today + timedelta(days=payment["due_days"])
    fields = {"payment.attempt": payment["attempt"] + 1, "payment.due_date": due.isoformat()}
    if payment["attempt"] == 0:
        return fields
    old = list(payment.get("old_boletos") or [])
    if payment.get("boleto_id"):
        old.append(payment["boleto_id"])
    fresh = {f"payment.{name}": value for name, value in UNISSUED.items()}
    return fields | fresh | {"payment.status": "pending", "payment.old_boletos": old}


def charge_request(
    job: dict[str, Any], fields: dict[str, Any], payer: dict[str, Any]
) -> PaymentRequested:
    """``payment.requested`` for the charge ``fields`` (``charge_fields``) describe."""
    payment = job["payment"]
    return PaymentRequested(
        tenant_id=job["tenant"],
        job_id=job["_id"],
        attempt=fields["payment.attempt"],
        amount_cents=payment["amount_cents"],
        currency=payment["currency"],
        due_date=date.fromisoformat(fields["payment.due_date"]),
        payer=payer,
    )


def first_charge(job: dict[str, Any], payer: dict[str, Any], today: date) -> dict[str, Any]:
    """The outbox entry of a new job's charge, requested as it is recorded (a reused result:
    the job is completed at once); its payment shows the request."""
    fields = charge_fields(job["payment"], today)
    entry = outbox_entry(encode(charge_request(job, fields, payer), SOURCE))
    job["payment"].update({path.removeprefix("payment."): value for path, value in fields.items()})
    return entry


def boleto_key_owned(key: str, tenant: str, boleto_id: str) -> bool:
    """Whether ``key`` names an object under the boleto's own ``{tenant}/boletos/{boleto_id}/``."""
    rest = key.removeprefix(f"{tenant}/boletos/{boleto_id}/")
    parts = rest.split("/")
    return (
        rest != key
        and "/" not in boleto_id
        and all(
            part not in ("", ".", "..") and "\\" not in part and "\0" not in part for part in parts
        )
    )


def locked(job: dict[str, Any]) -> bool:
    """A paid conversion whose charge is not paid: its result is not served."""
    payment = job.get("payment")
    return payment is not None and payment["status"] != "paid"
