"""Upload acceptance with history: the same paced uploads on an empty database and with
10,000 earlier jobs.

    uv run python bench/history.py [--jobs 10000] [--rate 20] [--settle 60]

The system as ``make run`` starts it (the upload API with 2 processes). The 76 MPP fixtures
are uploaded at ``--rate`` per second over 5 new tenants (open model, ``bench/openloop.py``)
on the empty database; then ``--jobs`` earlier jobs are inserted directly (copies of a real
job document, each holding its file's reuse claim, over 50 tenants), the database is left
``--settle`` seconds, and the same uploads run again over 5 other new tenants (nothing to
reuse). Writes the ``history`` section of docs/benchmarks.md.
"""

import argparse
import asyncio
import copy
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import httpx  # noqa: E402
import pymongo  # noqa: E402
from system import System  # noqa: E402

from bench.cli import positive_float, positive_int, step  # noqa: E402
from bench.infrastructure import development_system  # noqa: E402
from bench.load import FIXTURES, paced_uploads  # noqa: E402
from bench.machine import describe, summary  # noqa: E402
from bench.markdown import met, table, write_section  # noqa: E402
from bench.openloop import Outcome  # noqa: E402
from bench.procstat import cpu_usage  # noqa: E402
from upload.repository import CLAIM, reuse_id  # noqa: E402

DATABASE = "bench_history"  # development_system names it after its vhost
P95_MS = 150.0  # the upload bar: 202 p95 at most this
FLAT = 1.25  # "flat": the p95 with history at most this times the empty database's
FLAT_SLACK_MS = 10.0  # ... or at most this much above it (ratios of a few ms are noise)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=positive_int, default=10_000, help="earlier jobs")
    parser.add_argument("--rate", type=positive_float, default=20.0, help="uploads per second")
    parser.add_argument("--settle", type=positive_float, default=60.0, help="s after inserting")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    return parser.parse_args()


async def new_keys(system: System, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {system.admin_key}"}
    async with httpx.AsyncClient(base_url=system.base_url, headers=headers, timeout=60) as admin:
        keys = []
        for _ in range(count):
            answer = await admin.post(
                "/v1/admin/api-keys", json={"tenant": f"hist-{uuid.uuid4().hex[:8]}"}
            )
            answer.raise_for_status()
            keys.append(str(answer.json()["key"]))
    return keys


def insert_history(url: str, count: int) -> float:
    """``count`` copies of a job the first run made, each holding its file's reuse claim;
    seconds taken."""
    started = time.monotonic()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url)
    with client:
        db = client[DATABASE]
        model = db.conversion_jobs.find_one({"status": "completed"}, {"outbox": 0})
        assert model is not None, "the first run completed no job to copy"
        for first in range(0, count, 500):
            jobs = []
            for number in range(first, min(first + 500, count)):
                job: dict[str, Any] = copy.deepcopy(model)
                job["_id"] = f"cv_{uuid.uuid4().hex}"
                job["tenant"] = f"history-{number % 50:02d}"
                job["fingerprint"] = secrets.token_hex(32)
                job[CLAIM] = reuse_id(job["tenant"], job["fingerprint"])
                jobs.append(job)
            db.conversion_jobs.insert_many(jobs)
    return time.monotonic() - started


def row(name: str, outcome: Outcome, db_cpu_s: float) -> list[str]:
    return [
        name,
        f"{len(outcome.answered)} of {len(outcome.samples)}",
        f"{outcome.p(50):.1f} / {outcome.p(95):.1f} / {outcome.p(99):.1f} ms",
        str(outcome.errors),
        f"{db_cpu_s:.1f} s",
    ]


def render(
    machine: dict[str, str],
    args: argparse.Namespace,
    runs: list[tuple[str, Outcome, float]],
    inserted_s: float,
) -> str:
    (_, empty, _), (_, loaded, _) = runs
    ratio = loaded.p(95) / empty.p(95)
    flat = ratio <= FLAT or loaded.p(95) - empty.p(95) <= FLAT_SLACK_MS
    bars = [
        [
            "`202` p95, empty database / with history",
            f"{empty.p(95):.1f} / {loaded.p(95):.1f} ms",
            f"<= {P95_MS:.0f} ms each",
            met(max(empty.p(95), loaded.p(95)) <= P95_MS),
        ],
        [
            f"flat to {args.jobs:,} jobs: p95 with history / empty",
            f"{ratio:.2f}",
            f"<= {FLAT} (or within {FLAT_SLACK_MS:.0f} ms)",
            met(flat),
        ],
    ]
    return "\n".join(
        [
            "## Upload acceptance with history",
            "",
            f"{summary(machine)}. The system as `make run` starts it, the upload API with 2 "
            f"processes; the 76 MPP fixtures uploaded at {args.rate:g}/s over 5 new tenants "
            "(open model, latency from the scheduled send) on the empty database, then again "
            f"over 5 other new tenants after {args.jobs:,} earlier jobs, each holding its "
            f"file's reuse claim, were inserted (in {inserted_s:.0f} s) and the database left "
            f"{args.settle:g} s. Rerun with `uv run python bench/history.py`.",
            "",
            table(["Bar", "Measured", "Target", "Met"], bars),
            "",
            table(
                ["Database", "Answered 202", "p50 / p95 / p99", "Errors", "SecantusDB CPU"],
                [row(name, outcome, cpu) for name, outcome, cpu in runs],
            ),
            "",
            "- What bounds it: a new file's upload is the job's insert alone (its reuse claim "
            "is a unique index on the job), so the history adds no work per upload; "
            "what it adds is the database's own: larger collections and indexes to write "
            "into, and the stall SecantusDB takes after a burst of writes (see the "
            "hand-written notes).",
        ]
    )


def measured(
    system: System, database_pid: int, keys: list[str], rate: float
) -> tuple[Outcome, float]:
    """The paced uploads' outcome and the database's CPU seconds meanwhile."""
    with cpu_usage({"database": [database_pid]}) as cpu:
        outcome, _ = asyncio.run(paced_uploads(system, keys, rate, 380 / rate))
    return outcome, cpu.seconds["database"]


def main() -> None:
    args = arguments()
    if not FIXTURES.is_dir():
        raise SystemExit(f"no fixtures folder {FIXTURES}")
    machine = describe()
    runs: list[tuple[str, Outcome, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        root = Path(tmp)
        with development_system(
            root, "bench-history", UPLOAD_API_PROCESSES="2", LOG_LEVEL="WARNING"
        ) as (system, database):
            pid = database.process.pid
            step(f"paced uploads at {args.rate:g}/s, empty database")
            empty, cpu_s = measured(system, pid, asyncio.run(new_keys(system, 5)), args.rate)
            runs.append(("empty", empty, cpu_s))
            step(f"inserting {args.jobs} earlier jobs")
            inserted_s = insert_history(database.url, args.jobs)
            step(f"inserted in {inserted_s:.0f} s; the database left {args.settle:g} s")
            time.sleep(args.settle)
            step(f"paced uploads at {args.rate:g}/s, {args.jobs} jobs in the database")
            loaded, cpu_s = measured(system, pid, asyncio.run(new_keys(system, 5)), args.rate)
            runs.append((f"{args.jobs:,} earlier jobs", loaded, cpu_s))
    section = render(machine, args, runs, inserted_s)
    print(section)
    write_section(args.out, "history", section)
    step(f"wrote the history section of {args.out}")


if __name__ == "__main__":
    main()
