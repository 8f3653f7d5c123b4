"""Envelope encryption of secrets at rest: what a sealed blob holds, what opens it, what not."""

import base64
import os
from datetime import timedelta

import pytest

from shared.clock import now
from shared.crypto import (
    DEV_SECRETS_KEY,
    ExpiredSecret,
    Sealer,
    SecretsKeyError,
    UnreadableSecret,
)
from shared.settings import InfraSettings

SECRET = b"hunter2-read-password"
CONTEXT = "password:acme/cv_1"


def _key() -> bytes:
    return os.urandom(32)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_a_sealed_secret_holds_no_plaintext_and_opens_with_its_key_and_context() -> None:
    sealer = Sealer(_key())
    blob = sealer.seal(SECRET, CONTEXT)
    assert SECRET not in blob
    assert sealer.open(blob, CONTEXT) == SECRET
    assert sealer.seal(SECRET, CONTEXT) != blob  # a fresh data key and nonce each time


def test_another_context_or_key_does_not_open_it() -> None:
    blob = Sealer(key := _key()).seal(SECRET, CONTEXT)
    with pytest.raises(UnreadableSecret):
        Sealer(key).open(blob, "password:acme/cv_2")
    with pytest.raises(UnreadableSecret):
        Sealer(_key()).open(blob, CONTEXT)


def test_an_altered_blob_does_not_open() -> None:
    sealer = Sealer(_key())
    blob = bytearray(sealer.seal(SECRET, CONTEXT))
    for index in (10, len(blob) - 1, 80):  # wrap nonce, ciphertext, expiry stamp
        altered = bytearray(blob)
        altered[index] ^= 1
        with pytest.raises(UnreadableSecret):
            sealer.open(bytes(altered), CONTEXT)
    with pytest.raises(UnreadableSecret):
        sealer.open(b"hunter2", CONTEXT)


def test_an_expired_secret_is_refused() -> None:
    sealer = Sealer(_key())
    blob = sealer.seal(SECRET, CONTEXT, ttl=timedelta(minutes=5))
    assert sealer.open(blob, CONTEXT, at=now() + timedelta(minutes=4)) == SECRET
    with pytest.raises(ExpiredSecret):
        sealer.open(blob, CONTEXT, at=now() + timedelta(minutes=6))


def test_after_a_rotation_old_blobs_open_and_new_ones_use_the_new_key() -> None:
    old, new = _key(), _key()
    before = Sealer(old).seal(SECRET, CONTEXT)
    rotated = Sealer(new, [old])
    assert rotated.open(before, CONTEXT) == SECRET
    with pytest.raises(UnreadableSecret):  # sealed with the new key only
        Sealer(old).open(rotated.seal(SECRET, CONTEXT), CONTEXT)


def test_derived_keys_differ_by_label_and_by_key() -> None:
    key = _key()
    assert Sealer(key).derive("a") == Sealer(key).derive("a")
    assert Sealer(key).derive("a") != Sealer(key).derive("b")
    assert Sealer(key).derive("a") != Sealer(_key()).derive("a")


def test_production_without_a_key_is_a_start_up_error_with_a_clear_message() -> None:
    with pytest.raises(SecretsKeyError, match="SECRETS_KEY is not set"):
        Sealer.from_settings(InfraSettings(environment="production", secrets_key=None))
    with pytest.raises(SecretsKeyError, match="development key"):
        Sealer.from_settings(InfraSettings(environment="production", secrets_key=DEV_SECRETS_KEY))
    with pytest.raises(SecretsKeyError, match="32 random bytes"):
        Sealer.from_settings(InfraSettings(environment="production", secrets_key="c2hvcnQ="))


def test_outside_production_every_process_agrees_on_the_development_key() -> None:
    blob = Sealer.from_settings(InfraSettings(environment="test")).seal(SECRET, CONTEXT)
    assert Sealer.from_settings(InfraSettings(environment="development")).open(blob, CONTEXT)


def test_keys_from_settings_with_old_keys_for_reading() -> None:
    old, new = _key(), _key()
    blob = Sealer(old).seal(SECRET, CONTEXT)
    settings = InfraSettings(secrets_key=_b64(new), secrets_old_keys=f"{_b64(_key())},{_b64(old)}")
    assert Sealer.from_settings(settings).open(blob, CONTEXT) == SECRET
