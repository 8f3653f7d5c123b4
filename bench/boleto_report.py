"""The Banco Inter section of docs/benchmarks.md, rewritten between its markers on every run."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.boleto_load import Load
from bench.machine import summary
from bench.markdown import BARS, bullets, met, table
from bench.procstat import MACHINE, CpuUsage
from bench.stats import percentile

SECTION = "boleto"  # its markers in the output file
TARGET_UTILISATION = 0.95
SYNC_GROUPS = ("issue", "get", "pdf")
# share of a run's wall time the issue limit alone accounts for at which it counts as the bound
# (the rest: the charge's processing delay and the PDF after the last issue)
LIMIT_BOUND = 0.85
FOLLOWS = 0.05  # a group whose rate is this close to the issue rate follows the issues


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
        _targets(settings, run_a, run_b),
        _groups(settings, [run_a, run_b]),
        _jobs(settings, [run_a, run_b]),
        _cpu(machine, [run_a, run_b]),
        _bounds(settings, run_a, run_b),
    ]
    return "\n\n".join(["## Banco Inter (boleto-sync)", *parts])


def _and(names: list[str] | tuple[str, ...]) -> str:
    """'a, b and c'."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def _by_limit(limits: dict[str, int]) -> str:
    """'120 per window for issue, get and pdf; 5 for token and webhook'."""
    groups: dict[int, list[str]] = {}
    for group, limit in limits.items():
        groups.setdefault(limit, []).append(group)
    ordered = sorted(groups.items(), key=lambda kv: -kv[0])
    parts = [f"{limit} for {_and(names)}" for limit, names in ordered]
    return parts[0].replace(" for ", " per window for ", 1) + "".join(f"; {p}" for p in parts[1:])


def _window(s: dict[str, Any]) -> str:
    bank, window = s["bank_window"], s["window"]
    if window < bank:
        return (
            f"with the window shortened from {bank:g} s to {window:g} s, i.e. the same rules "
            f"{bank / window:g}x faster"
        )
    if window > bank:
        return f"with the window lengthened from {bank:g} s to {window:g} s"
    return f"over the bank's own {bank:g} s window"


def _command(s: dict[str, Any]) -> str:
    return (
        f"uv run python bench/boleto.py --boletos {s['boletos']} --window {s['window']:g} "
        f"--lowered {s['lowered']:g} --processing {s['processing']:g} "
        f"--concurrency {s['concurrency']} --replicas {s['replicas']} "
        f"--utilisation {s['utilisation']:g} "
        f"--out docs/benchmarks.md"
    )


def _header(m: dict[str, str], s: dict[str, Any], a: RunResult, b: RunResult) -> str:
    window, cores = s["window"], int(m["cores"])
    least, most = s["retry_after_s"]
    return (
        f"{summary(m)}; all cores together were {a.cpu.busy_share(cores):.0%} busy during run A "
        f"and {b.cpu.busy_share(cores):.0%} during run B (every process on the machine, see the "
        f"CPU table).\n\n"
        f"Setup: {s['replicas']} boleto-sync worker replicas and one API over SecantusDB and "
        f"RabbitMQ, against the Banco Inter simulator in strict mode: any {window:g} s holds at "
        f"most `limit` accepted requests of a group, anything more is answered 429. Limits: the "
        f"bank's production ones ({_by_limit(s['bank_limits'])}) {_window(s)}. The service is "
        f"configured with the same limits and window (`BOLETO_LIMIT_WINDOW_S={window:g}`, "
        f"`BOLETO_LIMIT_UTILISATION={s['utilisation']:g}`). Charges stay EM_PROCESSAMENTO "
        f"{s['processing']:g} s (the service polls every {s['processing']:g} s). Each run: "
        f"{s['boletos']} boletos created through `POST /v1/boletos` over {s['concurrency']} "
        f"client connections; each client then asks `GET /v1/boletos/{{id}}/pdf` and again "
        f"after `Retry-After` (clamped to {least:g}-{most:g} s) until 200. Run A: bank limits = "
        f"configured limits. Run B: the bank's limits for {_and(s['lowered_groups'])} at "
        f"{s['lowered']:.0%} of the configured ones.\n\n"
        f"    {_command(s)}"
    )


def _sync_groups(run: RunResult) -> list[GroupFigures]:
    return [run.groups[g] for g in SYNC_GROUPS if g in run.groups]


