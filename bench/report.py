"""The Conversion section of docs/benchmarks.md, rewritten between its markers on every run."""

from bench.bounds import bounds
from bench.counters import Requests
from bench.machine import summary
from bench.markdown import BARS, bullets, met, table
from bench.pipeline import Run
from bench.primitives import LABELS, PER_JOB
from bench.procstat import MACHINE
from bench.reference import RawRun
from bench.results import (
    STRETCH_THROUGHPUT_RATIO,
    TARGET_SPEEDUP_VS_JVM_PER_FILE,
    TARGET_THROUGHPUT_RATIO,
    Results,
)
from bench.stats import percentile

SECTION = "conversion"  # its markers in the output file
POST, POLL = "POST /v1/conversions", "GET /v1/conversions/{job_id}"
NOISY = 0.10  # share of the CPU taken by other processes that makes a measurement suspect


def render(r: Results) -> str:
    parts = [
        _header(r),
        *_noise(r),
        _targets(r),
        _figures(r),
        _bounds(r),
        _cpu(r),
        _stages(r),
        _round_trips(r),
        _per_job(r),
        _collections(r),
    ]
    return "\n\n".join(["## Conversion", *parts])


def _header(r: Results) -> str:
    s = r.settings
    return (
        f"{summary(r.machine, java=True)}. Files: the {s['files']} MPP fixtures "
        f"({s['fixtures']}, {s['megabytes']} MB). Pipeline settings: {s['pipeline']}. "
        f"References: {s['reference']}."
    )


def _noise(r: Results) -> list[str]:
    """A warning when other processes took a noticeable share of the CPU while measuring."""
    cores = int(r.machine["cores"])
    shares = {
        f"raw {r.raw.threads_text}": r.raw.others_share,
        f"raw {r.threaded.threads_text}": r.threaded.others_share,
        "engine": r.engine.others_share,
        **{f"round {n}": run.cpu.others_share(cores) for n, run in enumerate(r.rounds, 1)},
        "latency run": r.latency.cpu.others_share(cores),
    }
    noisy = {name: share for name, share in shares.items() if share > NOISY}
    if not noisy:
        return []
    listed = ", ".join(f"{name} {share:.0%}" for name, share in noisy.items())
    warning = f"**Noisy run**: other processes took a share of the CPU while measuring ({listed})"
    return [f"{warning}; rerun on a quieter machine before trusting these figures."]


def _targets(r: Results) -> str:
    rows = [
        (
            f"Pipeline throughput / raw MPXJ (one warm JVM, {r.raw.threads_text})",
            f"{r.throughput_ratio:.2f} "
            f"({r.pipeline_files_per_s:.1f} / {r.raw.files_per_s:.1f} files/s)",
            f">= {TARGET_THROUGHPUT_RATIO}",
            met(r.throughput_ratio >= TARGET_THROUGHPUT_RATIO),
        ),
        (
            "The same, against the stretch goal",
            f"{r.throughput_ratio:.2f}",
            f">= {STRETCH_THROUGHPUT_RATIO}",
            met(r.throughput_ratio >= STRETCH_THROUGHPUT_RATIO),
        ),
        (
            "Pipeline throughput vs one JVM per file",
            f"{r.speedup_vs_jvm_per_file:.1f}x",
            f">= {TARGET_SPEEDUP_VS_JVM_PER_FILE:.0f}x",
            met(r.speedup_vs_jvm_per_file >= TARGET_SPEEDUP_VS_JVM_PER_FILE),
        ),
    ]
    return f"### Against the targets ({BARS})\n\n" + table(
        ("Bar", "Measured", "Target", "Met"), rows
    )


def _raw_row(label: str, run: RawRun) -> tuple[str, str]:
    return (
        label,
        f"{run.files_per_s:.1f} files/s (median of {len(run.pass_seconds)} passes); per file p50 "
        f"{run.p50_ms:.1f} ms; {run.cpu_ms_per_file:.1f} ms CPU per file "
        f"({run.cpu_seconds / sum(run.pass_seconds):.2f} cores busy; other processes took "
        f"{run.others_share:.0%} of the CPU)",
    )


def _statuses(runs: list[Run]) -> str:
    """What the jobs ended as, e.g. '76 completed' or '74 completed, 2 failed' per round."""
    seen = {f"{run.count('completed')} completed, {run.count('failed')} failed" for run in runs}
    return " / ".join(sorted(seen)).replace(", 0 failed", "") + " per round"


def _others(r: Results, runs: list[Run]) -> str:
    cores = int(r.machine["cores"])
    return ", ".join(f"{run.cpu.others_share(cores):.0%}" for run in runs)


