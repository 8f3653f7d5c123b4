"""``make bench-load``: the whole system as ``make run`` starts it, under 1,000 users.

Scenarios, each driven in the open model (``bench/openloop.py``):

- reads: 1,000 users each polling their own job, then their own boleto, at 1 request/s each;
  the same with ``If-None-Match`` (answered ``304``); then rising rates until p95 crosses
  500 ms (the knee);
- an upload flood: 1,000 connections each uploading a small file at once;
- uploads at a fixed rate over several tenants, the ``202`` latency and the jobs' completion;
- long polling: users holding ``?wait=30`` on unfinished jobs, answered when they complete;
- memory: every API process's resident size after each of ``--runs`` repetitions of the reads
  and the flood, 5 s after the flood's jobs are final and again once idle for the APIs'
  periodic heap trim, after the caches' idle time (a leak shows as growth from run to run).

The report goes into docs/benchmarks.md (section ``load``), with the machine and its load.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import httpx  # noqa: E402
from system import System  # noqa: E402

from bench.boleto_load import PAYER  # noqa: E402
from bench.cli import positive_float, positive_int, step  # noqa: E402
from bench.infrastructure import development_system  # noqa: E402
from bench.load_report import IDLE_READING_S, KNEE_P95_MS, Figures, render  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.markdown import write_section  # noqa: E402
from bench.openloop import Driver, Outcome, Request, knee, run_open  # noqa: E402
from bench.procstat import children, cpu_usage, machine_cpu  # noqa: E402

SMALL = ROOT / "tests/fixtures/projects/mpp/generated__task-flags__Xtask-flags-project2003-mpp8.mpp"
FIXTURES = ROOT / "tests/fixtures/projects/mpp"
BOUNDARY = "bench-load-boundary"
FINAL = ("completed", "failed")


@dataclass
class User:
    key: str
    job_id: str = ""
    boleto_id: str = ""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=positive_int, default=1000)
    parser.add_argument("--tenants", type=positive_int, default=50)
    parser.add_argument(
        "--boletos",
        type=positive_int,
        default=100,
        help="distinct boletos the users poll (the bank issues 120 a minute: more would "
        "queue behind its limit for the whole run)",
    )
    parser.add_argument("--seconds", type=positive_float, default=60.0, help="per read run")
    parser.add_argument("--knee-seconds", type=positive_float, default=10.0)
    parser.add_argument("--flood", type=positive_int, default=1000, help="uploads at once")
    parser.add_argument("--upload-rate", type=positive_float, default=20.0)
    parser.add_argument("--runs", type=positive_int, default=3, help="repetitions (leak check)")
    parser.add_argument("--api-processes", type=positive_int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    args = parser.parse_args()
    if args.boletos % args.tenants or args.boletos > args.users:
        parser.error("--boletos must be a multiple of --tenants, and at most --users")
    return args


def api_processes(system: System, name: str) -> list[int]:
    """The processes serving an API: uvicorn's workers when it runs several, else itself."""
    pid = system.processes[name].pid
    return children(pid, "--multiprocessing-fork") or [pid]


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory(system: System) -> dict[str, dict[int, float]]:
    """The resident size of each API's processes, in MB, by pid."""
    return {
        name: {pid: resident_mb(pid) for pid in api_processes(system, name)}
        for name in ("upload-api", "boleto-api", "notifier-api")
        if name in system.processes
    }


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode(), (
        f"multipart/form-data; boundary={BOUNDARY}"
    )


async def users(system: System, count: int, tenants: int, boletos: int) -> list[User]:
    """``count`` users over ``tenants`` tenants, each with a job of its own (mostly reused
    conversions of one small file, so set-up is quick); the first ``boletos`` users create a
    boleto each, and the others watch one of those of their tenant."""
    content = SMALL.read_bytes()
    admin_headers = {"Authorization": f"Bearer {system.admin_key}"}
    async with httpx.AsyncClient(headers=admin_headers, timeout=60) as admin:
        keys = []
        for _ in range(tenants):
            answer = await admin.post(
                f"{system.base_url}/v1/admin/api-keys",
                json={"tenant": f"load-{uuid.uuid4().hex[:8]}"},
            )
            answer.raise_for_status()
            keys.append(answer.json()["key"])
    people = [User(keys[i % tenants]) for i in range(count)]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=120, limits=limits) as api:
        gate = asyncio.Semaphore(16)

        async def equip(number: int, user: User) -> None:
            headers = {"Authorization": f"Bearer {user.key}"}
            async with gate:
                job = await api.post(
                    f"{system.base_url}/v1/conversions",
                    headers=headers,
                    files={"file": (SMALL.name, content, "application/octet-stream")},
                )
                job.raise_for_status()
                user.job_id = job.json()["id"]
                if number >= boletos:
                    return
                charge = {
                    "seuNumero": f"L{number:07d}"[-15:],
                    "valorNominal": "10.00",
                    "dataVencimento": "2030-01-31",
                    "numDiasAgenda": 30,
                    "pagador": PAYER,
                }
                boleto = await api.post(
                    f"{system.boleto_url}/v1/boletos", headers=headers, json=charge
                )
                boleto.raise_for_status()
                user.boleto_id = boleto.json()["id"]

        # the first upload of each tenant converts; the rest reuse it
        await asyncio.gather(*(equip(i, u) for i, u in enumerate(people[:tenants])))
        await asyncio.sleep(5)
        await asyncio.gather(*(equip(i, u) for i, u in enumerate(people) if i >= tenants))
    for number, user in enumerate(people[boletos:], start=boletos):
        user.boleto_id = people[number % boletos].boleto_id  # same tenant: boletos % tenants == 0
    return people


