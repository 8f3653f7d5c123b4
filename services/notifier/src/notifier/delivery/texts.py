"""The subject and text of each event's e-mail, from its CloudEvents JSON form.

A paid conversion mails three times: completed (the result stays locked), ``payment.pending``
(how to pay: amount, due date, Pix copia-e-cola, boleto PDF) and ``charge.paid`` (download
it now); or ``charge.cancelled`` / ``charge.failed`` when the charge can no longer be paid.
"""

import json
from collections.abc import Callable
from datetime import date
from typing import Any

Text = tuple[str, str]


def render(event: dict[str, Any], api_url: str) -> Text:
    """(subject, text) for an event in its CloudEvents JSON form."""
    data, kind = event.get("data") or {}, str(event.get("type", "")).rsplit(".v", 1)[0]
    links = Links(api_url, data.get("job_id"))
    text = RENDERERS.get(kind) if links.job else None
    if text is None:
        return f"{kind} ({event.get('subject', '')})", json.dumps(data, indent=2) + "\n"
    return text(data, links)


class Links:
    def __init__(self, api_url: str, job: str | None) -> None:
        self.job = job
        self.conversion = f"{api_url.rstrip('/')}/v1/conversions/{job}"
        self.result = f"{self.conversion}/result"
        self.boleto = f"{self.conversion}/payment/boleto.pdf"
        self.pix = f"{self.conversion}/payment/pix.svg"


def reais(cents: int) -> str:
    """``R$ 1.234,56``: the amount as Brazilians write it."""
    whole, fraction = divmod(cents, 100)
    return f"R$ {whole:,}".replace(",", ".") + f",{fraction:02d}"


def _day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def _completed(data: dict[str, Any], links: Links) -> Text:
    job, ready = data["job_id"], f"({data['size']} bytes, {data['media_type']})"
    if not data.get("payment_required"):
        return (
            f"Conversion {job} completed",
            f"Your conversion {job} is ready {ready}.\n\n"
            f"Download it with your API key from:\n{links.result}\n",
        )
    return (
        f"Conversion {job} completed: result released once paid",
        f"Your conversion {job} is done {ready}; its result is released once it is paid.\n\n"
        "Payment instructions (amount, due date, Pix and boleto) follow in the next mail, as "
        "soon as the charge is issued (if no payer was given yet, give one with "
        f"PUT {links.conversion}/payer). They will also be at:\n{links.boleto}\n{links.pix}\n\n"
        f"Once paid, download the result with your API key from:\n{links.result}\n",
    )


def _failed(data: dict[str, Any], links: Links) -> Text:
    return (
        f"Conversion {data['job_id']} failed",
        f"Your conversion {data['job_id']} failed: {data['code']}\n{data['message']}\n",
    )


def _pending(data: dict[str, Any], links: Links) -> Text:
    job, amount, due = data["job_id"], reais(data["amount_cents"]), _day(data["due_date"])
    lines = [
        f"Your conversion {job} is ready and waiting for payment: {amount}, due {due}.",
        "",
    ]
    if data.get("pix_copia_e_cola"):
        lines += ["Pay with Pix (copia e cola):", data["pix_copia_e_cola"], ""]
        lines += [f"Pix QR code:\n{links.pix}", ""]
    if data.get("linha_digitavel"):
        lines += [f"Boleto (linha digitável): {data['linha_digitavel']}", ""]
    lines += [f"Boleto PDF, with your API key:\n{links.boleto}", ""]
    lines += [f"Once paid, the result downloads with your API key from:\n{links.result}"]
    return f"Conversion {job} completed: payment due", "\n".join(lines) + "\n"


def _paid(data: dict[str, Any], links: Links) -> Text:
    return (
        f"Conversion {links.job}: payment received",
        f"Payment received for your conversion {links.job}; thank you.\n\n"
        f"Download the result with your API key from:\n{links.result}\n",
    )


def _cancelled(data: dict[str, Any], links: Links) -> Text:
    why = "expired" if data.get("situacao") == "EXPIRADO" else "was cancelled"
    return (
        f"Conversion {links.job}: charge {why}",
        f"The charge for your conversion {links.job} {why} ({data.get('situacao')}) and can no "
        "longer be paid; its result stays locked.\n\n"
        f"Its status:\n{links.conversion}\n",
    )


def _charge_failed(data: dict[str, Any], links: Links) -> Text:
    return (
        f"Conversion {links.job}: charge could not be issued",
        f"The charge for your conversion {links.job} could not be issued: {data.get('code')}\n"
        f"{data.get('message')}\n\nIts result stays locked until it is paid. To be charged "
        f"again, give another payer with:\nPUT {links.conversion}/payer\n",
    )


RENDERERS: dict[str, Callable[[dict[str, Any], Links], Text]] = {
    "conversion.completed": _completed,
    "conversion.failed": _failed,
    "payment.pending": _pending,
    "charge.paid": _paid,
    "charge.cancelled": _cancelled,
    "charge.failed": _charge_failed,
}
