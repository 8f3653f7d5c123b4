"""Rate-limit benchmark: one key far over its request rate next to a key at a modest rate, on
an upload API of two processes under the documented per-key defaults.

    uv run python bench/ratelimit.py [--seconds 20] [--flood-rate 600] [--calm-rate 20]

Key B (calm) reads its job at a fixed rate alone, then again while key A floods the same API
far past its limit. Reports B's latency both times, A's answers (how many refused, how many
let through against the limit), the Retry-After and RateLimit values A was given, and the
database writes the limiter cost. Rewrites its section of docs/benchmarks.md.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), str(ROOT / "scripts")] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"
]

import httpx  # noqa: E402
import pymongo  # noqa: E402
from bootstrap import free_port  # noqa: E402
from system import System  # noqa: E402

from bench.cli import positive_float, step  # noqa: E402
from bench.infrastructure import broker_and_database  # noqa: E402
from bench.machine import describe, summary  # noqa: E402
from bench.markdown import table, write_section  # noqa: E402
from bench.openloop import Driver, Outcome, Request, Sample, run_open  # noqa: E402
from shared.tenants import TenantLimits  # noqa: E402

SECTION = "ratelimit"
ADMIN_KEY = "bench-admin-key"
DEFAULTS = TenantLimits()
SMALL = ROOT / "tests" / "fixtures" / "projects" / "mpp"
KEY_IDS: dict[str, str] = {}  # tenant -> the id of the key made for it


@dataclass
class Figures:
    machine: dict[str, str] = field(default_factory=dict)
    alone: Outcome | None = None
    beside: Outcome | None = None
    flood: Outcome | None = None
    beside_unlimited: Outcome | None = None  # B again, with A's limit lifted
    flood_unlimited: Outcome | None = None
    retry_after: Counter[str] = field(default_factory=Counter)
    ratelimit: Counter[str] = field(default_factory=Counter)
    leases: dict[str, int] = field(default_factory=dict)  # key id -> leases


def start_api(root: Path, amqp: str, mongodb_url: str) -> tuple[System, int]:
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("TENANT_DEFAULT_")
    }  # the documented defaults, whatever the shell says
    env |= {
        "ENVIRONMENT": "development",
        "RABBITMQ_URL": amqp,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB": "bench",
        "DATA_DIR": str(root),
        "DEV_ADMIN_KEY": ADMIN_KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "UPLOAD_PORT": str(port),
        "UPLOAD_API_PROCESSES": "2",
    }
    system = System(f"http://127.0.0.1:{port}", "", ADMIN_KEY, env, root / "logs")
    system.start("upload-api", ["upload", "api"], port)
    return system, port


async def key_with_job(base_url: str, tenant: str) -> tuple[str, str]:
    """A new key of ``tenant`` and the id of a job it uploaded (its reads are cache hits)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as api:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        created = await api.post("/v1/admin/api-keys", json={"tenant": tenant}, headers=admin)
        created.raise_for_status()
        key = created.json()["key"]
        KEY_IDS[tenant] = created.json()["id"]
        sample = sorted(SMALL.glob("*.mpp"))[0]
        job = await api.post(
            "/v1/conversions",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": (sample.name, sample.read_bytes(), "application/octet-stream")},
        )
        job.raise_for_status()
        return key, job.json()["id"]


def reads(driver: Driver, key: str, job_id: str) -> list[bytes]:
    headers = (("Authorization", f"Bearer {key}"),)
    return [driver.encode(Request("GET", f"/v1/conversions/{job_id}", headers))]


async def watch_headers(base_url: str, key: str, job_id: str, seconds: float, f: Figures) -> None:
    """What a refused client is told, sampled twice a second during the flood."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            answer = await api.get(
                f"/v1/conversions/{job_id}", headers={"Authorization": f"Bearer {key}"}
            )
            if answer.status_code == 429:
                f.retry_after[answer.headers.get("retry-after", "-")] += 1
                f.ratelimit[answer.headers.get("ratelimit", "-")] += 1
            await asyncio.sleep(0.5)


async def measure(args: argparse.Namespace, base_url: str, port: int, f: Figures) -> None:
    calm_key, calm_job = await key_with_job(base_url, "bench-calm")
    flood_key, flood_job = await key_with_job(base_url, "bench-flood")
    calm = Driver("127.0.0.1", port, max_connections=8, timeout_s=10)
    flood = Driver("127.0.0.1", port, max_connections=32, timeout_s=10)
    step("warm-up")
    await run_open(calm, args.calm_rate, 3, reads(calm, calm_key, calm_job))
    step(f"key B alone: {args.calm_rate}/s for {args.seconds} s")
    f.alone = await run_open(calm, args.calm_rate, args.seconds, reads(calm, calm_key, calm_job))
    step(f"key B beside key A flooding at {args.flood_rate}/s")
    f.beside, f.flood, _ = await asyncio.gather(
        run_open(calm, args.calm_rate, args.seconds, reads(calm, calm_key, calm_job)),
        run_open(flood, args.flood_rate, args.seconds, reads(flood, flood_key, flood_job)),
        watch_headers(base_url, flood_key, flood_job, args.seconds, f),
    )
    step("key B beside key A again, with A's limit lifted (what the limit saves B)")
    await lift_limit(base_url, "bench-flood")
    f.beside_unlimited, f.flood_unlimited = await asyncio.gather(
        run_open(calm, args.calm_rate, args.seconds, reads(calm, calm_key, calm_job)),
        run_open(flood, args.flood_rate, args.seconds, reads(flood, flood_key, flood_job)),
    )
    calm.close()
    flood.close()


async def lift_limit(base_url: str, tenant: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as api:
        lifted = await api.patch(
            f"/v1/admin/tenants/{tenant}",
            json={"limits": {"requests_per_s": 100_000, "burst": 1_000_000}},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        lifted.raise_for_status()
    await asyncio.sleep(3)  # every process reloads the tenants' limits within 2 s


async def run(args: argparse.Namespace, root: Path) -> Figures:
    f = Figures(machine=describe())
    with broker_and_database(root, "bench-ratelimit") as (amqp, database):
        system, port = start_api(root, amqp, database.url)
        mongo: pymongo.MongoClient = pymongo.MongoClient(database.url)  # type: ignore[type-arg]
        try:
            await measure(args, system.base_url, port, f)
            f.leases = await asyncio.to_thread(leases, mongo)
        finally:
            mongo.close()
            system.stop()
    return f


def leases(mongo: pymongo.MongoClient) -> dict[str, int]:  # type: ignore[type-arg]
    """Each key's leases so far: the database writes its rate limit cost."""
    return {
        doc["_id"]: int(doc.get("leases", 0))
        for doc in mongo["bench"]["api_rate_limits"].find({}, {"leases": 1})
    }