def _get(driver: Driver, path: str, key: str, etag: str | None = None) -> bytes:
    headers = [("Authorization", f"Bearer {key}")]
    if etag:
        headers.append(("If-None-Match", etag))
    return driver.encode(Request("GET", path, tuple(headers)))


async def etags(base_url: str, paths: list[tuple[str, str]]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        found = []
        for path, key in paths:
            answer = await api.get(path, headers={"Authorization": f"Bearer {key}"})
            found.append(answer.headers.get("etag", ""))
        return found


async def read_runs(
    figures: Figures, system: System, people: list[User], args: Any, knees: bool = True
) -> None:
    rate = float(len(people))  # every user once a second
    for name, url, paths in (
        (
            "GET /v1/conversions/{id}",
            system.base_url,
            [(f"/v1/conversions/{u.job_id}", u.key) for u in people],
        ),
        (
            "GET /v1/boletos/{id}",
            system.boleto_url,
            [(f"/v1/boletos/{u.boleto_id}", u.key) for u in people],
        ),
    ):
        port = int(url.rsplit(":", 1)[1])
        driver = Driver("127.0.0.1", port, max_connections=len(people), timeout_s=10)
        raws = [_get(driver, p, k) for p, k in paths]
        step(f"{name}: {len(people)} users arrive (10 s)")
        figures.reads[f"{name}, the first 10 s"] = await run_open(driver, rate, 10, raws)
        step(f"{name}: {len(people)} users x 1 req/s for {args.seconds:.0f} s")
        process = "upload-api" if "conversions" in name else "boleto-api"
        pids = {process: api_processes(system, process)}
        with cpu_usage(pids) as used:
            outcome = await run_open(driver, rate, args.seconds, raws)
        figures.reads[name] = outcome
        figures.cpu[name] = used.seconds[process] * 1000 / max(len(outcome.samples), 1)
        figures.cpu[f"{name}, machine busy"] = used.busy_share(os.cpu_count() or 1)
        step(f"{name}: {outcome.achieved:.0f}/s answered, p95 {outcome.p(95):.1f} ms")
        tags = await etags(url, paths)
        conditional = [_get(driver, p, k, tag) for (p, k), tag in zip(paths, tags, strict=True)]
        step(f"{name} with If-None-Match")
        figures.reads[f"{name}, If-None-Match"] = await run_open(
            driver, rate, args.seconds / 2, conditional
        )
        figures.knees[name] = []
        for multiple in (1.5, 2, 3, 4) if knees else ():
            step(f"{name}: knee search at {rate * multiple:.0f} req/s")
            outcome = await run_open(driver, rate * multiple, args.knee_seconds, raws)
            figures.knees[name].append(outcome)
            if knee([outcome], KNEE_P95_MS) is not None:
                break
        driver.close()
        await asyncio.sleep(3)


async def flood(system: System, key: str, count: int) -> Outcome:
    """``count`` uploads of one small file, all scheduled at the same instant."""
    port = int(system.base_url.rsplit(":", 1)[1])
    driver = Driver("127.0.0.1", port, max_connections=count, timeout_s=60)
    body, content_type = multipart(SMALL.name, SMALL.read_bytes())
    raw = driver.encode(
        Request(
            "POST",
            "/v1/conversions",
            (("Authorization", f"Bearer {key}"), ("Content-Type", content_type)),
            body,
        )
    )
    # every request due within 10 ms: all at once
    outcome = await run_open(driver, count * 100.0, 0.01, [raw], keep_body=True)
    driver.close()
    return outcome


async def settled(system: System, key: str, outcome: Outcome, limit_s: float = 600) -> float:
    """Seconds until every job the flood got accepted was final (long polling each; a poll
    that times out is asked again), or ``limit_s`` when they were not all final by then."""
    started = time.monotonic()
    deadline = started + limit_s
    job_ids = [json.loads(s.body)["id"] for s in outcome.samples if s.status == 202]
    gate = asyncio.Semaphore(64)
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60, limits=limits) as api:

        async def final(job_id: str) -> None:
            async with gate:
                while time.monotonic() < deadline:
                    try:
                        answer = await api.get(f"/v1/conversions/{job_id}?wait=30", headers=headers)
                    except httpx.TimeoutException:
                        continue
                    if answer.status_code == 200 and answer.json()["status"] in FINAL:
                        return

        await asyncio.gather(*(final(job_id) for job_id in job_ids))
    return time.monotonic() - started


