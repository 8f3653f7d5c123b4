"""Notifier benchmark: webhook deliveries per second to a local receiver, and delivery latency
from event publication, against references measured in the same run.

    uv run python bench/notifier.py [--events 2000] [--out docs/benchmarks.md]

Prints the Notifier section and rewrites it in the output file (between its markers).
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this file's folder would shadow the notifier package with this very module
sys.path[:] = [str(ROOT), str(ROOT / "scripts")] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"
]

import httpx  # noqa: E402
import pymongo  # noqa: E402
from bootstrap import ensure_rabbitmq, free_port, rabbitmq_vhost, start_secantus  # noqa: E402
from system import System  # noqa: E402

from bench.machine import describe  # noqa: E402
from bench.notifier_receiver import FastReceiver  # noqa: E402
from bench.notifier_report import Figures, render, write_section  # noqa: E402
from bench.procstat import cpu_usage, pids_named  # noqa: E402
from notifier.signing import new_secret, signed_headers  # noqa: E402
from notifier.targets import TargetPolicy  # noqa: E402
from notifier.transport import webhook_client  # noqa: E402
from shared.messaging import Broker, encode  # noqa: E402
from tests.support.notifier import completed  # noqa: E402

KEY, TENANT = "bench-key", "dev"


@dataclass
class Bench:
    system: System
    broker: Broker
    receiver: FastReceiver
    mongo: pymongo.MongoClient  # type: ignore[type-arg]
    secantus_pid: int
    figures: Figures = field(default_factory=Figures)

    def groups(self) -> dict[str, list[int]]:
        pid = {name: p.pid for name, p in self.system.processes.items()}
        return {
            "notifier worker": [pid["notifier-worker"]],
            "notifier API (stream broadcast)": [pid["notifier-api"]],
            "SecantusDB": [self.secantus_pid],
            "RabbitMQ (shared broker)": pids_named("beam.smp", "rabbit boot"),
            "benchmark (publisher + receiver)": [pid_self()],
        }

    async def publish(self, count: int, concurrency: int = 64) -> dict[str, float]:
        """Publish ``count`` events; the time each was confirmed, by event id."""
        published: dict[str, float] = {}
        queue = [completed(TENANT) for _ in range(count)]

        async def one(index: int) -> None:
            envelope = encode(queue[index], "/bench")
            await self.broker.publish(envelope)
            published[envelope.id] = time.perf_counter()

        for start in range(0, count, concurrency):
            await asyncio.gather(*(one(i) for i in range(start, min(start + concurrency, count))))
        return published


def pid_self() -> int:
    return os.getpid()


def step(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def subscribe(base_url: str, url: str, endpoints: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(endpoints):
            response = await client.post(
                "/v1/webhooks",
                json={"url": url, "events": ["conversion.completed"]},
                headers={"Authorization": f"Bearer {KEY}"},
            )
            response.raise_for_status()


async def throughput(bench: Bench, events: int, label: str) -> None:
    db_before = bench.mongo.admin.command("serverStatus")["opcounters"]
    bench.receiver.arrivals.clear()
    started = time.perf_counter()
    with cpu_usage(bench.groups()) as cpu:
        published = await bench.publish(events)
        expected = events * bench.figures.endpoints
        deadline = time.perf_counter() + 600
        while bench.receiver.requests < bench.figures.received_before + expected:
            if time.perf_counter() > deadline:
                raise RuntimeError("deliveries did not arrive within 600 s")
            await asyncio.sleep(0.01)
    wall = time.perf_counter() - started
    bench.figures.received_before = bench.receiver.requests
    db_after = bench.mongo.admin.command("serverStatus")["opcounters"]
    ops = {k: (db_after[k] - db_before[k]) / expected for k in ("insert", "query", "update")}
    latencies = [
        (bench.receiver.arrivals[i] - t) * 1000
        for i, t in published.items()
        if i in bench.receiver.arrivals
    ]
    bench.figures.runs[label] = (expected, wall, latencies, cpu, ops)


async def latency(bench: Bench, events: int) -> None:
    samples = []
    for _ in range(events):
        published = await bench.publish(1, 1)
        [(event_id, at)] = published.items()
        if not await bench.receiver.wait_for([event_id], 30):
            raise RuntimeError("a delivery did not arrive within 30 s")
        samples.append((bench.receiver.arrivals[event_id] - at) * 1000)
    bench.figures.received_before = bench.receiver.requests
    bench.figures.unloaded_ms = samples


async def raw_posts(receiver: FastReceiver, count: int, concurrency: int) -> float:
    """Reference: signed POSTs through the notifier's own HTTP client, nothing else."""
    secret = new_secret()
    body = b'{"specversion":"1.0"}' * 20
    client = webhook_client(TargetPolicy(allow_http=True, allow_loopback=True), 10, concurrency)
    started = time.perf_counter()
    async with client:

        async def worker(n: int) -> None:
            for i in range(n):
                headers = signed_headers([secret], f"raw-{i}", body)
                await client.post(receiver.url, content=body, headers=headers)

        await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


