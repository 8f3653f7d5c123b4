"""Each quota refusal reaches the user as a problem with its status, code and Retry-After."""

import json

import pytest
from fastapi import Request

from upload.endpoints import refused
from upload.errors import NotFound
from upload.quotas import QuotaExceeded, ServerBusy, TooManyJobs, TooManyUploads


@pytest.mark.parametrize(
    "exc, status, code, retry_after",
    [
        (ServerBusy("busy"), 503, "server_busy", "2"),
        (TooManyUploads("4 at once", limit=4), 429, "too_many_uploads", "5"),
        (TooManyJobs("200 in flight", limit=200), 429, "too_many_jobs", "30"),
    ],
)
async def test_a_quota_refusal_says_when_to_retry(
    exc: QuotaExceeded, status: int, code: str, retry_after: str
) -> None:
    response = await refused(Request({"type": "http"}), exc)
    body = json.loads(bytes(response.body))
    assert (response.status_code, body["status"], body["code"]) == (status, status, code)
    assert response.headers["Retry-After"] == retry_after
    assert response.media_type == "application/problem+json"


async def test_other_refusals_carry_no_retry_after() -> None:
    response = await refused(Request({"type": "http"}), NotFound("no conversion cv_1"))
    assert "Retry-After" not in response.headers
