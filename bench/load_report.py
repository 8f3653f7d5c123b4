"""The ``load`` section of docs/benchmarks.md, from one ``make bench-load`` run."""

from dataclasses import dataclass, field
from typing import Any

from bench.machine import summary
from bench.markdown import bullets, met, table
from bench.openloop import Outcome, knee
from shared.caching import IDLE_S
from shared.memory import TRIM_EVERY_S

KNEE_P95_MS = 500.0
READ_P95_MS = 100.0
UPLOAD_P95_MS = 150.0
FLOOD_S = 30.0
MEMORY_MB = 120.0

# when memory is read the second time: every cached document idle and swept, the heap trimmed
IDLE_READING_S = IDLE_S + TRIM_EVERY_S + 5


@dataclass
class Figures:
    machine: dict[str, str]
    settings: dict[str, Any]
    reads: dict[str, Outcome] = field(default_factory=dict)
    knees: dict[str, list[Outcome]] = field(default_factory=dict)
    flood: Outcome | None = None
    flood_converted_s: float = 0.0
    uploads: Outcome | None = None
    uploads_completed_s: float = 0.0
    long_polls: dict[str, float] = field(default_factory=dict)
    # after each run: each API's processes, their resident MB by pid
    memory_mb: list[dict[str, dict[int, float]]] = field(default_factory=list)
    memory_settled_mb: list[dict[str, dict[int, float]]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # ms of CPU per request, by process


def _ms(value: float) -> str:
    return "no answer" if value == float("inf") else f"{value:.1f} ms"


def _row(name: str, o: Outcome, cpu: float | None = None) -> list[str]:
    statuses = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(o.statuses().items()))
    return [
        name,
        f"{o.rate:.0f}/s for {o.seconds:.0f} s",
        f"{o.achieved:.0f}/s",
        f"{_ms(o.p(50))} / {_ms(o.p(95))} / {_ms(o.p(99))}",
        str(o.errors),
        statuses,
        f"{cpu:.2f}" if cpu is not None else "",
    ]


