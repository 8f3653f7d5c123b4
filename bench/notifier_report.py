"""The Notifier section of docs/benchmarks.md, rewritten between its markers on every run."""

from dataclasses import dataclass, field
from typing import NamedTuple

from bench.machine import summary
from bench.markdown import bullets, table
from bench.procstat import CPU_BOUND, MACHINE, CpuUsage
from bench.stats import percentile

SECTION = "notifier"  # its markers in the output file
# SecantusDB operations counted per delivery, and the round trip measuring each alone
MEASURED = (("insert", "insert_one"), ("update", "update_one"), ("query", "find"))


class Burst(NamedTuple):
    """Events published as fast as confirms allow, until every delivery arrived."""

    events: int
    deliveries: int
    wall_s: float  # first publication to the last delivery received
    published_s: float  # first publication to the last confirm
    latencies_ms: list[float]  # publication -> receipt, per event matched to its delivery
    cpu: CpuUsage
    db_ops: dict[str, float]  # SecantusDB operations per delivery, by kind

    @property
    def rate(self) -> float:
        return self.deliveries / self.wall_s


@dataclass
class Figures:
    machine: dict[str, str] = field(default_factory=dict)
    settings: dict[str, int] = field(default_factory=dict)
    bursts: dict[int, Burst] = field(default_factory=dict)  # by number of endpoints
    unloaded_ms: list[float] = field(default_factory=list)
    raw_posts_per_s: float = 0.0
    db_ms: dict[str, float] = field(default_factory=dict)


def render(f: Figures) -> str:
    s, endpoints = f.settings, f.settings["endpoints"]
    one, many = f.bursts[1], f.bursts[endpoints]
    header = (
        f"{summary(f.machine)}. One notifier API and one worker (at most "
        f"{s['max_in_flight']} attempts in flight, {s['per_endpoint']} per endpoint: "
        f"`NOTIFIER_MAX_IN_FLIGHT`, `NOTIFIER_MAX_IN_FLIGHT_PER_ENDPOINT`), SecantusDB, "
        "RabbitMQ (a vhost of its own); events published with confirms by the benchmark, which "
        "also runs the receiver (an asyncio HTTP/1.1 server answering 204), so publication and "
        "arrival share one clock."
    )
    rows = [
        (f"Deliveries per second, 1 endpoint ({one.events} events)", f"**{one.rate:.0f}/s**"),
        (
            f"Deliveries per second, {endpoints} endpoints ({many.events} events, "
            f"{many.deliveries} deliveries)",
            f"**{many.rate:.0f}/s**",
        ),
        (
            "Latency publication -> receipt, one event at a time, p50 / p95",
            f"**{_p50_p95(f.unloaded_ms, '.1f')}** ({len(f.unloaded_ms)} events)",
        ),
        (
            "Latency publication -> receipt during the 1-endpoint burst, p50 / p95",
            _p50_p95(one.latencies_ms, ".0f"),
        ),
        (
            f"Reference: signed POSTs/s through the notifier's HTTP client alone "
            f"({s['raw_concurrency']} at once)",
            f"{f.raw_posts_per_s:.0f}/s; deliveries reach {_of_raw(f, one):.2f}x of it",
        ),
        (
            "SecantusDB round trip p50: insert / update / find",
            " / ".join(f"{f.db_ms[k]:.2f}" for k in ("insert_one", "update_one", "find")) + " ms",
        ),
        (
            "SecantusDB operations per delivery (1 endpoint): insert / query / update",
            " / ".join(f"{one.db_ops[k]:.2f}" for k in ("insert", "query", "update")),
        ),
    ]
    return "\n\n".join(
        [
            "## Notifier",
            header,
            "### Figures",
            table(("Measurement", "Result"), rows),
            "### CPU during the 1-endpoint burst",
            _cpu(one),
            f"### CPU during the {endpoints}-endpoint burst",
            _cpu(many),
            "### What bounds each figure",
            bullets(_bounds(f, one, many)),
        ]
    )


def _p50_p95(values: list[float], spec: str) -> str:
    if not values:
        return "no event matched to its delivery"
    return f"{percentile(values, 50):{spec}} / {percentile(values, 95):{spec}} ms"


def _cpu(run: Burst) -> str:
    cpu = run.cpu
    rows = [
        (name, f"{seconds:.2f}", f"{_cpu_ms(run, name):.2f}", f"{seconds / cpu.wall:.2f}")
        for name, seconds in sorted(cpu.seconds.items(), key=lambda kv: -kv[1])
        if name != MACHINE
    ]
    rows.append(
        ("other processes on the machine", f"{cpu.others:.2f}", "", f"{cpu.others / cpu.wall:.2f}")
    )
    rows.append(
        (MACHINE, f"{cpu.seconds[MACHINE]:.2f}", "", f"{cpu.seconds[MACHINE] / cpu.wall:.2f}")
    )
    return table(("Process", "CPU s", "CPU ms per delivery", "Cores busy"), rows)