async def paced_uploads(
    system: System, keys: list[str], rate: float, seconds: float
) -> tuple[Outcome, float]:
    """Fixture files uploaded at ``rate`` per second over the tenants; then the time until
    every accepted job was final, counted from the first upload."""
    files = sorted(FIXTURES.glob("*.mpp"))
    port = int(system.base_url.rsplit(":", 1)[1])
    driver = Driver("127.0.0.1", port, max_connections=256, timeout_s=60)
    raws = []
    for i, path in enumerate(files * len(keys)):
        body, content_type = multipart(path.name, path.read_bytes())
        key = keys[i % len(keys)]
        headers = (("Authorization", f"Bearer {key}"), ("Content-Type", content_type))
        raws.append((key, driver.encode(Request("POST", "/v1/conversions", headers, body))))
    started = time.monotonic()
    outcome = await run_open(driver, rate, seconds, [raw for _, raw in raws], True)
    driver.close()
    jobs = [
        (raws[i % len(raws)][0], json.loads(s.body)["id"])
        for i, s in enumerate(outcome.samples)
        if s.status == 202
    ]
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as api:
        for key, job_id in jobs:
            while True:
                answer = await api.get(
                    f"/v1/conversions/{job_id}?wait=30",
                    headers={"Authorization": f"Bearer {key}"},
                )
                if answer.json()["status"] in ("completed", "failed"):
                    break
    return outcome, time.monotonic() - started


async def long_polls(system: System, key: str, count: int) -> dict[str, float]:
    """``count`` clients upload a file each and hold ``?wait=30`` until their job is final:
    how long after the job's recorded completion each answer came, and how many requests."""
    content = SMALL.read_bytes()
    limits = httpx.Limits(max_connections=count)
    lags: list[float] = []
    requests = 0
    async with httpx.AsyncClient(base_url=system.base_url, timeout=90, limits=limits) as api:
        headers = {"Authorization": f"Bearer {key}"}

        async def watch(number: int) -> None:
            nonlocal requests
            # a file of its own content (a trailing byte), so nothing is reused
            unique = content + number.to_bytes(4, "big")
            answer = await api.post(
                "/v1/conversions",
                headers=headers,
                files={"file": (SMALL.name, unique, "application/octet-stream")},
            )
            answer.raise_for_status()
            job = answer.json()
            while job["status"] not in ("completed", "failed"):
                requests += 1
                got = await api.get(f"/v1/conversions/{job['id']}?wait=30", headers=headers)
                job = got.json()
            lags.append(time.time() - _epoch(job["updated_at"]))

        await asyncio.gather(*(watch(i) for i in range(count)))
    lags.sort()
    return {
        "jobs": float(count),
        "requests": float(requests),
        "p50_ms": lags[len(lags) // 2] * 1000,
        "p95_ms": lags[int(len(lags) * 0.95) - 1] * 1000,
    }


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def measure(system: System, args: argparse.Namespace, figures: Figures) -> None:
    step(f"set-up: {args.users} users over {args.tenants} tenants, {args.boletos} boletos")
    people = await users(system, args.users, args.tenants, args.boletos)
    await asyncio.sleep(10)  # the first tenants' conversions and the set-up's events settle
    keys = sorted({u.key for u in people})
    for run in range(args.runs):
        step(f"run {run + 1} of {args.runs}")
        if run == 0:
            await read_runs(figures, system, people, args)
        else:  # the leak check: the same requests again, shorter
            short = argparse.Namespace(**{**vars(args), "seconds": args.seconds / 3})
            await read_runs(Figures({}, {}), system, people, short, knees=False)
        step(f"upload flood: {args.flood} at once")
        outcome = await flood(system, keys[run % len(keys)], args.flood)
        step("waiting for the flood's jobs to finish")
        converted_s = await settled(system, keys[run % len(keys)], outcome)
        if run == 0:
            figures.flood, figures.flood_converted_s = outcome, converted_s
        await asyncio.sleep(5)
        figures.memory_mb.append(memory(system))
        # idle: every cached document has gone idle and been swept, and the heap trimmed since
        await asyncio.sleep(IDLE_READING_S)
        figures.memory_settled_mb.append(memory(system))
    step(f"paced uploads: {args.upload_rate:.0f}/s of the fixtures over 5 tenants")
    figures.uploads, figures.uploads_completed_s = await paced_uploads(
        system, keys[:5], args.upload_rate, 380 / args.upload_rate
    )
    step("long polling: 50 users wait for their jobs")
    figures.long_polls = await long_polls(system, keys[-1], 50)


def main() -> None:
    args = arguments()
    settings = {
        "UPLOAD_API_PROCESSES": str(args.api_processes),
        "BOLETO_API_PROCESSES": str(args.api_processes),
        "LOG_LEVEL": "WARNING",
    }
    figures = Figures(describe(), {**vars(args), **settings, "out": str(args.out)})
    busy_before = machine_cpu()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        with development_system(root, "bench-load", boleto=True, notifier=True, **settings) as (
            system,
            _,
        ):
            asyncio.run(measure(system, args, figures))
    figures.settings["machine busy s"] = machine_cpu() - busy_before
    write_section(args.out, "load", render(figures))
    step(f"report written to {args.out}")
    os.sync()


if __name__ == "__main__":
    main()
