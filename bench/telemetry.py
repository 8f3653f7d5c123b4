"""What tracing costs: pipeline throughput with every span exported over OTLP, against none.

    uv run python bench/telemetry.py [--pairs N] [--rounds N] [--out docs/benchmarks.md]

Starts the whole pipeline ``2 x pairs`` times, alternating tracing off (no OTLP endpoint:
nothing exported) and on (every process exporting every span, sampler always on, to an OTLP
receiver on this machine that stands in for a collector), converts the MPP fixtures in each
and compares the median rounds. Rewrites the Telemetry section of the output file.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from statistics import median
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bootstrap import free_port  # noqa: E402  (needs the paths above)

from bench.cli import fail, positive_int, step  # noqa: E402
from bench.machine import describe, summary  # noqa: E402
from bench.markdown import bullets, met, table, write_section  # noqa: E402
from bench.pipeline import Run, measured, pipeline, settle  # noqa: E402
from bench.procstat import MACHINE, process_cpu  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "projects" / "mpp"
SECTION = "telemetry"
GOAL = 0.95  # throughput with tracing exported, as a share of throughput without
CORES = os.cpu_count() or 1
NOT_SERVICES = {"converter JVM workers", "benchmark client", MACHINE}
# the variables that decide whether a process exports spans; blank in the "off" runs, so a
# value in the caller's environment cannot leak into them
TRACING_OFF = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}


class Received(NamedTuple):
    """What the receiver got, from its ``/stats``."""

    requests: int
    bytes: int
    spans: int
    services: list[str]


class Mode(NamedTuple):
    tracing: bool
    rounds: list[Run]
    receiver_cpu_s: float


def arguments(description: str = __doc__.splitlines()[0]) -> argparse.Namespace:
    """The options of an off/on comparison of whole pipelines (this one, bench/journal.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pairs", type=positive_int, default=2, help="off/on system pairs")
    parser.add_argument("--rounds", type=positive_int, default=3, help="measured rounds each")
    parser.add_argument("--concurrency", type=positive_int, default=16, help="clients")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="folder of *.mpp files")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


def one_system(
    tracing: bool, receiver: subprocess.Popen[bytes], port: int, args: argparse.Namespace
) -> Mode:
    contents = {path: path.read_bytes() for path in sorted(args.fixtures.glob("*.mpp"))}
    settings = (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"} if tracing else TRACING_OFF
    )
    root = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    try:
        with pipeline(root, OTEL_TRACES_SAMPLER="parentbased_always_on", **settings) as pipe:
            for _ in pipe.jvm_workers():  # warm-up, as the conversion benchmark does
                measured(pipe, contents, args.concurrency, 0)
            rounds, before = [], process_cpu(receiver.pid)
            for _ in range(args.rounds):
                settle()
                rounds.append(measured(pipe, contents, args.concurrency, 0))
            receiver_cpu = process_cpu(receiver.pid) - before
    except BaseException:
        step(f"failed; logs kept in {root / 'logs'}")
        raise
    shutil.rmtree(root, ignore_errors=True)
    label = "on" if tracing else "off"
    step(f"tracing {label}: " + ", ".join(f"{r.files_per_s:.1f}" for r in rounds) + " files/s")
    return Mode(tracing, rounds, receiver_cpu)


def per_file_ms(runs: list[Run], groups: set[str] | None = None) -> float:
    """CPU ms per converted file of the named process groups (all but NOT_SERVICES if None)."""
    seconds = sum(
        value
        for run in runs
        for name, value in run.cpu.seconds.items()
        if (name in groups if groups is not None else name not in NOT_SERVICES)
    )
    return seconds * 1000 / sum(len(run.outcomes) for run in runs)


