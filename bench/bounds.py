"""Which component bounds each figure, judged from the CPU accounting and the stage timings."""

from bench.pipeline import Run
from bench.primitives import PER_JOB, sequential_ms
from bench.procstat import MACHINE
from bench.results import Results, busy_share
from bench.timeline import CONVERSION_STAGE

CPU_BOUND = 0.85  # busy share of all cores above which a round counts as CPU-bound
JVM, CLIENT, DATABASE = "converter JVM workers", "benchmark client", "SecantusDB"


def bounds(r: Results) -> list[str]:
    return [_raw(r), _threads(r), _throughput(r), _overhead(r), _jvm_per_file(r)]


def _raw_cores(r: Results) -> float:
    return r.raw.cpu_seconds / sum(r.raw.pass_seconds)


def cpu_ms_per_file(run: Run, name: str) -> float:
    return run.cpu.seconds[name] * 1000 / len(run.outcomes)


def _raw(r: Results) -> str:
    passes = ", ".join(f"{r.raw.files / seconds:.0f}" for seconds in r.raw.pass_seconds)
    return (
        f"Raw MPXJ, one thread: the JVM itself. Besides the converting thread, the JIT compiler "
        f"and the garbage collector kept {_raw_cores(r):.2f} cores busy "
        f"({r.raw.cpu_ms_per_file:.1f} ms of CPU per file for {1000 / r.raw.files_per_s:.1f} ms "
        f"of wall time), and the JIT is still warming up: files/s per pass {passes}."
    )


def _threads(r: Results) -> str:
    scale = r.threaded.files_per_s / r.raw.files_per_s
    cores = r.machine["cores"]
    if scale < 1.5:
        return (
            f"Raw MPXJ, {r.threaded.threads} threads: {scale:.2f}x one thread. With {cores} cores "
            f"the single-thread run already keeps {_raw_cores(r):.2f} of them busy (JIT, GC), so "
            f"more threads only fill what is left: CPU-bound."
        )
    return f"Raw MPXJ, {r.threaded.threads} threads: {scale:.2f}x one thread (JPype threads scale)."


def _throughput(r: Results) -> str:
    run = r.median_round
    cores = int(r.machine["cores"])
    busy = busy_share(run.cpu, cores)
    if busy < CPU_BOUND:
        return (
            f"Pipeline throughput: not CPU-bound ({busy:.0%} of {cores} cores busy). It waits: "
            f"{r.settings['jvm_workers']} JVM workers convert one file each at a time, and every "
            f"job makes sequential round trips to SecantusDB and RabbitMQ around its conversion."
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
        f"round ({run.cpu.others_share(cores):.0%} of them on other processes). Per "
        f"file the JVM workers used {per_file[JVM]:.1f} ms of CPU (by round: {by_round}; raw "
        f"MPXJ {r.raw.cpu_ms_per_file:.1f}, the converter engine {r.engine.cpu_ms_per_file:.1f}: "
        f"each JVM warms its JIT on its own share of the files), everything else in the pipeline "
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
        f"in sequence on {round_trips}; at the bare round trips measured in this run that is only "
        f"{sequential_ms(r.primitives_ms):.0f} ms, so the time goes into the services' own "
        f"request handling and the database work on the real collections (see the tables below)."
    )


def _jvm_per_file(r: Results) -> str:
    return (
        f"One JVM per file: interpreter start, JVM start and class loading, "
        f"{r.jvm_per_file_mean_s:.2f} s per file against {r.raw.p50_ms:.1f} ms for a warm "
        f"conversion (p50); the pipeline's warm JVMs avoid it, except on the first job of each "
        f"JVM after start ({r.first_job.latency * 1000:.0f} ms here)."
    )