def _of_raw(f: Figures, run: Burst) -> float:
    return run.rate / f.raw_posts_per_s


def _cpu_ms(run: Burst, name: str) -> float:
    return run.cpu.seconds.get(name, 0.0) * 1000 / run.deliveries


def _bounds(f: Figures, one: Burst, many: Burst) -> list[str]:
    return [_throughput(f, one), _fan_out(f, one, many), _reference(f, one), *_latency(f, one)]


def _throughput(f: Figures, run: Burst) -> str:
    cores = int(f.machine["cores"])
    busy = run.cpu.busy_share(cores)
    verdict = "CPU-bound" if busy >= CPU_BOUND else "not CPU-bound"
    busiest = max((k for k in run.cpu.seconds if k != MACHINE), key=lambda k: run.cpu.seconds[k])
    database = _cpu_ms(run, "SecantusDB")
    bare = sum(run.db_ops[kind] * f.db_ms[call] for kind, call in MEASURED)
    return (
        f"Deliveries per second, 1 endpoint: {verdict}. The machine was {busy:.0%} busy "
        f"({CPU_BOUND:.0%} counts as CPU-bound; {run.cpu.others / run.wall_s:.2f} cores on other "
        f"processes); the largest share went to {busiest} ({_cpu_ms(run, busiest):.1f} ms of CPU "
        f"per delivery). Each delivery costs {sum(run.db_ops.values()):.1f} SecantusDB operations "
        "(per event: the subscription query, the delivery insert, the replay write; per "
        "delivery: the outcome update, and a lease renewal when it waited long in the queue), "
        f"which SecantusDB served with {database:.1f} ms of CPU per delivery, "
        f"{database / bare:.1f}x the {bare:.1f} ms of the same operations as bare round trips one "
        "at a time (`--profile` lists where its time went). The worker itself spent "
        f"{_cpu_ms(run, 'notifier worker'):.1f} ms of CPU per delivery."
    )


def _fan_out(f: Figures, one: Burst, many: Burst) -> str:
    s, endpoints = f.settings, f.settings["endpoints"]
    attempts = min(endpoints * s["per_endpoint"], s["max_in_flight"])
    alone = min(s["per_endpoint"], s["max_in_flight"])
    return (
        f"{endpoints} endpoints: up to {attempts} attempts in flight at once against {alone} with "
        f"one endpoint; {many.rate:.0f} deliveries/s, {many.rate / one.rate:.2f}x the 1-endpoint "
        f"burst, with SecantusDB at {_cpu_ms(many, 'SecantusDB'):.1f} ms of CPU per delivery "
        f"against {_cpu_ms(one, 'SecantusDB'):.1f}."
    )


def _reference(f: Figures, one: Burst) -> str:
    return (
        "Reference ratio: the HTTP client alone (signing, keep-alive POSTs to the same receiver, "
        f"in the benchmark's process) reached {f.raw_posts_per_s:.0f}/s, deliveries "
        f"{_of_raw(f, one):.2f}x of it. A delivery adds to the POST the RabbitMQ "
        "hop and the durable bookkeeping that makes it survive a crash (recorded before the "
        "event is acked, outcome recorded under its lease)."
    )


def _latency(f: Figures, one: Burst) -> list[str]:
    unloaded = percentile(f.unloaded_ms, 50)
    lines = [
        f"Latency one event at a time (p50 {unloaded:.1f} ms): the RabbitMQ hop to the worker, "
        "the fan-out's database operations (done before the message is acked), then the "
        "delivery is handed to the dispatcher in memory and sent at once (no claim, no polling), "
        "and its outcome recorded after the receiver answered."
    ]
    if not one.latencies_ms:
        return lines
    burst, published = percentile(one.latencies_ms, 50), one.events / one.published_s
    queued = (
        "the publisher outpaced the deliveries, so an event waited behind those published "
        "before it: queueing, not a per-delivery cost"
        if published > one.rate
        else "the publisher did not outpace the deliveries"
    )
    lines.append(
        f"Latency during the 1-endpoint burst (p50 {burst:.0f} ms, {burst / unloaded:.0f}x one "
        f"at a time): the benchmark published {one.events} events in {one.published_s:.1f} s "
        f"({published:.0f}/s) while deliveries went at {one.rate:.0f}/s; {queued}."
    )
    return lines