def render(machine: dict[str, str], modes: list[Mode], received: Received) -> str:
    off = [run for mode in modes if not mode.tracing for run in mode.rounds]
    on = [run for mode in modes if mode.tracing for run in mode.rounds]
    off_rate = median(run.files_per_s for run in off)
    on_rate = median(run.files_per_s for run in on)
    ratio = on_rate / off_rate
    files_on = sum(len(run.outcomes) for run in on)
    receiver_ms = sum(mode.receiver_cpu_s for mode in modes) * 1000 / files_on
    failed = sum(run.count("failed") for run in off + on)
    jvm = {"converter JVM workers"}
    # CPU per file of the services and JVMs together: what a CPU-bound pipeline's throughput
    # is the inverse of, and steadier than files/s when other processes share the machine
    cpu_off = per_file_ms(off) + per_file_ms(off, jvm)
    cpu_on = per_file_ms(on) + per_file_ms(on, jvm)
    rows = [
        [
            "off (no endpoint)" if not mode.tracing else "on (every span exported)",
            ", ".join(f"{run.files_per_s:.1f}" for run in mode.rounds),
            f"{per_file_ms(mode.rounds):.1f}",
            f"{per_file_ms(mode.rounds, jvm):.1f}",
            f"{100 * median(run.cpu.others_share(CORES) for run in mode.rounds):.0f} %",
        ]
        for mode in modes
    ]
    return "\n\n".join(
        [
            "## Telemetry overhead",
            f"{summary(machine, java=True)}. The whole pipeline (`make run`'s processes) "
            f"started {len(modes)} times, alternating tracing off and on; in each, the MPP "
            "fixtures converted by 16 long-polling clients, 2 warm-up rounds and "
            f"{len(modes[0].rounds)} measured. Tracing on: `OTEL_EXPORTER_OTLP_ENDPOINT` set "
            "in every process, sampler `parentbased_always_on` (every trace kept: the "
            "worst case), OTLP over HTTP/protobuf to a receiver on this machine "
            "(`bench/otlp_sink.py`, standing in for a collector). "
            "Rerun with `uv run python bench/telemetry.py`.",
            table(
                ["Bar", "Measured", "Target", "Met"],
                [
                    [
                        "pipeline throughput, tracing exported / off (median rounds)",
                        f"{ratio:.3f} ({on_rate:.1f} / {off_rate:.1f} files/s), "
                        f"cost {100 * (1 - ratio):.1f} %",
                        f">= {GOAL} (under {100 * (1 - GOAL):.0f} % cost)",
                        met(ratio >= GOAL),
                    ],
                    [
                        "CPU per file of the services and JVMs, tracing off / exported",
                        f"{cpu_off / cpu_on:.3f} ({cpu_off:.1f} / {cpu_on:.1f} ms), "
                        f"cost {100 * (1 - cpu_off / cpu_on):.1f} %",
                        f">= {GOAL} (under {100 * (1 - GOAL):.0f} % cost)",
                        met(cpu_off / cpu_on >= GOAL),
                    ],
                ],
            ),
            table(
                [
                    "System",
                    "Files/s per round",
                    "Services' CPU ms per file",
                    "JVMs' ms per file",
                    "Other processes' share of the CPU (median round)",
                ],
                rows,
            ),
            bullets(
                [
                    f"Received while tracing: {received.spans} spans in "
                    f"{received.requests} exports ({received.bytes / 1e6:.1f} MB) "
                    f"from {', '.join(received.services)} (warm-up rounds "
                    f"included); the receiver used {receiver_ms:.1f} ms of CPU per file "
                    "measured, on the same cores.",
                    "What bounds it: the pipeline is CPU-bound on 2 cores (see Conversion); "
                    "tracing adds the spans' creation and export in every process, so its "
                    "cost shows as the services' CPU per file above. Files/s varies between "
                    "systems started one after the other by more than the cost measured "
                    "(see the rounds, and the share of the CPU other processes took), so "
                    "the CPU per file is the steadier of the two bars.",
                    f"Failed jobs: {failed}.",
                ]
            ),
        ]
    )


def main() -> None:
    args = arguments()
    if not any(args.fixtures.glob("*.mpp")):
        fail(f"no *.mpp files in {args.fixtures}")
    machine = describe()
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(port)]
    )
    try:
        modes = [
            one_system(tracing, receiver, port, args)
            for _ in range(args.pairs)
            for tracing in (False, True)
        ]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=60) as answer:
            received = Received(**json.load(answer))
    finally:
        receiver.terminate()
        receiver.wait(10)
    if not received.spans:
        fail("tracing was on, yet the receiver got no span: the comparison would be empty")
    section = render(machine, modes, received)
    print(section)
    write_section(args.out, SECTION, section)
    step(f"wrote the Telemetry section of {args.out}")


if __name__ == "__main__":
    main()
