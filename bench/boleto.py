"""Banco Inter benchmark: three boleto-sync worker replicas against the strict simulator.

    uv run python bench/boleto.py [--boletos 300] [--window 10] [--out docs/benchmarks.md]

Run A configures the service at the bank's limits; run B lowers the bank's limits to 80 % of
the configured ones. Prints the Banco Inter section and rewrites it in the output file
(between its markers).
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bootstrap import Secantus, ensure_rabbitmq, rabbitmq_vhost, start_secantus  # noqa: E402
from system import System, running_system  # noqa: E402

from bench.boleto_load import Sampler, run_load  # noqa: E402
from bench.boleto_report import GroupFigures, RunResult, render, write_section  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.procstat import children, cpu_usage, pids_named  # noqa: E402

# the bank's published limits per window (the simulator's production profile)
BANK_LIMITS = {"issue": 120, "get": 120, "list": 120, "pdf": 120, "cancel": 120, "token": 5}
LOWERED = ("issue", "get", "list", "pdf", "cancel")
REPLICAS = 3


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boletos", type=int, default=300, help="boletos per run")
    parser.add_argument("--window", type=float, default=20.0, help="limit window, seconds")
    parser.add_argument("--lowered", type=float, default=0.8, help="run B: bank / configured")
    parser.add_argument("--processing", type=float, default=0.5, help="EM_PROCESSAMENTO, s")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


def step(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    system: System
    database: Secantus

    def process_groups(self) -> dict[str, list[int]]:
        """The processes whose CPU time a run accounts for, by component."""
        pid = {name: process.pid for name, process in self.system.processes.items()}
        idle = ["upload-api", "upload-worker", "converter"]
        return {
            f"boleto-sync workers ({REPLICAS})": [
                p for name, p in pid.items() if name.startswith("boleto-worker")
            ],
            "boleto-sync API": [pid["boleto-api"]],
            "Inter simulator": [pid["inter-simulator"]],
            "SecantusDB": [self.database.process.pid],
            "RabbitMQ (shared broker)": pids_named("beam.smp", "rabbit boot"),
            "benchmark client": [os.getpid()],
            "upload and converter (idle)": [pid[n] for n in idle] + children(pid["converter"]),
        }


@contextmanager
def boleto_system(root: Path, args: argparse.Namespace) -> Iterator[Bench]:
    """RabbitMQ (a fresh vhost), SecantusDB, the simulator, boleto-sync with 3 workers."""
    ensure_rabbitmq()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    database = start_secantus(root / "mongo", root / "logs" / "secantusdb.log")
    try:
        with (
            rabbitmq_vhost("bench-boleto") as amqp_url,
            running_system(
                root,
                amqp_url,
                database.url,
                boleto=True,
                MONGODB_DB="bench_boleto",
                INTER_SIM_WINDOW_SECONDS=f"{args.window:g}",
                BOLETO_LIMIT_WINDOW_S=f"{args.window:g}",
                INTER_SIM_PROCESSING_DELAY_SECONDS=f"{args.processing:g}",
                BOLETO_PROCESSING_POLL_S=f"{args.processing:g}",
            ) as system,
        ):
            for number in range(2, REPLICAS + 1):
                system.start_boleto_worker(f"boleto-worker-{number}")
            yield Bench(system, database)
    finally:
        database.stop()


def measure(bench: Bench, name: str, limits: dict[str, int], args: argparse.Namespace) -> RunResult:
    """One run: a reset bank with ``limits``, every boleto created and its PDF fetched."""
    system = bench.system
    with httpx.Client(base_url=system.simulator_url, timeout=30) as bank:
        bank.post("/_sim/reset").raise_for_status()
        bank.post("/_sim/config", json={"limits": limits}).raise_for_status()
    before = service_stats(system)
    with Sampler(system.simulator_url) as sampler, cpu_usage(bench.process_groups()) as cpu:
        load = asyncio.run(
            run_load(system.boleto_url, system.api_key, args.boletos, args.concurrency, 900)
        )
        time.sleep(1)  # the last answers reach the simulator's counters
    after, final = service_stats(system), sampler.last
    groups = {
        group: figures(group, final, sampler, before, after, args.window)
        for group, counters in final["groups"].items()
        if counters["accepted"] or counters["throttled"]
    }
    throttled_at = sampler.throttled_at(load.started_at)
    return RunResult(name, limits, load, groups, final["charges"]["total"], cpu, throttled_at)


def figures(
    group: str,
    final: dict[str, Any],
    sampler: Sampler,
    before: dict[str, Any],
    after: dict[str, Any],
    window: float,
) -> GroupFigures:
    counters = final["groups"][group]
    period = sampler.busy_period(group)
    span = period[1] - period[0] if period else 0.0
    rate = (counters["accepted"] - 1) / span if span > 0 else 0.0
    return GroupFigures(
        group=group,
        limit=counters["limit"],
        accepted=counters["accepted"],
        throttled=counters["throttled"],
        max_in_window=counters["max_in_window"],
        busy_s=span,
        rate=rate,
        utilisation=rate / (counters["limit"] / window) if counters["limit"] else 0.0,
        sent=after[group]["requests_sent"] - before[group]["requests_sent"],
        backoffs=after[group]["throttled_responses"] - before[group]["throttled_responses"],
    )


def service_stats(system: System) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {system.admin_key}"}
    with httpx.Client(base_url=system.boleto_url, headers=headers, timeout=30) as admin:
        answer = admin.get("/v1/admin/rate-limit/stats")
        answer.raise_for_status()
        return answer.json()["groups"]  # type: ignore[no-any-return]


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "boletos": args.boletos,
        "window": args.window,
        "lowered": args.lowered,
        "processing": args.processing,
        "concurrency": args.concurrency,
        "replicas": REPLICAS,
    }


def main() -> None:
    args = arguments()
    machine = describe()
    root = Path(tempfile.mkdtemp(prefix="bench-boleto-"))
    step(f"starting the system with {REPLICAS} boleto-sync workers under {root}")
    lowered = {g: int(BANK_LIMITS[g] * args.lowered) for g in LOWERED}
    try:
        with boleto_system(root, args) as bench:
            step(f"run A: {args.boletos} boletos, the bank's limits = the configured ones")
            run_a = measure(bench, "A", BANK_LIMITS, args)
            step(f"run A took {run_a.wall_s:.1f} s; run B: the bank at {args.lowered:.0%}")
            time.sleep(2)
            run_b = measure(bench, "B", BANK_LIMITS | lowered, args)
            step(f"run B took {run_b.wall_s:.1f} s")
    except BaseException:
        step(f"failed; logs kept in {root / 'logs'}")
        raise
    shutil.rmtree(root, ignore_errors=True)
    section = render(machine, settings(args), run_a, run_b)
    print(section)
    write_section(args.out, section)
    step(f"wrote the Banco Inter section of {args.out}")


if __name__ == "__main__":
    main()
