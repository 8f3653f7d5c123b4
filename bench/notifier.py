"""Notifier benchmark: webhook deliveries per second to a local receiver, and delivery latency
from event publication, against references measured in the same run.

    uv run python bench/notifier.py [--events 2000] [--out docs/benchmarks.md]

Prints the Notifier section and rewrites it in the output file (between its markers).
"""

import argparse
import asyncio
import os
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
from bootstrap import free_port  # noqa: E402
from system import System  # noqa: E402

from bench.cli import positive_int, step  # noqa: E402
from bench.infrastructure import broker_and_database  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.markdown import write_section  # noqa: E402
from bench.notifier_receiver import FastReceiver  # noqa: E402
from bench.notifier_report import SECTION, Burst, Figures, render  # noqa: E402
from bench.procstat import cpu_usage, pids_named  # noqa: E402
from bench.stats import percentile  # noqa: E402
from notifier.delivery.signing import new_secret, signed_headers  # noqa: E402
from notifier.delivery.transport import webhook_client  # noqa: E402
from notifier.settings import NotifierSettings  # noqa: E402
from notifier.targets import TargetPolicy  # noqa: E402
from shared.messaging import Broker, encode  # noqa: E402
from tests.support.notifier import completed  # noqa: E402

KEY, TENANT = "bench-key", "dev"
ENDPOINTS = 4  # the fan-out burst's subscriptions to the receiver
RAW_CONCURRENCY = 64  # signed POSTs at once in the HTTP client reference
WARM_UP_EVENTS = 200
# the worker's own defaults, set explicitly so the report states what ran
MAX_IN_FLIGHT = NotifierSettings.model_fields["max_in_flight"].default
PER_ENDPOINT = NotifierSettings.model_fields["max_in_flight_per_endpoint"].default


@dataclass
class Bench:
    system: System
    broker: Broker
    receiver: FastReceiver
    mongo: pymongo.MongoClient  # type: ignore[type-arg]
    secantus_pid: int
    figures: Figures = field(default_factory=Figures)
    endpoints: int = 0  # subscriptions to the receiver so far
    received: int = 0  # requests the receiver had when the last run ended

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


async def subscribe(base_url: str, url: str, endpoints: int, first: int = 0) -> None:
    """``endpoints`` subscriptions, each to a path of its own (one URL is one receiver: the
    notifier sends an event once per distinct URL)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for n in range(first, first + endpoints):
            response = await client.post(
                "/v1/webhooks",
                json={"url": f"{url}/{n}", "events": ["conversion.completed"]},
                headers={"Authorization": f"Bearer {KEY}"},
            )
            response.raise_for_status()


async def throughput(bench: Bench, events: int) -> Burst:
    db_before = bench.mongo.admin.command("serverStatus")["opcounters"]
    bench.receiver.arrivals.clear()
    started = time.perf_counter()
    with cpu_usage(bench.groups()) as cpu:
        published = await bench.publish(events)
        expected = events * bench.endpoints
        deadline = time.perf_counter() + 600
        while bench.receiver.requests < bench.received + expected:
            if time.perf_counter() > deadline:
                raise RuntimeError("deliveries did not arrive within 600 s")
            await asyncio.sleep(0.01)
    wall = time.perf_counter() - started
    bench.received = bench.receiver.requests
    db_after = bench.mongo.admin.command("serverStatus")["opcounters"]
    ops = {k: (db_after[k] - db_before[k]) / expected for k in ("insert", "query", "update")}
    latencies = [
        (bench.receiver.arrivals[i] - t) * 1000
        for i, t in published.items()
        if i in bench.receiver.arrivals
    ]
    published_s = max(published.values()) - started
    return Burst(events, expected, wall, published_s, latencies, cpu, ops)


async def latency(bench: Bench, events: int) -> None:
    samples = []
    for _ in range(events):
        published = await bench.publish(1, 1)
        [(event_id, at)] = published.items()
        if not await bench.receiver.wait_for([event_id], 30):
            raise RuntimeError("a delivery did not arrive within 30 s")
        samples.append((bench.receiver.arrivals[event_id] - at) * 1000)
    bench.received = bench.receiver.requests
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

        # ``count`` POSTs in all, spread over the workers as evenly as they go
        shares = [count // concurrency + (n < count % concurrency) for n in range(concurrency)]
        await asyncio.gather(*(worker(share) for share in shares))
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
    return {name: percentile(values, 50) for name, values in timings.items()}


async def run(args: argparse.Namespace, root: Path) -> Figures:
    receiver = FastReceiver()
    await receiver.start()
    try:
        with broker_and_database(root, "bench") as (amqp, database):
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
        "NOTIFIER_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
        "NOTIFIER_MAX_IN_FLIGHT_PER_ENDPOINT": str(PER_ENDPOINT),
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
    f.settings = {
        "endpoints": ENDPOINTS,
        "max_in_flight": MAX_IN_FLIGHT,
        "per_endpoint": PER_ENDPOINT,
        "raw_concurrency": RAW_CONCURRENCY,
    }
    f.db_ms = db_round_trips(bench.mongo)
    step("reference: raw signed POSTs to the receiver")
    f.raw_posts_per_s = await raw_posts(bench.receiver, args.events, RAW_CONCURRENCY)
    await subscribe(system.notifier_url, bench.receiver.url, 1)
    bench.endpoints = 1
    step("warm-up")
    await throughput(bench, WARM_UP_EVENTS)
    step(f"throughput, 1 endpoint, {args.events} events")
    f.bursts[1] = await throughput(bench, args.events)
    step(f"latency, one event at a time, {args.latency_events} events")
    await latency(bench, args.latency_events)
    await subscribe(system.notifier_url, bench.receiver.url, ENDPOINTS - 1, first=1)
    bench.endpoints = ENDPOINTS
    step(f"throughput, {ENDPOINTS} endpoints, {args.events // ENDPOINTS} events")
    if args.profile:
        bench.mongo["bench"].command("profile", 2)
    f.bursts[ENDPOINTS] = await throughput(bench, args.events // ENDPOINTS)
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
    parser.add_argument("--events", type=positive_int, default=2000, help="1-endpoint burst")
    parser.add_argument("--latency-events", type=positive_int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--profile", action="store_true", help="SecantusDB time by operation")
    args = parser.parse_args()
    if args.events < ENDPOINTS:
        parser.error(f"--events must be at least {ENDPOINTS}: the fan-out sends events/{ENDPOINTS}")
    with tempfile.TemporaryDirectory(prefix="bench-notifier-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    section = render(figures)
    print(section)
    write_section(args.out, SECTION, section)


if __name__ == "__main__":
    main()
