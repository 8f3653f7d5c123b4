"""Envelope encryption of the secrets the platform keeps (read passwords, webhook secrets).

Each sealed blob has a random data key of its own (AES-256-GCM), wrapped by a key-encryption
key from ``SECRETS_KEY``. The blob names its wrapping key by a short id, so after a rotation the
old keys listed in ``SECRETS_OLD_KEYS`` still open what they sealed. A caller's ``context``
(e.g. ``password:<tenant>/<job_id>``) is authenticated with the blob: a blob copied next to
another job's does not open there. An optional expiry stamp is authenticated too.

Layout: version (1) | key id (4) | wrap nonce (12) | wrapped data key (48) | nonce (12) |
expiry, Unix seconds, 0 for none (8) | ciphertext and tag.
"""

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.clock import now
from shared.settings import InfraSettings

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
HEADER = struct.Struct(">B4s12s48s12sQ")
# development and tests only (ENVIRONMENT other than production): every process of a system
# must agree on the key, so it is fixed and public; production refuses it
DEV_SECRETS_KEY = "ZGV2ZWxvcG1lbnQgb25seTogbm90IGEgc2VjcmV0ISE="


class SecretsKeyError(RuntimeError):
    """The key settings are missing or malformed: a start-up error."""


class UnreadableSecret(ValueError):
    """Not sealed by a key this process holds, for this context, or altered since."""


class ExpiredSecret(UnreadableSecret):
    """Sealed with an expiry that has passed."""


def decode_key(text: str, setting: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(f"{setting} must be {KEY_BYTES} random bytes in base64")
    return key


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"schedule-platform key id\0" + key).digest()[:4]


class Sealer:
    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self._current = key
        self._kid = key_id(key)
        self._keys = {key_id(k): k for k in [*old_keys, key]}

    @classmethod
    def from_settings(cls, settings: InfraSettings) -> "Sealer":
        """The configured keys; outside production the documented development key if none."""
        production = settings.environment == "production"
        if not settings.secrets_key and production:
            raise SecretsKeyError(
                "SECRETS_KEY is not set: production needs 32 random bytes in base64 "
                "(e.g. `openssl rand -base64 32`) from a Secret (docs/security.md)"
            )
        text = settings.secrets_key or DEV_SECRETS_KEY
        if production and text.strip() == DEV_SECRETS_KEY:
            raise SecretsKeyError("SECRETS_KEY is the public development key: not in production")
        old = [decode_key(k, "SECRETS_OLD_KEYS") for k in settings.secrets_old_keys.split(",") if k]
        return cls(decode_key(text, "SECRETS_KEY"), old)

    def seal(self, plaintext: bytes, context: str, ttl: timedelta | None = None) -> bytes:
        expires = int((now() + ttl).timestamp()) if ttl is not None else 0
        data_key, wrap_nonce, nonce = AESGCM.generate_key(256), _nonce(), _nonce()
        bound = _bound(self._kid, context)
        wrapped = AESGCM(self._current).encrypt(wrap_nonce, data_key, bound)
        header = HEADER.pack(VERSION, self._kid, wrap_nonce, wrapped, nonce, expires)
        return header + AESGCM(data_key).encrypt(nonce, plaintext, header + bound)

    def open(self, blob: bytes, context: str, at: datetime | None = None) -> bytes:
        """The plaintext; ``ExpiredSecret`` past its expiry, ``UnreadableSecret`` otherwise."""
        if len(blob) < HEADER.size or blob[0] != VERSION:
            raise UnreadableSecret("not a sealed secret")
        header = blob[: HEADER.size]
        _, kid, wrap_nonce, wrapped, nonce, expires = HEADER.unpack(header)
        key = self._keys.get(kid)
        if key is None:
            raise UnreadableSecret("sealed with a key this process does not hold")
        bound = _bound(kid, context)
        try:
            data_key = AESGCM(key).decrypt(wrap_nonce, wrapped, bound)
            plaintext = AESGCM(data_key).decrypt(nonce, blob[HEADER.size :], header + bound)
        except InvalidTag:
            raise UnreadableSecret("the secret does not open with this key and context") from None
        if expires and (at or now()).timestamp() >= expires:
            raise ExpiredSecret("the secret has expired")
        return plaintext

    def derive(self, label: str) -> bytes:
        """A key for ``label`` (e.g. an HMAC's) derived from the current key: it changes with
        a rotation of ``SECRETS_KEY``."""
        hkdf = HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=label.encode())
        return hkdf.derive(self._current)


def _bound(kid: bytes, context: str) -> bytes:
    return bytes([VERSION]) + kid + context.encode()


def _nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def password_context(tenant: str, job_id: str) -> str:
    """What binds a job's sealed read password to that job (upload seals, converter opens)."""
    return f"password:{tenant}/{job_id}"
