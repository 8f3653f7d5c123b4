"""Banco Inter benchmark: boleto-sync worker replicas against the strict simulator.

    uv run python bench/boleto.py [--boletos 300] [--window 20] [--out docs/benchmarks.md]

Run A configures the service at the bank's limits; run B lowers the bank's limits to a share
(``--lowered``) of the configured ones. Prints the Banco Inter section and rewrites it in the
output file (between its markers).
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

from bootstrap import Secantus  # noqa: E402
from system import System, running_system  # noqa: E402

from bench.boleto_load import RETRY_AFTER_S, Sampler, run_load  # noqa: E402
from bench.boleto_report import SECTION, GroupFigures, RunResult, render  # noqa: E402
from bench.cli import positive_float, positive_int, step  # noqa: E402
from bench.infrastructure import broker_and_database  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.markdown import write_section  # noqa: E402
from bench.procstat import children, cpu_usage, pids_named  # noqa: E402
from boleto_sync.settings import BoletoSettings  # noqa: E402
from inter_simulator.limits import preset  # noqa: E402

# the bank's published limits and window (the simulator's production profile)
PRODUCTION = preset("production")
BANK_LIMITS = {group: limit for group, limit in PRODUCTION.limits.items() if limit is not None}
LOWERED = ("issue", "get", "list", "pdf", "cancel")
SERVICE_DEFAULTS = BoletoSettings.model_fields


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boletos", type=positive_int, default=300, help="boletos per run")
    parser.add_argument("--window", type=positive_float, default=20.0, help="limit window, s")
    parser.add_argument("--lowered", type=positive_float, default=0.8, help="run B: bank/config")
    parser.add_argument("--processing", type=positive_float, default=0.5, help="EM_PROCESSAMENTO")
    parser.add_argument("--concurrency", type=positive_int, default=16, help="client connections")
    parser.add_argument("--replicas", type=positive_int, default=3, help="boleto-sync workers")
    parser.add_argument(
        "--utilisation",
        type=positive_float,
        default=SERVICE_DEFAULTS["limit_utilisation"].default,
        help="BOLETO_LIMIT_UTILISATION (default: the service's)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


@dataclass
class Bench:
    system: System
    database: Secantus
    replicas: int

    def process_groups(self) -> dict[str, list[int]]:
        """The processes whose CPU time a run accounts for, by component."""
        pid = {name: process.pid for name, process in self.system.processes.items()}
        idle = ["upload-api", "upload-worker", "converter"]
        return {
            f"boleto-sync workers ({self.replicas})": [
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
    """RabbitMQ (a fresh vhost), SecantusDB, the simulator, boleto-sync's API and workers.

    Every service setting the report states is set here, not inherited from the shell.
    """
    limits = {f"BOLETO_LIMIT_{group.upper()}": str(limit) for group, limit in BANK_LIMITS.items()}
    with (
        broker_and_database(root, "bench-boleto") as (amqp_url, database),
        running_system(
            root,
            amqp_url,
            database.url,
            boleto=True,
            MONGODB_DB="bench_boleto",
            INTER_SIM_WINDOW_SECONDS=f"{args.window:g}",
            BOLETO_LIMIT_WINDOW_S=f"{args.window:g}",
            BOLETO_LIMIT_UTILISATION=f"{args.utilisation:g}",
            INTER_SIM_PROCESSING_DELAY_SECONDS=f"{args.processing:g}",
            BOLETO_PROCESSING_POLL_S=f"{args.processing:g}",
            **limits,
        ) as system,
    ):
        for number in range(2, args.replicas + 1):
            system.start_boleto_worker(f"boleto-worker-{number}")
        yield Bench(system, database, args.replicas)


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
        "replicas": args.replicas,
        "utilisation": args.utilisation,
        "bank_window": PRODUCTION.window_seconds,
        "bank_limits": BANK_LIMITS,
        "lowered_groups": LOWERED,
        "retry_after_s": RETRY_AFTER_S,
    }


def main() -> None:
    args = arguments()
    machine = describe()
    root = Path(tempfile.mkdtemp(prefix="bench-boleto-"))
    step(f"starting the system with {args.replicas} boleto-sync workers under {root}")
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
    write_section(args.out, SECTION, section)
    step(f"wrote the Banco Inter section of {args.out}")


if __name__ == "__main__":
    main()
