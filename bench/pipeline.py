"""The whole pipeline through its HTTP API: throughput rounds and an unloaded latency run."""

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymongo
from aiohttp import ClientSession
from bootstrap import Secantus
from system import System, running_system

from bench.client import Outcome, client, convert, new_tenant
from bench.counters import (
    Requests,
    db_operations,
    db_top,
    http_requests,
    requests_between,
    top_between,
)
from bench.infrastructure import broker_and_database
from bench.procstat import CpuUsage, children, cpu_usage, pids_named


@dataclass
class Pipeline:
    system: System
    database: Secantus
    monitor: pymongo.MongoClient[dict[str, Any]]
    amqp_url: str
    root: Path

    def process_groups(self) -> dict[str, list[int]]:
        """The processes whose CPU time a round accounts for, by component."""
        pid = {name: process.pid for name, process in self.system.processes.items()}
        return {
            "upload API": [pid["upload-api"]],
            "upload worker": [pid["upload-worker"]],
            "converter (asyncio)": [pid["converter"]],
            "converter JVM workers": self.jvm_workers(),
            "SecantusDB": [self.database.process.pid],
            "RabbitMQ (shared broker)": pids_named("beam.smp", "rabbit boot"),
            "benchmark client": [os.getpid()],
        }

    def jvm_workers(self) -> list[int]:
        return children(self.system.processes["converter"].pid, "--multiprocessing-fork")


@dataclass
class Run:
    """One measured run: the client's outcomes, CPU per component, the services' counters."""

    outcomes: list[Outcome]
    cpu: CpuUsage
    db_ops: dict[str, int] = field(default_factory=dict)
    requests: dict[str, Requests] = field(default_factory=dict)
    collections: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def wall(self) -> float:
        return max(o.observed_at for o in self.outcomes) - min(o.posted_at for o in self.outcomes)

    @property
    def files_per_s(self) -> float:
        return len(self.outcomes) / self.wall

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


@contextmanager
def pipeline(root: Path, **settings: str) -> Iterator[Pipeline]:
    """RabbitMQ (a fresh vhost), SecantusDB and every service as a process; data under root."""
    with (
        broker_and_database(root, "bench") as (amqp_url, database),
        running_system(root, amqp_url, database.url, MONGODB_DB="bench", **settings) as system,
        _monitor(database) as monitor,
    ):
        yield Pipeline(system, database, monitor, amqp_url, root)


def _monitor(database: Secantus) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(database.url)


def measured(
    pipe: Pipeline, files: dict[Path, bytes], concurrency: int, poll_s: float, tenants: int = 1
) -> Run:
    """``tenants`` fresh tenants each convert every file, ``concurrency`` clients at a time
    (the tenants' uploads of each file one after the other)."""
    base_url = pipe.system.base_url
    keys = [asyncio.run(new_tenant(base_url, pipe.system.admin_key)) for _ in range(tenants)]
    db_before, http_before = db_operations(pipe.monitor), http_requests(base_url)
    top_before = db_top(pipe.monitor)
    with cpu_usage(pipe.process_groups()) as cpu:
        outcomes = asyncio.run(_convert_all(base_url, keys, files, concurrency, poll_s))
    db_after = db_operations(pipe.monitor)
    db_ops = {name: db_after[name] - db_before[name] for name in db_after}
    collections = top_between(top_before, db_top(pipe.monitor))
    requests = requests_between(http_before, http_requests(base_url))
    return Run(outcomes, cpu, db_ops, requests, collections)


async def _convert_all(
    base_url: str, keys: list[str], files: dict[Path, bytes], concurrency: int, poll_s: float
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(client(base_url, key)) for key in keys]
        queue: asyncio.Queue[tuple[ClientSession, Path]] = asyncio.Queue()
        for path in files:
            for api in apis:
                queue.put_nowait((api, path))

        async def worker() -> None:
            while not queue.empty():
                api, path = queue.get_nowait()
                outcomes.append(await convert(api, path, files[path], poll_s))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def settle(seconds: float = 1.0) -> None:
    """Let the services finish acking and logging before the next run's counters start."""
    time.sleep(seconds)
