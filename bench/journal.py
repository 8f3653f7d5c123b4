"""What journaled writes cost: pipeline throughput with ``MONGODB_JOURNAL`` on, against off.

    uv run python bench/journal.py [--pairs N] [--rounds N] [--out docs/benchmarks.md]

Starts the whole pipeline ``2 x pairs`` times, alternating unjournaled writes (``j: false``,
what the platform did before: SecantusDB killed loses the writes of its last moments) and
journaled ones (the default now), converts the MPP fixtures in each and compares the median
rounds and the services' CPU per file. Rewrites the Journal section of the output file.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench.cli import fail, step  # noqa: E402  (needs the paths above)
from bench.machine import describe, summary  # noqa: E402
from bench.markdown import bullets, table, write_section  # noqa: E402
from bench.pipeline import Run, measured, pipeline, settle  # noqa: E402
from bench.telemetry import arguments, per_file_ms  # noqa: E402

SECTION = "journal"


class Mode(NamedTuple):
    journal: bool
    rounds: list[Run]


def one_system(journal: bool, args: argparse.Namespace) -> Mode:
    contents = {path: path.read_bytes() for path in sorted(args.fixtures.glob("*.mpp"))}
    root = Path(tempfile.mkdtemp(prefix="bench-journal-"))
    try:
        with pipeline(root, MONGODB_JOURNAL=str(journal).lower()) as pipe:
            for _ in pipe.jvm_workers():  # warm-up, as the conversion benchmark does
                measured(pipe, contents, args.concurrency, 0)
            rounds = []
            for _ in range(args.rounds):
                settle()
                rounds.append(measured(pipe, contents, args.concurrency, 0))
    except BaseException:
        step(f"failed; logs kept in {root / 'logs'}")
        raise
    shutil.rmtree(root, ignore_errors=True)
    label = "on" if journal else "off"
    step(f"journal {label}: " + ", ".join(f"{r.files_per_s:.1f}" for r in rounds) + " files/s")
    return Mode(journal, rounds)


def _p95_ms(runs: list[Run], accepted: bool = False) -> float:
    """p95 from the upload's send to its 202 (``accepted``) or to the job observed done."""
    latencies = sorted(
        (o.accepted_at if accepted else o.observed_at) - o.posted_at
        for run in runs
        for o in run.outcomes
    )
    return 1000 * latencies[int(0.95 * (len(latencies) - 1))]


def render(machine: dict[str, str], modes: list[Mode]) -> str:
    off = [run for mode in modes if not mode.journal for run in mode.rounds]
    on = [run for mode in modes if mode.journal for run in mode.rounds]
    off_rate = median(run.files_per_s for run in off)
    on_rate = median(run.files_per_s for run in on)
    failed = sum(run.count("failed") for run in off + on)
    rows = [
        [
            "journaled (`j: true`, default)" if mode.journal else "unjournaled (`j: false`)",
            ", ".join(f"{run.files_per_s:.1f}" for run in mode.rounds),
            f"{per_file_ms(mode.rounds):.1f}",
            f"{_p95_ms(mode.rounds, accepted=True):.0f}",
            f"{_p95_ms(mode.rounds):.0f}",
        ]
        for mode in modes
    ]
    return "\n\n".join(
        [
            "## Journaled writes",
            f"{summary(machine, java=True)}. The whole pipeline started {len(modes)} times, "
            "alternating `MONGODB_JOURNAL=false` and `true`; in each, the MPP fixtures "
            "converted by 16 long-polling clients, warm-up rounds and "
            f"{len(modes[0].rounds)} measured. SecantusDB's data on this machine's disk "
            "(`/dev/vda`), so a journaled commit waits for an fsync. "
            "Rerun with `uv run python bench/journal.py`.",
            table(
                ["Bar", "Measured"],
                [
                    [
                        "pipeline throughput, journaled / unjournaled (median rounds)",
                        f"{on_rate / off_rate:.3f} ({on_rate:.1f} / {off_rate:.1f} files/s)",
                    ],
                ],
            ),
            table(
                [
                    "System",
                    "Files/s per round",
                    "Services' CPU ms per file",
                    "p95 to 202, ms",
                    "p95 to done, ms",
                ],
                rows,
            ),
            bullets(
                [
                    "Why journaled: killed mid-write, SecantusDB lost 1 to 9 of the last "
                    "~1,000 acknowledged inserts unjournaled and none journaled "
                    "(`tests/integration/test_durability.py`); `make chaos` once found a job "
                    "whose acknowledged completion was lost, left converting for ever.",
                    "What bounds it: the pipeline is CPU-bound on 2 cores; a journaled write "
                    "adds the fsync's wait, not CPU, and the writes are already batched "
                    "(group commit), so the wait is shared by the jobs of a batch.",
                    f"Failed jobs: {failed}.",
                ]
            ),
        ]
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    if not any(args.fixtures.glob("*.mpp")):
        fail(f"no *.mpp files in {args.fixtures}")
    machine = describe()
    modes = [one_system(journal, args) for _ in range(args.pairs) for journal in (False, True)]
    section = render(machine, modes)
    print(section)
    write_section(args.out, SECTION, section)
    step(f"wrote the Journal section of {args.out}")


if __name__ == "__main__":
    main()