def render(f: Figures, args: argparse.Namespace) -> str:
    assert f.alone and f.beside and f.flood and f.beside_unlimited and f.flood_unlimited
    flood = f.flood.statuses()
    refused = flood.get(429, 0)
    passed = sum(n for s, n in flood.items() if 200 <= s < 400)
    unanswered = flood.get(0, 0)
    rows = [
        _latency_row("B alone", f.alone),
        _latency_row(f"B beside A at {args.flood_rate:g}/s, A limited", f.beside),
        _latency_row(f"B beside A at {args.flood_rate:g}/s, A's limit lifted", f.beside_unlimited),
    ]
    lifted = f.flood_unlimited.statuses()
    lines = [
        "## Rate limits: one key flooding beside another",
        "",
        f"{summary(f.machine)}. Upload API of two processes, documented per-key defaults "
        f"({DEFAULTS.requests_per_s:g} requests/s, burst {DEFAULTS.burst}); every request a "
        f"cached job read. Key B reads at {args.calm_rate:g}/s, key A floods at "
        f"{args.flood_rate:g}/s, {args.seconds:g} s each (`bench/ratelimit.py`).",
        "",
        table(["run", "answered", "p50 ms", "p95 ms", "p99 ms", "errors"], rows),
        "",
        f"Key A: {len(f.flood.samples)} requests, {refused} refused with 429 "
        f"({100 * refused / max(len(f.flood.samples), 1):.1f} %), {passed} let through: "
        f"{passed / args.seconds:.1f}/s against a limit of {DEFAULTS.requests_per_s:g}/s "
        f"(the burst of {DEFAULTS.burst} and one leased batch per process on top); "
        f"{unanswered} not answered ({_counts(_errors(f.flood))}: "
        "the client waits at most 10 s, a free connection included). "
        f"Other answers: {_others(flood)}. With its limit lifted, A had "
        f"{sum(n for s, n in lifted.items() if 200 <= s < 400)} answered with 200 and "
        f"{lifted.get(0, 0)} not answered.",
        "",
        f"Retry-After seen by A (sampled twice a second): {_counts(f.retry_after)}; "
        f"RateLimit: {_counts(f.ratelimit)}.",
        "",
        f"Database writes of the limiter (its leases) over the whole run: key A "
        f"{_leases(f, 'bench-flood', f.flood.samples)}, key B "
        f"{_leases(f, 'bench-calm', f.alone.samples + f.beside.samples)}.",
    ]
    return "\n".join(lines)


def _latency_row(name: str, o: Outcome) -> list[str]:
    return [
        name,
        f"{len(o.answered)}/{len(o.samples)}",
        f"{o.p(50):.1f}",
        f"{o.p(95):.1f}",
        f"{o.p(99):.1f}",
        str(o.errors),
    ]


def _leases(f: Figures, tenant: str, samples: list[Sample]) -> str:
    count = f.leases.get(KEY_IDS.get(tenant, ""), 0)
    return f"{count} for {len(samples)} requests ({count / max(len(samples), 1):.3f} per request)"


def _errors(o: Outcome) -> Counter[str]:
    return Counter(s.error for s in o.samples if not s.status)


def _counts(values: Counter[str]) -> str:
    return ", ".join(f"`{v}` x{n}" for v, n in values.most_common(4)) or "none"


def _others(statuses: dict[int, int]) -> str:
    rest = {s: n for s, n in statuses.items() if s >= 400 and s != 429}
    return ", ".join(f"{s} x{n}" for s, n in sorted(rest.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=positive_float, default=20.0)
    parser.add_argument("--flood-rate", type=positive_float, default=300.0)
    parser.add_argument("--calm-rate", type=positive_float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    assert figures.flood is not None
    step(f"key A's answers by status: {figures.flood.statuses()}")
    for status in (200, 429):
        latencies = sorted(
            s.latency_s * 1000
            for s in figures.flood.samples
            if s.status == status and s.latency_s is not None
        )
        if latencies:
            step(f"key A's {status}: p50 {latencies[len(latencies) // 2]:.0f} ms")
    section = render(figures, args)
    print(section)
    write_section(args.out, SECTION, section)


if __name__ == "__main__":
    main()
