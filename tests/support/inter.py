"""The Banco Inter simulator for tests and benchmarks: in-process (ASGI) or as its own process."""

import asyncio
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from bootstrap import free_port, port_open
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from system import wait_until

from inter_simulator.app import create_app
from inter_simulator.settings import SimulatorSettings
from tests.support.api import api_client

CLIENT_ID, CLIENT_SECRET = "sim-client", "sim-secret"
SCOPES = "boleto-cobranca.read boleto-cobranca.write"
CHARGES = "/cobranca/v3/cobrancas"
CPF, CNPJ = "52998224725", "11222333000181"
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def simulator_client(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh simulator app served in-process; ``settings`` are ``SimulatorSettings`` fields."""
    app = create_app(SimulatorSettings(**settings))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://inter.test") as client,
    ):
        yield client


@contextmanager
def simulator_process(log: Path, **env: str) -> Iterator[str]:
    """``python -m inter_simulator`` on a free port; yields its base URL (https when TLS is on).

    ``env`` holds ``INTER_SIM_*`` variables without the prefix, e.g. ``PROFILE="original"``.
    """
    port = free_port()
    variables = {f"INTER_SIM_{name.upper()}": value for name, value in env.items()}
    variables |= {"INTER_SIM_PORT": str(port), "LOG_FORMAT": "json"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "inter_simulator"],
            env={**os.environ, **variables},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(partial(port_open, port), process, log, timeout=30)
        scheme = "https" if "INTER_SIM_TLS_CERT_FILE" in variables else "http"
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def token(client: httpx.AsyncClient, scope: str = SCOPES) -> dict[str, str]:
    """Authorization headers with a fresh token."""
    response = await client.post(
        "/oauth/v2/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def pdf_ready(
    boletos: httpx.AsyncClient, boleto_id: str, within: float = 60
) -> httpx.Response:
    """The boleto's PDF once boleto-sync has issued the charge and stored its PDF (``202``
    until then), through a client of the boleto API."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await boletos.get(f"/v1/boletos/{boleto_id}/pdf")
        if response.status_code == 200:
            return response
        assert response.status_code == 202, response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"no PDF for {boleto_id} within {within} s")


def charge_body(**overrides: Any) -> dict[str, Any]:
    """A valid charge request; ``pagador`` overrides merge into the default payer."""
    body: dict[str, Any] = {
        "seuNumero": "PROP-0001",
        "valorNominal": 100.5,
        "dataVencimento": (date.today() + timedelta(days=30)).isoformat(),
        "numDiasAgenda": 30,
        "pagador": {
            "cpfCnpj": CPF,
            "tipoPessoa": "FISICA",
            "nome": "João da Silva",
            "endereco": "Rua das Flores, 100",
            "cidade": "Belo Horizonte",
            "uf": "MG",
            "cep": "30110000",
        },
        "mensagem": {"linha1": "Proposta 0001"},
    }
    body["pagador"] |= overrides.pop("pagador", {})
    return body | overrides


async def configure(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/_sim/config", json=changes)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sim/stats")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def sim() -> AsyncIterator[httpx.AsyncClient]:
    """A fresh in-process simulator whose charges stay EM_PROCESSAMENTO for 0.2 s."""
    async with simulator_client(processing_delay_seconds=0.2) as client:
        yield client


@pytest.fixture
async def auth(sim: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers for ``sim``."""
    return await token(sim)


async def issued(sim: httpx.AsyncClient, auth: dict[str, str], **overrides: Any) -> str:
    response = await sim.post(CHARGES, json=charge_body(**overrides), headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["codigoSolicitacao"])


async def wait_situacao(
    sim: httpx.AsyncClient, auth: dict[str, str], codigo: str, situacao: str
) -> dict[str, Any]:
    for _ in range(100):
        view: dict[str, Any] = (await sim.get(f"{CHARGES}/{codigo}", headers=auth)).json()
        if view["cobranca"]["situacao"] == situacao:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{codigo} never reached {situacao}")


def assert_problem(response: httpx.Response, status: int, *properties: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    found = {violation["propriedade"] for violation in body.get("violacoes", [])}
    assert set(properties) <= found, body


@asynccontextmanager
async def callback_receiver(
    statuses: list[int],
) -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
    """A real HTTP server that records JSON bodies and answers ``statuses`` in turn, then 200."""
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await received.put(json.loads(b"".join(chunks)))
        status = statuses.pop(0) if statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    listening = socket.create_server(("127.0.0.1", 0))  # connections queue until served
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield f"http://127.0.0.1:{port}/inter/callback", received
    finally:
        server.should_exit = True
        await task


async def callbacks_settled(client: httpx.AsyncClient, attempts: int) -> dict[str, Any]:
    """The simulator's webhook counters once ``attempts`` callback POSTs have been answered
    and no delivery is pending."""
    for _ in range(200):
        webhook: dict[str, Any] = (await stats(client))["webhook"]
        if webhook["attempts"] >= attempts and webhook["pending"] == 0:
            return webhook
        await asyncio.sleep(0.05)
    raise AssertionError(f"callbacks never settled at {attempts} attempts: {webhook}")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_context(self, with_certificate: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_certificate:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def write_tls_files(folder: Path) -> TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inter-sim test CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    files = TlsFiles(*(folder / name for name in _TLS_NAMES))
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, common_name in (
        (files.server_cert, files.server_key, "127.0.0.1"),
        (files.client_cert, files.client_key, "sim-client"),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = _certificate(name, ca_name, key.public_key(), ca_key, ca=False)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


_TLS_NAMES = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@asynccontextmanager
async def registered_bank(simulator_url: str, secret: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the simulator holding a token, once boleto-sync's worker has registered
    its callback URL there, with ``secret``; its own calls are not limited."""
    async with api_client(simulator_url, timeout=30) as client:
        await configure(client, limits={"token": 1000, "webhook": 1000})
        auth = await token(client)
        for _ in range(50):  # the worker registers its callback URL once it has started
            registered = await client.get(f"{CHARGES}/webhook", headers=auth)
            if registered.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert registered.json()["webhookUrl"].endswith(f"?token={secret}"), registered.text
        client.headers.update(auth)
        yield client
