"""Completion e-mails over SMTP (aiosmtplib); 4xx answers are retried, 5xx are final."""

import json
import time
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from opentelemetry.trace import SpanKind, StatusCode

from notifier.delivery.senders import Outcome
from notifier.delivery.texts import render
from notifier.settings import NotifierSettings
from shared.telemetry import tracer


class EmailSender:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    def content(
        self, delivery: dict[str, Any], subscription: dict[str, Any]
    ) -> tuple[list[str], str, str]:
        """(recipients, subject, text): the event's mail, to the recipients confirmed when
        the event was fanned out."""
        confirmed = subscription.get("confirmed", [])
        to = delivery.get("recipients", [r for r in subscription["recipients"] if r in confirmed])
        return to, *render(json.loads(delivery["body"]), self.settings.public_api_url)

    def message(self, delivery: dict[str, Any], subscription: dict[str, Any]) -> EmailMessage:
        to, subject, text = self.content(delivery, subscription)
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        # the same id on every attempt, so a retried e-mail is recognisable as one message
        message["Message-ID"] = f"<{delivery['msg_id']}.{subscription['_id']}@schedule-platform>"
        message.set_content(text)
        return message

    async def send(self, delivery: dict[str, Any], subscription: dict[str, Any]) -> Outcome:
        """One attempt, as a client span of the SMTP exchange (the webhook's is httpx's)."""
        server: dict[str, str | int] = {
            "server.address": self.settings.smtp_host or "",
            "server.port": self.settings.smtp_port,
        }
        with tracer.start_as_current_span(
            "smtp send", kind=SpanKind.CLIENT, attributes=server
        ) as span:
            outcome = await self._send(delivery, subscription)
            if outcome.status_code is not None:
                span.set_attribute("smtp.status_code", outcome.status_code)
            if not outcome.ok:
                span.set_status(StatusCode.ERROR, outcome.error)
            return outcome

    async def _send(self, delivery: dict[str, Any], subscription: dict[str, Any]) -> Outcome:
        started = time.perf_counter()
        s = self.settings
        if not s.smtp_host:
            return Outcome(False, False, None, 0.0, "e-mail is not configured (NOTIFIER_SMTP_HOST)")
        message = self.message(delivery, subscription)
        if not message["To"]:
            return Outcome(False, False, None, 0.0, "no recipient has confirmed")
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_tls,
                start_tls=starttls(s),
                cert_bundle=s.smtp_ca_file,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc.code, exc.message, started)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # every recipient refused; a temporary (4xx) refusal of any of them is worth a retry
            code = min(refusal.code for refusal in exc.recipients)
            return _refused(code, "; ".join(r.message for r in exc.recipients), started)
        except (aiosmtplib.SMTPException, OSError) as exc:
            latency = (time.perf_counter() - started) * 1000
            return Outcome(False, True, None, latency, f"{type(exc).__name__}: {exc}"[:300])
        return Outcome(True, False, 250, (time.perf_counter() - started) * 1000)


class ConfirmationSender(EmailSender):
    """The mail that asks a new recipient to confirm, with its single-use link."""

    def content(
        self, delivery: dict[str, Any], subscription: dict[str, Any]
    ) -> tuple[list[str], str, str]:
        asked = json.loads(delivery["body"])
        text = (
            f"Someone using the schedule platform (tenant {asked['tenant']}) asked for "
            f"notifications to be e-mailed to {asked['address']}.\n\n"
            f"To receive them, confirm within {self.settings.email_confirm_ttl_s / 3600:g} "
            f"hours:\n{asked['link']}\n\n"
            "If you did not expect this, ignore this mail: nothing more will be sent to you.\n"
        )
        return [asked["address"]], "Confirm e-mail notifications from the schedule platform", text


def starttls(settings: NotifierSettings) -> bool | None:
    """True: the server must offer STARTTLS or nothing is sent (aiosmtplib refuses before
    MAIL FROM); None: upgrade when offered, else plain (only when plain SMTP is allowed)."""
    if settings.smtp_tls:
        return False
    return None if settings.smtp_allow_plain else True


def _refused(code: int, message: str, started: float) -> Outcome:
    """The server answered with a refusal: final when permanent (5xx), retried otherwise."""
    latency = (time.perf_counter() - started) * 1000
    return Outcome(False, code < 500, code, latency, f"SMTP {code}: {message}"[:300])
