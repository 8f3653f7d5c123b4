"""The Banco Inter section of docs/benchmarks.md, rewritten between its markers on every run."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.boleto_load import Load
from bench.procstat import MACHINE, CpuUsage
from bench.results import percentile

BEGIN, END = "<!-- boleto:begin -->", "<!-- boleto:end -->"
TARGET_UTILISATION = 0.95
SYNC_GROUPS = ("issue", "get", "pdf")


@dataclass(frozen=True)
class GroupFigures:
    group: str
    limit: int | None
    accepted: int
    throttled: int
    max_in_window: int
    busy_s: float  # first to last accepted request
    rate: float  # accepted per second over the busy period
    utilisation: float  # rate / (limit / window)
    sent: int  # by the service's limiter (its own count)
    backoffs: int  # 429s the service's limiter recorded


@dataclass(frozen=True)
class RunResult:
    name: str
    bank_limits: dict[str, int]
    load: Load
    groups: dict[str, GroupFigures]
    charges: int  # at the bank after the run
    cpu: CpuUsage
    throttled_at: list[float]  # seconds into the run of each 429

    def busy(self, cores: int) -> float:
        """Share of all cores busy during the run, every process on the machine."""
        return self.cpu.seconds[MACHINE] / (self.cpu.wall * cores)

    def count(self, status: str) -> int:
        return sum(boleto.status == status for boleto in self.load.boletos)

    @property
    def wall_s(self) -> float:
        """First POST sent -> last PDF stored (the last job's final record)."""
        synced = [b.synced_at or b.pdf_at or 0.0 for b in self.load.boletos]
        return max(synced, default=self.load.started_at) - self.load.started_at

    @property
    def throttled(self) -> int:
        return sum(g.throttled for g in self.groups.values())

    def failures(self) -> Counter[str]:
        return Counter(
            str((b.error or {}).get("message", "no reason given"))[:120]
            for b in self.load.boletos
            if b.status == "failed"
        )


def render(
    machine: dict[str, str], settings: dict[str, Any], run_a: RunResult, run_b: RunResult
) -> str:
    parts = [
        _header(machine, settings, run_a, run_b),
        _targets(run_a, run_b),
        _groups(settings, [run_a, run_b]),
        _jobs(settings, [run_a, run_b]),
        _cpu(machine, [run_a, run_b]),
        _bounds(settings, run_a, run_b),
    ]
    return "\n\n".join(["## Banco Inter (boleto-sync)", *parts])


def write_section(path: Path, section: str) -> None:
    """Replace the text between this benchmark's markers; append them when missing."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN not in text or END not in text:
        text = f"{text.rstrip()}\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _header(m: dict[str, str], s: dict[str, Any], a: RunResult, b: RunResult) -> str:
    window, cores = s["window"], int(m["cores"])
    return (
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory']} RAM, {m['os']}, "
        f"Python {m['python']}; load average before the run {m['load average before']}; all "
        f"cores together were {a.busy(cores):.0%} busy during run A and {b.busy(cores):.0%} "
        f"during run B (every process on the machine, see the CPU table).\n\n"
        f"Setup: {s['replicas']} boleto-sync worker replicas (5 PDFs in parallel each) and one "
        f"API over SecantusDB and RabbitMQ, against the Banco Inter simulator in strict mode: "
        f"any {window:g} s holds at most `limit` accepted requests of a group, anything more "
        f"is answered 429. Limits: the bank's production ones (120 per window for issue, get, "
        f"list, pdf and cancel; 5 for token and webhook) with the window shortened from 60 s "
        f"to {window:g} s, i.e. the same rules {60 / window:g}x faster. The service is "
        f"configured with the same limits and window (`BOLETO_LIMIT_WINDOW_S={window:g}`, "
        f"`BOLETO_LIMIT_UTILISATION` at its default 0.97). Charges stay EM_PROCESSAMENTO "
        f"{s['processing']:g} s (the service polls every {s['processing']:g} s). Each run: "
        f"{s['boletos']} boletos created through `POST /v1/boletos` over {s['concurrency']} "
        f"client connections; each client then asks `GET /v1/boletos/{{id}}/pdf` and again "
        f"after `Retry-After` (clamped to 1-10 s) until 200. Run A: bank limits = configured "
        f"limits. Run B: the bank's limits for issue, get, list, pdf and cancel at "
        f"{s['lowered']:.0%} of the configured ones.\n\n"
        f"    uv run python bench/boleto.py --boletos {s['boletos']} --window {window:g} "
        f"--out docs/benchmarks.md"
    )


def _sync_groups(run: RunResult) -> list[GroupFigures]:
    return [run.groups[g] for g in SYNC_GROUPS if g in run.groups]


def _targets(a: RunResult, b: RunResult) -> str:
    most = ", ".join(f"{g.group} {g.max_in_window} / {g.limit}" for g in _sync_groups(a))
    within = all(g.limit is None or g.max_in_window <= g.limit for g in a.groups.values())
    issue = a.groups.get("issue")
    used = issue.utilisation if issue else 0.0
    others = ", ".join(f"{g.group} {g.utilisation:.1%}" for g in _sync_groups(a)[1:])
    lost_b = b.count("lost") + b.count("failed")
    rows = [
        (
            "Most requests the bank accepted in any window, 3 replicas (run A)",
            most,
            "<= limit",
            _met(within),
        ),
        ("429s from the strict simulator (run A)", str(a.throttled), "0", _met(a.throttled == 0)),
        (
            "Allowed rate used (run A, issue group: backlogged from the first to the last)",
            f"{used:.1%} (following it: {others})",
            f">= {TARGET_UTILISATION:.0%}",
            _met(used >= TARGET_UTILISATION),
        ),
        (
            "Bank below the configured limit (run B): 429s absorbed, jobs failed or lost",
            f"{b.throttled} 429s; {b.count('failed')} failed, {b.count('lost')} lost "
            f"of {len(b.load.boletos)}",
            "0 failed or lost",
            _met(lost_b == 0),
        ),
    ]
    return "### Against the targets (design.md section 8)\n\n" + _table(
        ("Bar", "Measured", "Target", "Met"), rows
    )


def _groups(s: dict[str, Any], runs: list[RunResult]) -> str:
    rows = [
        (
            run.name,
            g.group,
            f"{g.limit} / {s['window']:g} s",
            str(g.accepted),
            str(g.throttled),
            str(g.max_in_window),
            f"{g.busy_s:.1f} s",
            f"{g.rate:.2f}/s" if g.group in SYNC_GROUPS else "-",
            f"{g.utilisation:.1%}" if g.group in SYNC_GROUPS else "-",
            f"{g.sent} / {g.backoffs}",
        )
        for run in runs
        for g in run.groups.values()
    ]
    header = (
        "Run",
        "Group",
        "Bank limit",
        "Accepted",
        "429s",
        "Most in one window",
        "Busy (first to last accepted)",
        "Achieved rate",
        "Of the allowed rate",
        "Service limiter: sent / 429s seen",
    )
    return "### Per endpoint group (the simulator's counters)\n\n" + _table(header, rows)


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f} ms ({len(values)})"


def _jobs(s: dict[str, Any], runs: list[RunResult]) -> str:
    rows = []
    for run in runs:
        issue_rate = run.bank_limits["issue"] / s["window"]
        lat = run.load.latencies
        rows.append(
            (
                run.name,
                str(len(run.load.boletos)),
                str(run.count("completed")),
                str(run.count("failed")),
                str(run.count("lost")),
                str(run.charges),
                f"{run.wall_s:.1f} s",
                f"{len(run.load.boletos) / issue_rate:.1f} s",
                _ms(lat.post_202),
                _ms(lat.pdf_202),
            )
        )
    header = (
        "Run",
        "Boletos",
        "PDFs stored",
        "Jobs failed (with a reason)",
        "Lost",
        "Charges at the bank",
        "First POST to last PDF stored",
        "Issues alone at the bank's issue limit",
        "POST /v1/boletos 202, p50 / p95 (n)",
        "GET .../pdf 202 while the bank is busy, p50 / p95 (n)",
    )
    return "### Jobs and API latency\n\n" + _table(header, rows)


def _cpu(m: dict[str, str], runs: list[RunResult]) -> str:
    cores = int(m["cores"])
    names = [name for name in runs[0].cpu.seconds if name != MACHINE]
    rows = []
    for name in [*names, "other processes on the machine", MACHINE]:
        cells = [name]
        for run in runs:
            seconds = {
                **run.cpu.seconds,
                "other processes on the machine": run.cpu.others,
            }[name]
            per_boleto = seconds * 1000 / len(run.load.boletos)
            cells.append(f"{seconds:.1f} s, {per_boleto:.0f} ms per boleto")
        rows.append(tuple(cells))
    walls = ", ".join(f"run {r.name} {r.cpu.wall:.1f} s" for r in runs)
    return f"### CPU while the runs took place ({walls}; {cores} cores)\n\n" + _table(
        ("Process", *(f"Run {r.name}" for r in runs)), rows
    )


def _bounds(s: dict[str, Any], a: RunResult, b: RunResult) -> str:
    lines = [
        f"Run A's wall time ({a.wall_s:.1f} s) is bound by the bank's issue limit: "
        f"{len(a.load.boletos)} issues at 120 per {s['window']:g} s take "
        f"{len(a.load.boletos) * s['window'] / 120:.1f} s, at the limiter's 97 % "
        f"{len(a.load.boletos) * s['window'] / (120 * 0.97):.1f} s; get and pdf follow the "
        f"issues, so their rate is the issue rate.",
        "The allowed rate used tops out at the configured `BOLETO_LIMIT_UTILISATION` (0.97, "
        "room for network jitter); slot times are kept in MongoDB dates, whole milliseconds, "
        "so each interval is rounded down and the limiter runs slightly above it.",
        f"Run B ({b.wall_s:.1f} s, {b.wall_s / a.wall_s:.2f}x run A) is bound by the bank's "
        f"lower issue limit ({len(b.load.boletos) / (b.bank_limits['issue'] / s['window']):.1f}"
        f" s for the issues alone). The bank answered 429 {b.throttled} times; the service "
        f"retried each (its client's back-off, then the broker's redelivery): "
        + "; ".join(f"{g.group} {g.sent} sent for {g.accepted} accepted" for g in _sync_groups(b))
        + ".",
        "The 202 answers come from the API and the database alone (no bank call on the request "
        "path); their latency is that of SecantusDB and the API under the workers' load.",
    ]
    if a.throttled_at:
        moments = ", ".join(f"{t:.1f}" for t in a.throttled_at[:20])
        lines.append(
            f"Run A's 429s came at {moments} s into the run: the limiter let more than the "
            "limit into a window there (see the xfail tests in "
            "tests/integration/test_rate_limiter.py for the limiter's known faults)."
        )
    for run in (a, b):
        for reason, count in run.failures().items():
            lines.append(f"Run {run.name}: {count} jobs failed: {reason}")
    return "### What bounds each figure\n\n" + "\n".join(f"- {line}" for line in lines)
