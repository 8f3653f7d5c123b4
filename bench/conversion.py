"""Conversion benchmark: raw MPXJ references and the whole pipeline on the same files, one run.

    uv run python bench/conversion.py [--rounds N] [--out docs/benchmarks.md]

Prints the Conversion section and rewrites it in the output file (between its markers).
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench import primitives, reference, timeline  # noqa: E402  (needs the paths above)
from bench.cli import fail, positive_float, positive_int, step  # noqa: E402
from bench.client import Outcome  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.markdown import write_section  # noqa: E402
from bench.pipeline import Pipeline, Run, measured, pipeline, settle  # noqa: E402
from bench.reference import RawRun  # noqa: E402
from bench.report import SECTION, render  # noqa: E402
from bench.results import Results  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "projects" / "mpp"


class References(NamedTuple):
    raw: RawRun
    engine: RawRun
    threaded: RawRun
    jvm_per_file_s: list[float]


class PipelineRuns(NamedTuple):
    primitives_ms: dict[str, float]
    first_job: Outcome
    first_round: Run
    rounds: list[Run]
    latency: Run
    stages_ms: dict[str, float]


def polling(poll_ms: float) -> str:
    if poll_ms:
        return f"polling every {poll_ms:g} ms"
    return "long-polling (`?wait=`, answered when the job changes)"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive_int, default=3, help="measured rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="folder of *.mpp files")
    parser.add_argument(
        "--passes",
        type=positive_int,
        default=5,
        help="timed passes of the engine and of raw MPXJ in every core (raw MPXJ in one "
        "thread, the bar's reference, has one before each round and one after the last)",
    )
    parser.add_argument("--sample", type=positive_int, default=10, help="files, one JVM each")
    parser.add_argument("--concurrency", type=positive_int, default=32, help="throughput clients")
    parser.add_argument(
        "--tenants", type=positive_int, default=5, help="tenants uploading every file, per round"
    )
    parser.add_argument(
        "--poll-ms", type=float, default=0, help="poll, throughput (0: long polling)"
    )
    parser.add_argument("--latency-poll-ms", type=positive_float, default=5, help="poll, latency")
    return parser.parse_args()


def input_files(folder: Path) -> list[Path]:
    """The fixtures to convert; the benchmark ends (exit status 1) when there are none."""
    if not folder.is_dir():
        fail(f"no fixtures folder {folder}: check out ../shared/fixtures or pass --fixtures")
    files = sorted(folder.glob("*.mpp"))
    if not files:
        fail(f"no *.mpp files in {folder}: nothing to measure")
    return files


def sample(files: list[Path], failed: list[str], size: int) -> list[Path]:
    converted = [path for path in files if str(path) not in failed]
    stride = max(len(converted) // size, 1)
    return converted[::stride][:size]


def references(
    args: argparse.Namespace, files: list[Path], raw: reference.Interleaved
) -> tuple[RawRun, RawRun, list[float]]:
    """The references measured before the pipeline starts: the engine, raw MPXJ in every
    core, a JVM per file. Raw MPXJ in one thread, the bar's, has only had its warm-up pass
    (``raw``: its timed passes come between the rounds)."""
    if len(raw.failed) == len(files):
        fail(f"raw MPXJ converted none of the {len(files)} files in {args.fixtures}")
    step("converter engine, 1 thread")
    engine = reference.raw_mpxj(files, 1, args.passes, engine=True)
    threads = os.cpu_count() or 1
    step(f"engine: {engine.files_per_s:.1f} files/s; raw MPXJ, {threads} threads")
    threaded = reference.raw_mpxj(files, threads, args.passes)
    step(f"raw MPXJ, {threads} threads: {threaded.files_per_s:.1f} files/s; one JVM per file")
    jvm_per_file = reference.jvm_per_file(sample(files, raw.failed, args.sample))
    return engine, threaded, jvm_per_file


def round_trips(pipe: Pipeline) -> dict[str, float]:
    step("pipeline: round trips of the database, the broker and the disk")
    return {
        **primitives.database(pipe.monitor),
        **primitives.confirmed_publish(pipe.amqp_url),
        **primitives.fsync(pipe.root / "probe"),
    }


def warm_up(pipe: Pipeline, contents: dict[Path, bytes], args: argparse.Namespace) -> list[Run]:
    """One round per JVM worker, so each JVM converts about as many files as the raw warm-up."""
    step(f"pipeline: {len(pipe.jvm_workers())} warm-up rounds (not counted)")
    return [throughput_round(pipe, contents, args) for _ in pipe.jvm_workers()]


def throughput_round(pipe: Pipeline, contents: dict[Path, bytes], args: argparse.Namespace) -> Run:
    return measured(pipe, contents, args.concurrency, args.poll_ms / 1000, args.tenants)


def raw_pass(raw: reference.Interleaved) -> None:
    settle()
    step(f"raw MPXJ, 1 thread, timed pass {raw.passes + 1}")
    step(f"raw MPXJ, 1 thread: {raw.one_pass():.1f} files/s")


def pipeline_runs(
    args: argparse.Namespace, pipe: Pipeline, files: list[Path], raw: reference.Interleaved
) -> PipelineRuns:
    """The pipeline's runs, and the reference's timed passes between its measured rounds:
    one before each round and one after the last."""
    contents = {path: path.read_bytes() for path in files}
    latency_poll = args.latency_poll_ms / 1000
    probes = round_trips(pipe)
    first = {files[0]: contents[files[0]]}
    first_job = measured(pipe, first, 1, latency_poll).outcomes[0]
    warm_up_rounds = warm_up(pipe, contents, args)
    rounds = []
    for number in range(1, args.rounds + 1):
        raw_pass(raw)
        settle()
        rounds.append(throughput_round(pipe, contents, args))
        step(f"pipeline round {number}: {rounds[-1].files_per_s:.1f} files/s")
    raw_pass(raw)
    settle()
    latency = measured(pipe, contents, 1, latency_poll)
    settle()  # the converter's last log lines
    stages = timeline.stages(latency.outcomes, pipe.root)
    return PipelineRuns(probes, first_job, warm_up_rounds[0], rounds, latency, stages)


def run(args: argparse.Namespace, files: list[Path]) -> Results:
    machine = describe()
    step("raw MPXJ, one JVM kept warm for the run, 1 thread: its warm-up pass")
    raw = reference.Interleaved(files)
    try:
        early = references(args, files, raw)
        root = Path(tempfile.mkdtemp(prefix="bench-conversion-"))
        step(f"starting the system under {root}")
        try:
            with pipeline(root) as pipe:
                runs = pipeline_runs(args, pipe, files, raw)
                workers = len(pipe.jvm_workers())
        except BaseException:
            step(f"failed; logs kept in {root / 'logs'}")
            raise
    finally:
        raw.close()
    shutil.rmtree(root, ignore_errors=True)
    refs = References(raw.result(), *early)
    return Results(machine, settings(args, files, workers), **refs._asdict(), **runs._asdict())


def settings(args: argparse.Namespace, files: list[Path], workers: int) -> dict[str, str]:
    configured = os.environ.get("CONVERTER_WORKERS")
    source = f"CONVERTER_WORKERS={configured}" if configured else "the converter's default"
    per_core = ", one per core" if workers == os.cpu_count() else ""
    return {
        "files": str(len(files)),
        "fixtures": os.path.relpath(args.fixtures, ROOT),
        "megabytes": f"{sum(path.stat().st_size for path in files) / 1e6:.1f}",
        "concurrency": str(args.concurrency),
        "tenants": str(args.tenants),
        "jvm_workers": str(workers),
        "pipeline": (
            f"{workers} JVM workers ({source}{per_core}), {workers} warm-up "
            f"rounds before the measured ones; in each throughput round {args.tenants} new "
            f"tenants upload every file, {args.concurrency} clients "
            f"{polling(args.poll_ms)}; polling every "
            f"{args.latency_poll_ms:g} ms in the latency run"
        ),
        "reference": (
            "raw MPXJ in one thread, the bar's reference, runs in one JVM kept warm for the "
            "whole run: after its warm-up pass (not counted), one timed pass before each "
            f"measured round and one after the last ({args.rounds + 1} passes), so that it and "
            "the pipeline are measured over the same minutes; the other references ran before "
            f"the pipeline started, {args.passes} timed passes each after one warm-up pass"
        ),
    }


def main() -> None:
    args = arguments()
    files = input_files(args.fixtures)
    section = render(run(args, files))
    print(section)
    write_section(args.out, SECTION, section)
    step(f"wrote the Conversion section of {args.out}")


if __name__ == "__main__":
    main()
