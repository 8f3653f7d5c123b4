"""Which component bounds each figure, judged from the CPU accounting and the stage timings."""

from bench.procstat import MACHINE
from bench.results import Results, busy_share, percentile
from bench.timeline import STAGES

CPU_BOUND = 0.85  # busy share of all cores above which a round counts as CPU-bound
JVM, CLIENT = "converter JVM workers", "benchmark client"


def bounds(r: Results) -> list[str]:
    return [_raw(r), _threads(r), _throughput(r), _overhead(r), _jvm_per_file(r)]


def _raw_cores(r: Results) -> float:
    return r.raw.cpu_seconds / sum(r.raw.pass_seconds)


def _raw(r: Results) -> str:
    return (
        f"Raw MPXJ, one thread: the JVM itself. Besides the converting thread, the JIT compiler "
        f"and the garbage collector kept {_raw_cores(r):.2f} cores busy: "
        f"{r.raw.cpu_ms_per_file:.1f} ms of CPU per file for {1000 / r.raw.files_per_s:.1f} ms of "
        f"wall time per file."
    )


def _threads(r: Results) -> str:
    scale = r.threaded.files_per_s / r.raw.files_per_s
    cores = r.machine["cores"]
    if scale < 1.5:
        return (
            f"Raw MPXJ, {r.threaded.threads} threads: {scale:.2f}x one thread. With {cores} cores "
            f"the single-thread run already uses {_raw_cores(r):.2f} of them (JIT, GC), so more "
            f"threads only fill what is left: CPU-bound."
        )
    return f"Raw MPXJ, {r.threaded.threads} threads: {scale:.2f}x one thread (JPype threads scale)."


def _throughput(r: Results) -> str:
    run = r.median_round
    cpu, files, cores = run.cpu, len(run.outcomes), int(r.machine["cores"])
    busy = busy_share(cpu, cores)
    if busy < CPU_BOUND:
        return (
            f"Pipeline throughput: not CPU-bound ({busy:.0%} of {cores} cores busy). It waits: "
            f"{r.settings['jvm_workers']} JVM workers convert one file each at a time, and every "
            f"job makes sequential round trips to SecantusDB and RabbitMQ around its conversion."
        )
    per_file = {name: cpu.seconds[name] * 1000 / files for name in cpu.seconds if name != MACHINE}
    rest = {name: ms for name, ms in per_file.items() if name not in (JVM, CLIENT)}
    top = ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(rest.items(), key=lambda kv: -kv[1]))
    total = sum(per_file.values()) - per_file[CLIENT]
    return (
        f"Pipeline throughput: CPU-bound. The {cores} cores were {busy:.0%} busy in the median "
        f"round ({cpu.others / cpu.wall / cores:.0%} of the capacity went to other processes). "
        f"Per file, the JVM workers used {per_file[JVM]:.1f} ms of CPU (raw MPXJ: "
        f"{r.raw.cpu_ms_per_file:.1f} ms) and the rest of the pipeline {sum(rest.values()):.1f} ms "
        f"({top}); the benchmark client itself {per_file[CLIENT]:.1f} ms. At {total:.0f} ms of "
        f"CPU per file the services alone cap the pipeline near {cores * 1000 / total:.0f} files/s "
        f"on this machine."
    )


def _overhead(r: Results) -> str:
    stages = dict(r.stages_ms)
    converter = stages.get(STAGES[2], 0.0) - r.raw.p50_ms
    rest = sorted(
        ((ms, stage.split(" (")[0]) for stage, ms in stages.items() if stage != STAGES[2]),
        reverse=True,
    )
    listed = ", ".join(f"{name} {ms:.1f} ms" for ms, name in rest)
    return (
        f"Per-file overhead (p50 {percentile(r.overheads_ms, 50):.0f} ms over the raw time of the "
        f"same file): the converter side adds about {converter:.1f} ms beyond a raw conversion "
        f"({stages.get(STAGES[2], 0.0):.1f} ms from 202 to its outcome, raw p50 "
        f"{r.raw.p50_ms:.1f} ms); the other stages: {listed}. The JVM conversion inside the "
        f"converter also carries the fidelity manifest (engine p50 {r.engine.p50_ms:.1f} ms vs "
        f"raw {r.raw.p50_ms:.1f} ms)."
    )


def _jvm_per_file(r: Results) -> str:
    return (
        f"One JVM per file: interpreter start, JVM start and class loading, "
        f"{r.jvm_per_file_mean_s:.2f} s per file against {r.raw.p50_ms:.1f} ms for a warm "
        f"conversion (p50); the pipeline's warm JVMs avoid it."
    )
