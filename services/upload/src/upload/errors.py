"""What the upload service turns down, each with the stable code a user sees.

The service raises them; the endpoints module alone chooses their HTTP status.
"""

from typing import Any


class Refused(Exception):
    """A request the service turns down: ``code`` is stable, the message is for the user."""

    code = "refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(Refused):
    code = "not_found"


class NotReady(Refused):
    code = "not_ready"


class ResultExpired(Refused):
    code = "result_expired"


class JobFailed(Refused):
    """The result of a failed job: the user sees the converter's own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class IdempotencyConflict(Refused):
    """The Idempotency-Key was used before with a different file."""

    code = "idempotency_key_reused"


class TooLarge(Refused):
    code = "too_large"


class NotAForm(Refused):
    code = "unsupported_media_type"


class NotASchedule(Refused):
    code = "unsupported_format"


class MalformedBody(Refused):
    code = "malformed_request"


class InvalidForm(Refused):
    code = "validation_error"


class UnknownField(Refused):
    """A form field the API does not define: refused rather than read and dropped."""

    code = "unknown_field"


class DuplicateField(Refused):
    code = "duplicate_field"


class TooManyParts(Refused):
    code = "too_many_parts"


class FieldTooLarge(Refused):
    code = "field_too_large"


class DuplicateJob(Exception):
    """A job with this id is stored already: a racing request with the same Idempotency-Key."""


class PaymentRequired(Refused):
    """A paid conversion's result before its charge is paid (its payment view in details)."""

    code = "payment_required"


class InvalidPayer(Refused):
    code = "invalid_payer"


class PaymentNotRequired(Refused):
    code = "payment_not_required"


class PayerLocked(Refused):
    """A charge was requested for the payer given: only a failed charge takes another."""

    code = "payer_locked"


class PaymentNotReady(Refused):
    """The bank has not issued the charge yet (no boleto, Pix code or charge to pay)."""

    code = "payment_not_ready"


class BankUnavailable(Refused):
    code = "bank_unavailable"