def _targets(s: dict[str, Any], a: RunResult, b: RunResult) -> str:
    most = ", ".join(f"{g.group} {g.max_in_window} / {g.limit}" for g in _sync_groups(a))
    within = all(g.limit is None or g.max_in_window <= g.limit for g in a.groups.values())
    issue = a.groups.get("issue")
    used = issue.utilisation if issue else 0.0
    others = ", ".join(f"{g.group} {g.utilisation:.1%}" for g in _sync_groups(a)[1:])
    lost_b = b.count("lost") + b.count("failed")
    rows = [
        (
            f"Most requests the bank accepted in any window, {s['replicas']} replicas (run A)",
            most,
            "<= limit",
            met(within),
        ),
        ("429s from the strict simulator (run A)", str(a.throttled), "0", met(a.throttled == 0)),
        (
            "Allowed rate used (run A, issue group: backlogged from the first to the last)",
            f"{used:.1%} (following it: {others})",
            f">= {TARGET_UTILISATION:.0%}",
            met(used >= TARGET_UTILISATION),
        ),
        (
            "Bank below the configured limit (run B): 429s absorbed, jobs failed or lost",
            f"{b.throttled} 429s; {b.count('failed')} failed, {b.count('lost')} lost "
            f"of {len(b.load.boletos)}",
            "0 failed or lost",
            met(lost_b == 0),
        ),
    ]
    return f"### Against the targets ({BARS})\n\n" + table(
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
    return "### Per endpoint group (the simulator's counters)\n\n" + table(header, rows)


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
    return "### Jobs and API latency\n\n" + table(header, rows)


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
    return f"### CPU while the runs took place ({walls}; {cores} cores)\n\n" + table(
        ("Process", *(f"Run {r.name}" for r in runs)), rows
    )


def _bounds(s: dict[str, Any], a: RunResult, b: RunResult) -> str:
    lines = [
        f"Run A's wall time ({a.wall_s:.1f} s): {_issue_bound(s, a)}{_followers(a)}",
        _utilisation(s, a),
        f"Run B ({b.wall_s:.1f} s, {b.wall_s / a.wall_s:.2f}x run A): {_issue_bound(s, b)}"
        f"{_followers(b)} {_retries(b)}",
        "The 202 answers come from the API and the database alone (no bank call on the request "
        "path); their latency is that of SecantusDB and the API under the workers' load.",
    ]
    if a.throttled_at:
        moments = ", ".join(f"{t:.1f}" for t in a.throttled_at[:20])
        lines.append(
            f"Run A's 429s came at {moments} s into the run: the limiter let more than the "
            "limit into a window there."
        )
    for run in (a, b):
        for reason, count in run.failures().items():
            lines.append(f"Run {run.name}: {count} jobs failed: {reason}")
    return "### What bounds each figure\n\n" + bullets(lines)


def _issue_bound(s: dict[str, Any], run: RunResult) -> str:
    """How long the issues alone take at the bank's issue limit and at the service's pace."""
    count, window = len(run.load.boletos), s["window"]
    bank, configured = run.bank_limits["issue"], s["bank_limits"]["issue"]
    at_bank = count * window / bank
    at_service = count * window / (configured * s["utilisation"])
    share = max(at_bank, at_service) / run.wall_s
    verdict = (
        "bound by the issue limit"
        if share >= LIMIT_BOUND
        else f"the issue limit accounts for less than {LIMIT_BOUND:.0%} of it"
    )
    return (
        f"{count} issues take {at_bank:.1f} s at the bank's {bank} per {window:g} s and "
        f"{at_service:.1f} s at the service's pace ({s['utilisation']:.0%} of its configured "
        f"{configured}), the slower being {share:.0%} of the wall time: {verdict}."
    )


def _followers(run: RunResult) -> str:
    """Whether get and pdf went at the issue rate."""
    issue = run.groups.get("issue")
    others = [g for g in _sync_groups(run) if g.group != "issue"]
    if issue is None or not others:
        return ""
    rates = _and([f"{g.group} {g.rate:.2f}/s" for g in others])
    close = all(abs(g.rate - issue.rate) <= FOLLOWS * issue.rate for g in others)
    verdict = "they follow the issues" if close else "they do not follow the issue rate"
    return f" Against issue's {issue.rate:.2f}/s: {rates}, {verdict} (within {FOLLOWS:.0%})."


def _utilisation(s: dict[str, Any], a: RunResult) -> str:
    issue, aim = a.groups.get("issue"), s["utilisation"]
    used = issue.utilisation if issue else 0.0
    return (
        f"The issue group used {used:.1%} of the allowed rate in run A, "
        f"{(used - aim) * 100:+.1f} points from the `BOLETO_LIMIT_UTILISATION` the service's "
        f"limiter aims at ({aim:.1%}: below the limit to leave room for network jitter)."
    )


def _retries(b: RunResult) -> str:
    sent = "; ".join(f"{g.group} {g.sent} sent for {g.accepted} accepted" for g in _sync_groups(b))
    if not b.throttled:
        return f"The bank answered no 429s: {sent}."
    failed, lost = b.count("failed"), b.count("lost")
    outcome = (
        "every job still completed"
        if failed + lost == 0
        else f"{failed} jobs failed and {lost} were lost"
    )
    return (
        f"The bank answered 429 {b.throttled} times; with the service's retries (its client's "
        f"back-off, then the broker's redelivery) {outcome}: {sent}."
    )
