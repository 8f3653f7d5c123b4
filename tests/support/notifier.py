"""A webhook receiver the tests control, SSE reading, and events published as a service would."""

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from bootstrap import free_port
from system import System

from shared.events import (
    ChargePaid,
    ConversionCompleted,
    Event,
    Manifest,
    PaymentPending,
    PaymentRequested,
)
from shared.messaging import Broker, encode
from tests.support.api import new_key


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float


@dataclass
class Receiver:
    """Answers ``script`` in order (then ``then``); ``0`` in the script means: never answer."""

    script: list[int] = field(default_factory=list)
    then: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                index = len(receiver.requests)
                status = receiver.script[index] if index < len(receiver.script) else receiver.then
                receiver.requests.append(
                    Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, status, time.time()
                    )
                )
                if status == 0:
                    receiver.hold.wait(60)
                    return
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@asynccontextmanager
async def receiver(**options: Any) -> AsyncIterator[Receiver]:
    running = Receiver(**options).start()
    try:
        yield running
    finally:
        running.stop()


async def eventually(check: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@dataclass
class Stream:
    """An SSE client reading in the background: the ``data:`` of each event, with its id."""

    status: int | None = None
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    comments: int = 0

    def ids(self) -> list[str]:
        return [event_id for event_id, _, _ in self.events]


@asynccontextmanager
async def sse(
    base_url: str, key: str, last_event_id: str | None = None, query: str = ""
) -> AsyncIterator[Stream]:
    stream = Stream()
    headers = {"Authorization": f"Bearer {key}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream(
                "GET", f"{base_url}/v1/events/stream{query}", headers=headers
            ) as response,
        ):
            stream.status = response.status_code
            event_id, kind = "", ""
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    stream.comments += 1
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    stream.events.append((event_id, kind, json.loads(line[5:].strip())))

    task = asyncio.create_task(read())
    try:
        await eventually(lambda: stream.status is not None or task.done(), 10, "stream opened")
        yield stream
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def new_tenant(system_base_url: str, admin_key: str) -> tuple[str, str]:
    """(tenant, API key) of a fresh tenant, so a test sees only its own events."""
    tenant = f"nt-{uuid.uuid4().hex[:8]}"
    return tenant, await new_key(system_base_url, admin_key, tenant)


def completed(tenant: str, job_id: str | None = None) -> ConversionCompleted:
    return ConversionCompleted(
        tenant_id=tenant,
        job_id=job_id or f"cv_{uuid.uuid4().hex}",
        result_key=f"{tenant}/x/result.xml",
        size=10,
        sha256="0" * 64,
        media_type="application/xml",
        manifest=Manifest(source_format="mpp", read={}, written={}),
    )


def payment_requested(tenant: str, job_id: str) -> PaymentRequested:
    """As the upload service asks: with a payer, whose data must reach no subscriber."""
    payer = {"cpfCnpj": "12345678909", "nome": "Maria Pagadora", "email": "maria@example.com"}
    return PaymentRequested(
        tenant_id=tenant, job_id=job_id, amount_cents=990, due_date=date(2026, 12, 10), payer=payer
    )


def payment_pending(tenant: str, job_id: str) -> PaymentPending:
    return PaymentPending(
        tenant_id=tenant,
        job_id=job_id,
        boleto_id=f"bl_{job_id}",
        charge_id=f"cs-{job_id}",
        amount_cents=990,
        due_date=date(2026, 12, 10),
        pix_copia_e_cola="00020101021226990014br.gov.bcb.pix2577pix.example/qr/v2/cobv/x6304ABCD",
        linha_digitavel="07790.00116 12345.678901 23456.789012 3 12340000000990",
        pdf_key=f"{tenant}/boletos/bl_{job_id}.pdf",
    )


def charge_paid(tenant: str, job_id: str | None) -> ChargePaid:
    return ChargePaid(
        tenant_id=tenant,
        boleto_id=f"bl_{job_id}",
        job_id=job_id,
        charge_id=f"cs-{job_id}",
        situacao="RECEBIDO",
        paid_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )


async def publish(amqp_url: str, *events: Event) -> list[str]:
    """Publish as a service would (CloudEvents, confirmed); the event ids."""
    broker = Broker(amqp_url, "events")
    await broker.connect()
    try:
        ids = []
        for event in events:
            envelope = encode(event, "/tests")
            await broker.publish(envelope)
            ids.append(envelope.id)
        return ids
    finally:
        await broker.close()


def restart_worker(system: System, kill: bool = True) -> None:
    """SIGKILL (or stop) the notifier worker and start a new one."""
    if kill:
        system.kill("notifier-worker")
    port = free_port()
    system.start("notifier-worker", ["notifier", "worker"], port, {"NOTIFIER_OPS_PORT": str(port)})


def documented_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The verification snippet of docs/webhooks.md, run as a subscriber would paste it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    block = text.split("<!-- verify-snippet -->", 1)[1].split("```python", 1)[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/webhooks.md", "exec"), namespace)
    return namespace["verify_webhook"]  # type: ignore[no-any-return]