def render(f: Figures) -> str:
    s = f.settings
    lines = [
        "## Load (1,000 users)",
        "",
        f"{summary(f.machine)}. The whole system as `make run` starts it (every service, "
        f"RabbitMQ, SecantusDB), the upload and boleto APIs with {s['api_processes']} "
        f"processes each; the load driver (`bench/openloop.py`, open model: requests leave "
        f"at scheduled times, latency counted from the scheduled send) runs on the same "
        f"machine. {s['users']} users over {s['tenants']} tenants, each with a job of its "
        f"own, {s['boletos']} boletos each watched by {s['users'] // s['boletos']} users. "
        f"{s['runs']} runs: the first reads for {s['seconds']:.0f} s per endpoint, the later "
        f"ones a third of that (the leak check). Rerun with `make bench-load` "
        f"(defaults: 3 runs, 60 s).",
        "",
        "### Against the targets (issue: 1000 users on one machine)",
        "",
    ]
    rows = []
    for name in ("GET /v1/conversions/{id}", "GET /v1/boletos/{id}"):
        o = f.reads.get(name)
        if o:
            ok = o.p(95) < READ_P95_MS and o.errors == 0
            rows.append(
                [
                    f"`{name}`, {o.rate:.0f} users x 1 req/s",
                    f"p95 {_ms(o.p(95))}, {o.errors} errors",
                    f"p95 < {READ_P95_MS:.0f} ms, 0 errors",
                    met(ok),
                ]
            )
    if f.flood:
        o = f.flood
        slowest = max(o.answered, default=float("inf")) / 1000
        ok = o.errors == 0 and len(o.answered) == len(o.samples) and slowest <= FLOOD_S
        ok = ok and all(x.status == 202 for x in o.samples)
        rows.append(
            [
                f"{len(o.samples)} connections each uploading a small file at once",
                f"slowest answer {slowest:.1f} s, {sum(x.status == 202 for x in o.samples)} x 202",
                f"every one answered within {FLOOD_S:.0f} s, none failed",
                met(ok),
            ]
        )
    if f.uploads:
        o = f.uploads
        rows.append(
            [
                f"uploads at {o.rate:.0f}/s over 5 tenants (the 76 fixtures each)",
                f"202 p95 {_ms(o.p(95))}",
                f"p95 <= {UPLOAD_P95_MS:.0f} ms",
                met(o.p(95) <= UPLOAD_P95_MS and o.errors == 0),
            ]
        )
    if f.memory_settled_mb:
        peak = max(mb for m in f.memory_settled_mb for api in m.values() for mb in api.values())
        growth = memory_growth(f.memory_settled_mb)
        runs = len(f.memory_settled_mb)
        rows.append(
            [
                "API processes' resident memory after each run, once idle",
                f"largest {peak:.0f} MB; most any process grew from run 1 to {runs} "
                f"{growth:+.0f} MB",
                f"< {MEMORY_MB:.0f} MB, no growth",
                met(peak < MEMORY_MB and growth <= 5),
            ]
        )
    lines += [table(["Bar", "Measured", "Target", "Met"], rows), "", "### Reads", ""]
    read_rows = []
    for name, o in f.reads.items():
        read_rows.append(_row(f"`{name}`", o, f.cpu.get(name)))
    for name, outcomes in f.knees.items():
        for o in outcomes:
            read_rows.append(_row(f"`{name}` (knee search)", o))
    lines.append(
        table(
            [
                "Requests",
                "Scheduled",
                "Answered",
                "p50 / p95 / p99",
                "Errors",
                "Statuses",
                "API CPU ms per request",
            ],
            read_rows,
        )
    )
    lines += ["", "### What bounds each figure", ""]
    bounds = []
    for name, outcomes in f.knees.items():
        found = knee(outcomes, KNEE_P95_MS)
        base = f.reads[name]
        busy = f.cpu.get(f"{name}, machine busy", 0.0)
        if found:
            bounds.append(
                f"`{name}`: the knee (p95 over {KNEE_P95_MS:.0f} ms) at {found:.0f} req/s. At "
                f"{base.rate:.0f} req/s the API used {f.cpu.get(name, 0):.2f} ms of CPU per "
                f"request and the machine was {busy:.0%} busy (driver included): CPU-bound."
            )
        else:
            top = max(o.rate for o in outcomes) if outcomes else base.rate
            bounds.append(f"`{name}`: no knee up to {top:.0f} req/s.")
    if f.flood:
        accepted = sum(x.status == 202 for x in f.flood.samples)
        bounds.append(
            "Upload flood: every upload writes its file and inserts its job; the database "
            "(SecantusDB, about 100 to 150 writes/s here) and the two cores bound the "
            "acceptance rate. "
            f"The flood's tenant had converted that file in the set-up, so its {accepted} "
            "accepted jobs reused that result (this figure is acceptance, not conversion); "
            f"they were all final {f.flood_converted_s:.0f} s after the last answer."
        )
    if f.long_polls:
        lp = f.long_polls
        bounds.append(
            f"Long polling: {lp['jobs']:.0f} clients waited on their jobs with `?wait=30`, "
            f"{lp['requests']:.0f} requests in all; each answer came p50 {lp['p50_ms']:.0f} ms / "
            f"p95 {lp['p95_ms']:.0f} ms after the job's final status was recorded."
        )
    if f.uploads:
        bounds.append(
            f"Paced uploads: every accepted job was final {f.uploads_completed_s:.0f} s after "
            "the first upload; conversion is CPU-bound (see the Conversion section)."
        )
    lines.append(bullets(bounds))
    if f.memory_mb:
        lines += [
            "",
            "### Memory after each run (MB, largest process of each API)",
            "",
            "Each cell: 5 s after the flood's jobs were final / "
            f"{IDLE_READING_S:.0f} s later, idle (every cached document has gone idle and been "
            "swept, and each API has given its free heap back to the system since).",
            "",
        ]
        names = list(f.memory_mb[0])
        pairs = zip(f.memory_mb, f.memory_settled_mb, strict=True)
        lines.append(
            table(
                ["Run", *names],
                [
                    [
                        str(i + 1),
                        *(
                            f"{max(busy[n].values()):.0f} / {max(idle[n].values()):.0f}"
                            for n in names
                        ),
                    ]
                    for i, (busy, idle) in enumerate(pairs)
                ],
            )
        )
        lines += [
            "",
            "Each process once idle after each run (MB): the leak check compares each process "
            "with itself.",
            "",
            table(
                ["Process", *(f"run {i + 1}" for i in range(len(f.memory_settled_mb)))],
                [
                    [
                        f"{name} (pid {pid})",
                        *(
                            f"{idle[name][pid]:.0f}" if pid in idle[name] else "gone"
                            for idle in f.memory_settled_mb
                        ),
                    ]
                    for name in names
                    for pid in f.memory_settled_mb[0][name]
                ],
            ),
        ]
    return "\n".join(lines)


def memory_growth(runs: list[dict[str, dict[int, float]]]) -> float:
    """The most any one process grew, once idle, from the first run to the last (MB); infinite
    when no process lived through them all (each was replaced: nothing to compare)."""
    first, last = runs[0], runs[-1]
    grown = [
        last[name][pid] - mb
        for name, processes in first.items()
        for pid, mb in processes.items()
        if pid in last.get(name, {})
    ]
    return max(grown, default=float("inf"))