def _figures(r: Results) -> str:
    lat, over = r.latencies_ms, r.overheads_ms
    rounds = ", ".join(f"{run.files_per_s:.1f}" for run in r.rounds)
    rows = [
        _raw_row(f"Raw MPXJ, one warm JVM, {r.raw.threads_text}", r.raw),
        _raw_row(f"Raw MPXJ, one warm JVM, {r.threaded.threads_text}", r.threaded),
        _raw_row(f"Converter engine (MPXJ + fidelity manifest), {r.engine.threads_text}", r.engine),
        (
            f"One JVM per file (fresh `python -c`, converter.jvm.start_jvm), "
            f"{len(r.jvm_per_file_s)} files",
            f"{r.jvm_per_file_mean_s:.2f} s per file (mean), "
            f"{1 / r.jvm_per_file_mean_s:.2f} files/s",
        ),
        (
            f"Pipeline throughput, {r.settings['concurrency']} clients, "
            f"{r.settings.get('tenants', '1')} tenants x {r.settings['files']} files, "
            f"median of {len(r.rounds)}",
            f"**{r.pipeline_files_per_s:.1f} files/s** (rounds: {rounds}; {_statuses(r.rounds)}; "
            f"other processes took {_others(r, r.rounds)} of the CPU); first warm-up round "
            f"{r.first_round.files_per_s:.1f}",
        ),
        (
            "First job after start, alone",
            f"{r.first_job.latency * 1000:.0f} ms (its JVM converts its first MPP file)",
        ),
        (
            "Pipeline latency, one file at a time, p50 / p95",
            f"{percentile(lat, 50):.0f} / {percentile(lat, 95):.0f} ms "
            f"({_statuses([r.latency]).removesuffix(' per round')}; other processes took "
            f"{_others(r, [r.latency])} of the CPU)",
        ),
        (
            f"Overhead over raw MPXJ per file, p50 / p95 ({len(over)} files)",
            f"**{percentile(over, 50):.0f}** / {percentile(over, 95):.0f} ms",
        ),
    ]
    return "### Figures\n\n" + table(("Measurement", "Result"), rows)


def _bounds(r: Results) -> str:
    return "### What bounds each figure\n\n" + bullets(bounds(r))


def _cpu(r: Results) -> str:
    cpu, files = r.median_round.cpu, len(r.median_round.outcomes)
    seconds = dict(sorted(cpu.seconds.items(), key=lambda kv: -kv[1]))
    machine = seconds.pop(MACHINE)
    seconds["other processes on the machine"] = cpu.others
    rows = [
        (name, f"{value:.2f}", f"{value * 1000 / files:.1f}", f"{value / cpu.wall:.2f}")
        for name, value in seconds.items()
    ]
    busy = f"{machine / cpu.wall:.2f} of {r.machine['cores']}"
    rows.append(("whole machine", f"{machine:.2f}", f"{machine * 1000 / files:.1f}", busy))
    return (
        f"### CPU during the median throughput round ({cpu.wall:.2f} s, {files} files)\n\n"
        + table(("Process", "CPU s", "CPU ms per file", "Cores busy"), rows)
    )


def _stages(r: Results) -> str:
    rows = [(stage, f"{ms:.1f}") for stage, ms in r.stages_ms.items()]
    rows.append(("(for comparison) raw MPXJ conversion, p50", f"{r.raw.p50_ms:.1f}"))
    return (
        "### Where an unloaded job's time goes (median per stage, one file at a time)\n\n"
        + table(("Stage", "ms"), rows)
    )


def _round_trips(r: Results) -> str:
    rows = [(LABELS[name], f"{ms:.2f}", str(PER_JOB[name])) for name, ms in r.primitives_ms.items()]
    return "### Round trips each job waits on (p50 of sequential calls, idle pipeline)\n\n" + table(
        ("Round trip", "ms", "Times per job, in sequence"), rows
    )


def _per_job_row(label: str, run: Run) -> tuple[str, ...]:
    files = len(run.outcomes)
    ops = " · ".join(f"{name} {count / files:.1f}" for name, count in run.db_ops.items() if count)
    post, poll = run.requests.get(POST, Requests()), run.requests.get(POLL, Requests())
    api_cpu = run.cpu.seconds["upload API"] * 1000 / max(post.count + poll.count, 1)
    return (
        label,
        f"{poll.count / files:.1f}",
        ops,
        f"{post.mean_ms:.1f}",
        f"{poll.mean_ms:.1f}",
        f"{api_cpu:.1f}",
    )


def _per_job(r: Results) -> str:
    rows = [
        _per_job_row("throughput (median round)", r.median_round),
        _per_job_row("latency run", r.latency),
    ]
    header = (
        "Run",
        "Status requests per job",
        "SecantusDB operations per job",
        "POST ms",
        "GET status ms (a long poll: until the job changed)",
        "Upload API CPU ms per request",
    )
    return (
        "### Per job: database operations and API requests (server-side means from /metrics)\n\n"
        + table(header, rows)
    )


def _collections(r: Results) -> str:
    run = r.median_round
    files = len(run.outcomes)
    kinds = ("queries", "getmore", "insert", "update", "remove", "commands")
    busiest = sorted(run.collections.items(), key=lambda item: -item[1].get("time_us", 0))
    rows = [
        (
            name.split(".", 1)[-1],
            *(f"{row.get(kind, 0) / files:.2f}" for kind in kinds),
            f"{row.get('time_us', 0) / 1000 / files:.2f}",
        )
        for name, row in busiest
    ]
    header = ("Collection", *kinds, "server ms")
    return "### Per job and collection: SecantusDB's `top` (median throughput round)\n\n" + table(
        header, rows
    )
