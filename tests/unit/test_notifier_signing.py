"""Standard Webhooks signatures: ours verify with the official library, and the other way round."""

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.delivery.signing import InvalidSignature, new_secret, signed_headers, verify

BODY = b'{"specversion":"1.0","id":"ev_1","type":"conversion.completed.v1"}'


def test_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) == 6 + 32
    assert secret != new_secret()


def test_our_signature_verifies_with_the_official_library() -> None:
    secret = new_secret()
    headers = signed_headers([secret], "ev_1", BODY)
    Webhook(secret).verify(BODY, headers)
    verify(secret, headers, BODY)


def test_the_official_library_signature_verifies_with_our_helper() -> None:
    secret = new_secret()
    now = int(time.time())
    signature = Webhook(secret).sign("msg_1", _dt(now), BODY.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    verify(secret, headers, BODY)


def test_in_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed_headers([new, old], "ev_1", BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        verify(secret, headers, BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "ev_2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
)
def test_tampered_deliveries_fail_both_checks(tamper) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    headers, body = tamper(signed_headers([secret], "ev_1", BODY), BODY)
    with pytest.raises(InvalidSignature):
        verify(secret, headers, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_another_secret_or_an_old_timestamp_is_refused() -> None:
    secret = new_secret()
    with pytest.raises(InvalidSignature, match="no signature"):
        verify(new_secret(), signed_headers([secret], "ev_1", BODY), BODY)
    stale = signed_headers([secret], "ev_1", BODY, now=int(time.time()) - 600)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(secret, stale, BODY)


def _dt(timestamp: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)
