"""Black-box checks of the deployment ``make deploy-local`` runs with ``podman kube play``.

Every request goes to the pods' host ports; the webhook receiver runs on the host, reached by
the notifier pod at the podman network's gateway (the local overlay allows that network).
"""

import asyncio
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from notifier.signing import InvalidSignature, verify
from tests.deploy.conftest import podman
from tests.support.api import upload, wait_final
from tests.support.inter import charge_body, pdf_ready
from tests.support.notifier import eventually

MSPDI = b"<Project"


def _ready(readiness: dict[str, Any]) -> str | None:
    port = readiness["port"]
    try:
        if "http" in readiness:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}{readiness['http']}", timeout=5
            ) as r:
                return None if r.status == 200 else f"answered {r.status}"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return None
    except OSError as error:
        return str(error)


def test_every_pod_runs_and_every_container_is_ready(deployment: dict[str, Any]) -> None:
    pods = dict(
        line.split()
        for line in podman(
            "pod",
            "ls",
            "--filter",
            "label=schedule-platform-local=true",
            "--format",
            "{{.Name}} {{.Status}}",
        ).splitlines()
    )
    assert pods == {name: "Running" for name in deployment["pods"]}
    probed = {c: i["readiness"] for c, i in deployment["containers"].items() if i["readiness"]}
    # every workload of the overlay has a readiness probe, the services' on /readyz
    assert set(probed) == set(deployment["containers"])
    assert {c for c, r in probed.items() if r.get("http") == "/readyz"} >= {
        "upload-api",
        "upload-worker-worker",
        "converter-converter",
        "boleto-sync-api",
        "boleto-sync-worker-worker",
        "notifier-api",
        "notifier-worker-worker",
    }
    assert {c: _ready(r) for c, r in probed.items()} == {c: None for c in probed}


async def test_a_conversion_uploaded_converted_and_downloaded(
    api: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    source = mpp_files[0]
    accepted = await upload(api, source)
    assert accepted.status_code == 202, accepted.text
    job = await wait_final(api, accepted.json()["id"], timeout=120)
    assert job["status"] == "completed", job.get("error")
    result = await api.get(f"/v1/conversions/{job['id']}/result")
    assert result.status_code == 200
    assert MSPDI in result.content[:2000]
    assert len(result.content) == job["result"]["size"]


async def test_a_boleto_pdf_answers_202_then_200(
    boleto_url: str, simulator_url: str, tenant_key: str
) -> None:
    headers = {"Authorization": f"Bearer {tenant_key}"}
    async with (
        httpx.AsyncClient(base_url=boleto_url, headers=headers, timeout=30) as boletos,
        httpx.AsyncClient(base_url=simulator_url, timeout=30) as bank,
    ):
        # a slow bank, so the first request finds the PDF still being fetched
        await bank.post("/_sim/config", json={"faults": {"latency_ms": 400}})
        try:
            body = charge_body(seuNumero=f"D{uuid.uuid4().hex[:12]}", proposal_id="P-deploy")
            created = await boletos.post("/v1/boletos", json=body)
            assert created.status_code == 202, created.text
            boleto_id = created.json()["id"]
            first = await boletos.get(f"/v1/boletos/{boleto_id}/pdf")
            assert first.status_code == 202, first.text
            assert first.json()["error"] == "PDF_SYNC_IN_PROGRESS"
            pdf = await pdf_ready(boletos, boleto_id, within=90)
        finally:
            await bank.post("/_sim/config", json={"faults": {"latency_ms": 0}})
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


class Receiver:
    """Webhook receiver on the host, listening where the pods reach the host."""

    def __init__(self, address: str) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{address}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(deployment: dict[str, Any]) -> Iterator[Receiver]:
    receiver = Receiver(deployment["gateway"])
    try:
        yield receiver
    finally:
        receiver.close()


async def test_a_webhook_delivered_from_the_pods_and_its_signature_verified(
    api: httpx.AsyncClient,
    notifier_url: str,
    tenant_key: str,
    hook: Receiver,
    mpp_files: list[Path],
) -> None:
    headers = {"Authorization": f"Bearer {tenant_key}"}
    async with httpx.AsyncClient(base_url=notifier_url, headers=headers, timeout=30) as notifier:
        subscribed = await notifier.post(
            "/v1/webhooks", json={"url": hook.url, "events": ["conversion.completed"]}
        )
        assert subscribed.status_code == 201, subscribed.text
        secret = subscribed.json()["secret"]
        job = await wait_final(api, (await upload(api, mpp_files[1])).json()["id"], timeout=120)
        assert job["status"] == "completed", job.get("error")
        await eventually(lambda: len(hook.requests) >= 1, 60, "the webhook delivery")
    delivered_headers, body = hook.requests[0]
    Webhook(secret).verify(body, delivered_headers)
    verify(secret, delivered_headers, body)
    assert job["id"].encode() in body
    with pytest.raises(InvalidSignature):
        verify(secret, delivered_headers, body + b" ")


async def test_a_job_completes_around_a_killed_converter_container(
    api: httpx.AsyncClient, deployment: dict[str, Any], mpp_files: list[Path]
) -> None:
    container = "converter-converter"
    accepted = await upload(api, mpp_files[2])
    assert accepted.status_code == 202, accepted.text
    podman("kill", "--signal", "KILL", container)
    killed_at = time.monotonic()
    # podman applies no restart policy to a container a user killed; the kubelet would
    # restart it, so the test does (the pod, its network and the broker stay up).
    state = podman("inspect", "--format", "{{.State.Status}}", container).strip()
    assert state in ("exited", "stopped"), state
    during = await upload(api, mpp_files[3])
    assert during.status_code == 202, during.text
    await asyncio.sleep(2)
    podman("start", container)
    readiness = deployment["containers"][container]["readiness"]
    await eventually(lambda: _ready(readiness) is None, 120, "the converter ready again")
    for job_id in (accepted.json()["id"], during.json()["id"]):
        job = await wait_final(api, job_id, timeout=180)
        assert job["status"] == "completed", (job_id, job.get("error"))
        result = await api.get(f"/v1/conversions/{job_id}/result")
        assert result.status_code == 200 and MSPDI in result.content[:2000]
    assert time.monotonic() - killed_at < 300