def db_round_trips(mongo: pymongo.MongoClient, n: int = 300) -> dict[str, float]:  # type: ignore[type-arg]
    collection = mongo["bench_primitives"]["probe"]
    timings: dict[str, list[float]] = {"insert_one": [], "update_one": [], "find": []}
    for i in range(n):
        for name, call in (
            ("insert_one", lambda i=i: collection.insert_one({"_id": i, "v": 0})),
            ("update_one", lambda i=i: collection.update_one({"_id": i}, {"$set": {"v": 1}})),
            ("find", lambda i=i: collection.find_one({"_id": i})),
        ):
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


async def run(args: argparse.Namespace, root: Path) -> Figures:
    ensure_rabbitmq()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    database = start_secantus(root / "mongo", root / "logs" / "secantusdb.log")
    receiver = FastReceiver()
    await receiver.start()
    try:
        with rabbitmq_vhost("bench") as amqp:
            system = start_notifier(root, amqp, database.url)
            broker = Broker(amqp, "events")
            await broker.connect()
            mongo: pymongo.MongoClient = pymongo.MongoClient(database.url)  # type: ignore[type-arg]
            bench = Bench(system, broker, receiver, mongo, database.process.pid)
            try:
                await measure(bench, args, system)
            finally:
                await broker.close()
                mongo.close()
                system.stop()
            return bench.figures
    finally:
        await receiver.stop()
        database.stop()


def start_notifier(root: Path, amqp: str, mongodb_url: str) -> System:
    port, ops = free_port(), free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "RABBITMQ_URL": amqp,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB": "bench",
        "DATA_DIR": str(root),
        "DEV_API_KEY": KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "NOTIFIER_PORT": str(port),
        "NOTIFIER_OPS_PORT": str(ops),
    }
    system = System(f"http://127.0.0.1:{port}", KEY, "", env, root / "logs")
    system.notifier_url = f"http://127.0.0.1:{port}"
    system.start("notifier-api", ["notifier", "api"], port, wait=False)
    system.start("notifier-worker", ["notifier", "worker"], ops, wait=False)
    system.wait_ready("notifier-api")
    system.wait_ready("notifier-worker")
    return system


async def measure(bench: Bench, args: argparse.Namespace, system: System) -> None:
    f = bench.figures
    f.machine = describe()
    f.events = args.events
    f.db_ms = db_round_trips(bench.mongo)
    step("reference: raw signed POSTs to the receiver")
    f.raw_posts_per_s = await raw_posts(bench.receiver, args.events, 64)
    await subscribe(system.notifier_url, bench.receiver.url, 1)
    f.endpoints = 1
    step("warm-up")
    await throughput(bench, 200, "warm-up")
    step(f"throughput, 1 endpoint, {args.events} events")
    await throughput(bench, args.events, "1 endpoint")
    step(f"latency, one event at a time, {args.latency_events} events")
    await latency(bench, args.latency_events)
    await subscribe(system.notifier_url, bench.receiver.url, 3)
    f.endpoints = 4
    step(f"throughput, 4 endpoints, {args.events // 4} events")
    if args.profile:
        bench.mongo["bench"].command("profile", 2)
    await throughput(bench, args.events // 4, "4 endpoints")
    if args.profile:
        profile_summary(bench.mongo)


def profile_summary(mongo: pymongo.MongoClient) -> None:  # type: ignore[type-arg]
    """Where SecantusDB spent its time, by operation and shape (for --profile)."""
    totals: dict[str, list[float]] = {}
    for entry in mongo["bench"]["system.profile"].find():
        command = entry.get("command") or {}
        shape = sorted(command.get("filter") or command.get("q") or command.get("query") or {})
        key = f"{entry.get('op')} {entry.get('ns')} {shape} {entry.get('planSummary', '')}"
        totals.setdefault(key, [0, 0.0])
        totals[key][0] += 1
        totals[key][1] += entry.get("millis", 0)
    for key, (count, millis) in sorted(totals.items(), key=lambda kv: -kv[1][1])[:15]:
        step(f"profile: {millis:8.0f} ms {count:6d} x  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--profile", action="store_true", help="SecantusDB time by operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-notifier-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    section = render(figures)
    print(section)
    write_section(args.out, section)


if __name__ == "__main__":
    main()
