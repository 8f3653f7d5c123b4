"""A local SMTP server (aiosmtpd) for mail tests: plain, or offering STARTTLS with a
certificate of its own CA, and an inbox that records every command it was sent."""

import datetime
import ipaddress
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CONFIRMATION_LINK = re.compile(r"https?://\S+/v1/email/confirm\?token=([A-Za-z0-9_-]+)")


def confirmation_token(text: str) -> str:
    """The token of the confirmation link in a mail's text."""
    found = CONFIRMATION_LINK.search(text)
    assert found is not None, f"no confirmation link in: {text}"
    return found.group(1)


async def confirm(notifier_url: str, token: str) -> None:
    """Confirm a recipient as its reader would, without an API key."""
    async with httpx.AsyncClient(base_url=notifier_url, timeout=30) as browser:
        response = await browser.post("/v1/email/confirm", params={"token": token})
    assert response.status_code == 200, response.text


@dataclass
class Inbox:
    """What the server was told: the commands that carry mail, and the messages accepted."""

    commands: list[str] = field(default_factory=list)
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append("MAIL")
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("DATA")
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        self.encrypted.append(session.ssl is not None)
        return "250 OK"

    def texts(self) -> list[str]:
        return [str(m.get_payload(decode=True).decode()) for _, m in self.messages]  # type: ignore[union-attr]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test smtp")])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def smtp_server(
    port: int, inbox: Inbox, certificate: tuple[Path, Path] | None = None
) -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1:``port``; with a certificate it offers STARTTLS and
    refuses mail until the session is encrypted."""
    tls: ssl.SSLContext | None = None
    if certificate is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*certificate)
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
