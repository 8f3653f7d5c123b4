"""Which component bounds each figure, judged from the CPU accounting and the stage timings."""

from bench.pipeline import Run
from bench.primitives import PER_JOB, sequential_ms
from bench.procstat import CPU_BOUND, MACHINE
from bench.reference import RawRun
from bench.results import Results
from bench.timeline import CONVERSION_STAGE

JVM, CLIENT, DATABASE = "converter JVM workers", "benchmark client", "SecantusDB"
STEADY = 0.10  # spread of files/s over the passes, of the median, within which a JVM is steady
SCALES = 0.75  # share of linear speed-up at which more threads count as scaling
EXPLAINS = 0.5  # share of the p50 overhead at which the bare round trips account for it


def bounds(r: Results) -> list[str]:
    return [_raw(r), _threads(r), _throughput(r), _overhead(r), _jvm_per_file(r)]


def _cores(run: RawRun) -> float:
    return run.cpu_seconds / sum(run.pass_seconds)


def cpu_ms_per_file(run: Run, name: str) -> float:
    return run.cpu.seconds[name] * 1000 / len(run.outcomes)


def _raw(r: Results) -> str:
    rates = [r.raw.files / seconds for seconds in r.raw.pass_seconds]
    spread = (max(rates) - min(rates)) / r.raw.files_per_s
    beyond = _cores(r.raw) - r.raw.threads
    helpers = (
        f", {beyond:.2f} of them beyond the converting thread (the JVM's JIT compiler and "
        f"garbage collector run on threads of their own)"
        if beyond > 0
        else ""
    )
    steady = (
        f"steady, within {spread:.0%} of the median pass"
        if spread <= STEADY
        else f"not steady, spread over {spread:.0%} of the median pass (more than {STEADY:.0%}), "
        f"so the figure is the median pass"
    )
    return (
        f"Raw MPXJ, {r.raw.threads_text}: the JVM kept {_cores(r.raw):.2f} cores busy "
        f"({r.raw.cpu_ms_per_file:.1f} ms of CPU per file for {1000 / r.raw.files_per_s:.1f} ms "
        f"of wall time){helpers}. Files/s per pass "
        f"{', '.join(f'{rate:.0f}' for rate in rates)} ({steady})."
    )


def _threads(r: Results) -> str:
    threads, cores = r.threaded.threads, int(r.machine["cores"])
    if threads == 1:
        return f"Raw MPXJ with more threads than one: not measured ({cores} core)."
    scale = r.threaded.files_per_s / r.raw.files_per_s
    head = f"Raw MPXJ, {threads} threads: {scale:.2f}x one thread, {scale / threads:.0%} of linear"
    if scale >= SCALES * threads:
        return f"{head} (at least {SCALES:.0%}): JPype threads scale."
    busy = _cores(r.threaded) / cores
    if busy >= CPU_BOUND:
        return (
            f"{head} (below {SCALES:.0%}), with {busy:.0%} of the {cores} cores busy (one thread "
            f"alone kept {_cores(r.raw):.2f} of them busy): CPU-bound."
        )
    return (
        f"{head} (below {SCALES:.0%}) while only {busy:.0%} of the {cores} cores were busy "
        f"(below {CPU_BOUND:.0%}): not CPU-bound, something other than the cores holds them back."
    )


def _throughput(r: Results) -> str:
    run = r.median_round
    cores = int(r.machine["cores"])
    busy = run.cpu.busy_share(cores)
    if busy < CPU_BOUND:
        return (
            f"Pipeline throughput: not CPU-bound ({busy:.0%} of {cores} cores busy, below "
            f"{CPU_BOUND:.0%}). It waits: {r.settings['jvm_workers']} JVM workers convert one "
            f"file each at a time, and every job makes sequential round trips to SecantusDB and "
            f"RabbitMQ around its conversion."
        )
    return _cpu_bound(r, run, busy, cores)


