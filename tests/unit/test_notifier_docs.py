"""The verification snippet subscribers copy from docs/webhooks.md agrees with our signatures."""

from notifier.delivery.signing import new_secret, signed_headers
from tests.support.notifier import documented_verify


def test_documented_snippet_accepts_ours_and_refuses_tampering() -> None:
    verify = documented_verify()
    secret, body = new_secret(), b'{"id":"ev_1"}'
    headers = signed_headers([secret], "ev_1", body)
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b"x")
    assert not verify(new_secret(), headers, body)
    assert not verify(secret, {**headers, "webhook-timestamp": "1"}, body)
