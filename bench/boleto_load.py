"""The boleto benchmark's client side: boletos through the public API, PDFs asked for and
retried after Retry-After, and the simulator's counters sampled while the bank is busy."""

import asyncio
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from bench.client import epoch_seconds

RETRY_AFTER_S = (1.0, 10.0)  # the client's clamp of the API's Retry-After: least, most
PAYER = {
    "cpfCnpj": "52998224725",
    "tipoPessoa": "FISICA",
    "nome": "Cliente Bench",
    "endereco": "Rua das Flores, 100",
    "cidade": "Belo Horizonte",
    "uf": "MG",
    "cep": "30110000",
}


@dataclass
class Boleto:
    """One boleto as its client saw it; ``*_at`` are wall-clock seconds."""

    posted_at: float
    id: str = ""
    job_id: str = ""
    status: str = "lost"  # completed | failed | lost (no final answer within the time limit)
    pdf_at: float | None = None
    synced_at: float | None = None  # the job record's updated_at once completed
    error: dict[str, Any] | None = None


@dataclass
class Latencies:
    """Milliseconds of the API's answers, by kind."""

    post_202: list[float] = field(default_factory=list)
    pdf_202: list[float] = field(default_factory=list)
    pdf_200: list[float] = field(default_factory=list)


@dataclass
class Load:
    boletos: list[Boleto]
    latencies: Latencies
    started_at: float
    ended_at: float


def charge(batch: str, number: int) -> dict[str, Any]:
    return {
        "seuNumero": f"{batch}{number:05d}",
        "valorNominal": 100.5 + number % 50,
        "dataVencimento": (date.today() + timedelta(days=30)).isoformat(),
        "numDiasAgenda": 30,
        "pagador": PAYER,
    }


async def run_load(base_url: str, key: str, count: int, concurrency: int, within_s: float) -> Load:
    """``count`` boletos, each created, then its PDF asked for until it is there or failed."""
    batch, latencies = uuid.uuid4().hex[:6], Latencies()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
    ) as api:
        started = time.time()
        boletos = await asyncio.gather(
            *(
                _one(api, gate, charge(batch, n), latencies, started + within_s)
                for n in range(count)
            )
        )
        for boleto in boletos:
            if boleto.status == "completed":
                job = (await api.get(f"/v1/jobs/{boleto.job_id}")).json()
                boleto.synced_at = epoch_seconds(job["updated_at"])
    return Load(boletos, latencies, started, time.time())


async def _one(
    api: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    body: dict[str, Any],
    latencies: Latencies,
    deadline: float,
) -> Boleto:
    boleto = Boleto(time.time())
    created, ms = await _timed(gate, api.post("/v1/boletos", json=body))
    created.raise_for_status()
    latencies.post_202.append(ms)
    boleto.id, boleto.job_id = created.json()["id"], created.json()["pdf"]["sync_job_id"]
    while time.time() < deadline:
        answer, ms = await _timed(gate, api.get(f"/v1/boletos/{boleto.id}/pdf"))
        if answer.status_code == 200:
            latencies.pdf_200.append(ms)
            boleto.status, boleto.pdf_at = "completed", time.time()
            return boleto
        if answer.status_code == 409 or answer.json().get("job_id") != boleto.job_id:
            # refused by the bank, or the first job failed and this ask started another one
            job = (await api.get(f"/v1/jobs/{boleto.job_id}")).json()
            boleto.status, boleto.error = "failed", job.get("error")
            return boleto
        latencies.pdf_202.append(ms)
        least, most = RETRY_AFTER_S
        await asyncio.sleep(min(max(float(answer.headers.get("retry-after", least)), least), most))
    return boleto


async def _timed(gate: asyncio.Semaphore, request: Any) -> tuple[httpx.Response, float]:
    """The answer and its latency in ms, counted once a connection is free."""
    async with gate:
        started = time.perf_counter()
        response: httpx.Response = await request
        return response, (time.perf_counter() - started) * 1000


class Sampler:
    """Polls the simulator's ``/_sim/stats`` in a thread: accepted and 429s per group in time."""

    def __init__(self, simulator_url: str, period_s: float = 0.1) -> None:
        self.url, self.period_s = f"{simulator_url}/_sim/stats", period_s
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                asked = time.time()
                stats = client.get(self.url).json()
                self.samples.append(((asked + time.time()) / 2, stats))
                self._stop.wait(self.period_s)

    @property
    def last(self) -> dict[str, Any]:
        return self.samples[-1][1]

    def throttled_at(self, since: float) -> list[float]:
        """Seconds after ``since`` at which the bank answered 429 (to a sample's precision)."""
        totals = [(t, sum(g["throttled"] for g in s["groups"].values())) for t, s in self.samples]
        return [b[0] - since for a, b in itertools.pairwise(totals) for _ in range(b[1] - a[1])]

    def busy_period(self, group: str) -> tuple[float, float] | None:
        """When the group's first and last accepted requests came (to half a sample)."""
        counts = [(t, s["groups"][group]["accepted"]) for t, s in self.samples]
        moves = [(a[0], b[0]) for a, b in itertools.pairwise(counts) if b[1] > a[1]]
        if not moves:
            return None
        return (moves[0][0] + moves[0][1]) / 2, (moves[-1][0] + moves[-1][1]) / 2