def _cpu_bound(r: Results, run: Run, busy: float, cores: int) -> str:
    per_file = {name: cpu_ms_per_file(run, name) for name in run.cpu.seconds if name != MACHINE}
    rest = {name: ms for name, ms in per_file.items() if name not in (JVM, CLIENT)}
    top = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(rest.items(), key=lambda kv: -kv[1]))
    services = sum(per_file.values()) - per_file[CLIENT]
    by_round = ", ".join(f"{cpu_ms_per_file(each, JVM):.0f}" for each in r.rounds)
    database = ", ".join(f"{cpu_ms_per_file(each, DATABASE):.0f}" for each in r.rounds)
    return (
        f"Pipeline throughput: CPU-bound. The {cores} cores were {busy:.0%} busy in the median "
        f"round (at least {CPU_BOUND:.0%} counts as CPU-bound; "
        f"{run.cpu.others_share(cores):.0%} of them on other processes). Per file the JVM "
        f"workers used {per_file[JVM]:.1f} ms of CPU (by round: {by_round}), "
        f"{per_file[JVM] / r.raw.cpu_ms_per_file:.2f}x raw MPXJ's {r.raw.cpu_ms_per_file:.1f} "
        f"and {per_file[JVM] / r.engine.cpu_ms_per_file:.2f}x the converter engine's "
        f"{r.engine.cpu_ms_per_file:.1f}; everything else in the pipeline "
        f"{sum(rest.values()):.1f} ms ({top}), the benchmark client {per_file[CLIENT]:.1f} ms. "
        f"At {services:.0f} ms of CPU per file the services cap the pipeline near "
        f"{cores * 1000 / services:.0f} files/s on {cores} cores; SecantusDB, one Python process "
        f"(by round: {database} ms per file), alone caps it near "
        f"{1000 / per_file[DATABASE]:.0f} files/s."
    )


def _overhead(r: Results) -> str:
    beyond = {name: ms for name, ms in r.stages_ms.items() if name != CONVERSION_STAGE}
    largest = ", ".join(
        f"{name.split(' (')[0]} {ms:.1f} ms"
        for name, ms in sorted(beyond.items(), key=lambda kv: -kv[1])
    )
    round_trips = " + ".join(f"{count} x {name}" for name, count in PER_JOB.items())
    return (
        f"Per-file overhead (p50 {r.overhead_p50_ms:.0f} ms over the raw time of the same file): "
        f"the stages around the conversion, largest first: {largest}. The stage holding the JVM "
        f"conversion takes {r.stages_ms.get(CONVERSION_STAGE, 0.0):.1f} ms against a raw p50 of "
        f"{r.raw.p50_ms:.1f} ms (converter engine p50 {r.engine.p50_ms:.1f} ms). Each job waits "
        f"in sequence on {round_trips}; {_round_trips_share(r)}"
    )


def _round_trips_share(r: Results) -> str:
    trips = sequential_ms(r.primitives_ms)
    measured = f"at the bare round trips measured in this run that is {trips:.0f} ms"
    if r.overhead_p50_ms <= 0:
        return f"{measured}, and the pipeline added no overhead at p50."
    share = trips / r.overhead_p50_ms
    if share >= EXPLAINS:
        return f"{measured}, {share:.0%} of the p50 overhead: the round trips account for it."
    return (
        f"{measured}, {share:.0%} of the p50 overhead (below {EXPLAINS:.0%}), so the time goes "
        f"into the services' own request handling and the database work on the real collections "
        f"(see the tables below)."
    )


def _jvm_per_file(r: Results) -> str:
    return (
        f"One JVM per file: interpreter start, JPype and MPXJ imports, JVM start and "
        f"class loading, {r.jvm_per_file_mean_s:.2f} s per file against {r.raw.p50_ms:.1f} ms "
        f"for a warm conversion (p50); the pipeline's warm JVMs avoid it, except on the first "
        f"job of each JVM after start ({r.first_job.latency * 1000:.0f} ms here)."
    )
