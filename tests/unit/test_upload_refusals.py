"""What the upload service refuses reaches the user as a problem with a stable status and code."""

import json

import pytest
from fastapi import Request

from shared.storage import StoredObject
from upload.endpoints import refused
from upload.errors import (
    IdempotencyConflict,
    InvalidForm,
    JobFailed,
    MalformedBody,
    NotAForm,
    NotASchedule,
    NotFound,
    NotReady,
    Refused,
    ResultExpired,
    TooLarge,
)
from upload.receive import ReceivedForm


async def _problem(exc: Refused) -> tuple[int, dict[str, object]]:
    response = await refused(Request({"type": "http"}), exc)
    assert response.media_type == "application/problem+json"
    return response.status_code, json.loads(bytes(response.body))


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (MalformedBody("bad"), 400, "malformed_request"),
        (NotFound("no conversion cv_1"), 404, "not_found"),
        (NotReady("queued", job_status="queued"), 409, "not_ready"),
        (ResultExpired("gone"), 410, "result_expired"),
        (TooLarge("too big", limit=10), 413, "too_large"),
        (NotAForm("not a form"), 415, "unsupported_media_type"),
        (NotASchedule("a PDF"), 415, "unsupported_format"),
        (InvalidForm("bad field"), 422, "validation_error"),
        (IdempotencyConflict("reused"), 422, "idempotency_key_reused"),
        (JobFailed("password_protected", "needs a password"), 422, "password_protected"),
    ],
)
async def test_each_refusal_has_its_status_and_code(exc: Refused, status: int, code: str) -> None:
    answered, body = await _problem(exc)
    assert (answered, body["status"], body["code"]) == (status, status, code)
    assert body["detail"] == exc.message


async def test_a_refusal_carries_its_details() -> None:
    _, body = await _problem(NotReady("the conversion is queued", job_status="queued"))
    assert body["job_status"] == "queued"
    _, body = await _problem(TooLarge("over", limit=10))
    assert body["limit"] == 10


def _form(**fields: str) -> ReceivedForm:
    return ReceivedForm(StoredObject("k", 1, "h"), "plan.mpp", "mpp", fields)


def test_form_options_default_to_mspdi_without_timephased_data() -> None:
    options = _form().options()
    assert (options.target, options.timephased) == ("mspdi", False)
    options = _form(target=" JSON ", timephased="yes").options()
    assert (options.target, options.timephased) == ("json", True)


@pytest.mark.parametrize("fields", [{"target": "docx"}, {"timephased": "maybe"}])
def test_unknown_options_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidForm):
        _form(**fields).options()


def test_an_empty_password_is_no_password() -> None:
    assert _form(password="").password is None
    assert _form(password="pw").password == "pw"
