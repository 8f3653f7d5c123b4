"""Raw MPXJ in one warm JVM: the reference the pipeline is measured against.

    python bench/raw_mpxj.py [--threads N] [--passes N] [--engine] FILE... > result.json

One warm-up pass (class loading, JIT), then timed passes over the same files, every file in
every pass. With ``--engine`` each file goes through the converter's own ``engine.convert``
(MPXJ plus the fidelity manifest) instead of the bare reader and writer, which tells how
much the converter adds inside its JVM process.

    python bench/raw_mpxj.py --serve [--threads N] FILE...

keeps the JVM: after the warm-up pass it writes ``ready``, then runs one timed pass for each
line read from its standard input and writes its result as one line of JSON, until the input
ends. The benchmark asks for its passes between the pipeline's rounds, so the reference and
the pipeline are measured over the same minutes of a machine whose speed drifts.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

HEAP_MB = 512  # the converter's default CONVERTER_JVM_HEAP_MB

Convert = Callable[[Path, Path], None]


def start_jvm(work: Path) -> None:
    """The converter's own JVM start (options, log4j), imported late: bench.reference imports
    this module for HEAP_MB and has no JVM of its own."""
    from converter import jvm

    jvm.start_jvm(heap_mb=HEAP_MB, tmp_dir=work)


def bare_mpxj() -> Convert:
    from java.io import File
    from org.mpxj.reader import UniversalProjectReader
    from org.mpxj.writer import FileFormat, UniversalProjectWriter

    def convert(source: Path, output: Path) -> None:
        project = UniversalProjectReader().read(str(source))
        UniversalProjectWriter(FileFormat.MSPDI).write(project, File(str(output)))

    return convert


def converter_engine() -> Convert:
    from converter import engine

    def convert(source: Path, output: Path) -> None:
        engine.convert(source, output, "mspdi")

    return convert


def timed(convert: Convert, source: Path, output: Path) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        convert(source, output)
        ok = True
    except Exception:  # a file MPXJ cannot read counts as done, as in the pipeline
        ok = False
    return time.perf_counter() - started, ok


@contextmanager
def runner(threads: int) -> Iterator[Callable[..., Iterator[tuple[float, bool]]]]:
    if threads == 1:
        yield map
        return
    with ThreadPoolExecutor(threads) as pool:
        yield pool.map


Pass = tuple[float, list[tuple[float, bool]]]  # wall seconds; each file's seconds and success


@contextmanager
def passes_of(
    make: Callable[[], Convert], files: list[Path], threads: int
) -> Iterator[Callable[[], Pass]]:
    """One pass over every file per call, in a JVM started for them."""
    with tempfile.TemporaryDirectory(prefix="raw-mpxj-") as tmp, runner(threads) as run:
        start_jvm(Path(tmp))
        convert = make()
        outputs = [Path(tmp) / f"{index}.out" for index in range(len(files))]

        def one_pass() -> Pass:
            started = time.perf_counter()
            results = list(run(lambda s, o: timed(convert, s, o), files, outputs))
            return time.perf_counter() - started, results

        yield one_pass


def failures(files: list[Path], warm_up: Pass) -> list[str]:
    return [str(path) for path, (_, ok) in zip(files, warm_up[1], strict=True) if not ok]


def measure(make: Callable[[], Convert], files: list[Path], threads: int, passes: int) -> dict:
    with passes_of(make, files, threads) as one_pass:
        warm_up = one_pass()
        cpu_before = time.process_time()
        timed_passes = [one_pass() for _ in range(passes)]
        cpu = time.process_time() - cpu_before
    per_file = zip(*(results for _, results in timed_passes), strict=True)
    return {
        "threads": threads,
        "files": len(files),
        "pass_seconds": [wall for wall, _ in timed_passes],
        "cpu_seconds": cpu,
        "per_file_ms": {
            str(path): statistics.median(t for t, _ in runs) * 1000
            for path, runs in zip(files, per_file, strict=True)
        },
        "failed": failures(files, warm_up),
    }


def serve(make: Callable[[], Convert], files: list[Path], threads: int) -> None:
    """``--serve``: the warm-up pass, then a timed pass per line of input (see above)."""
    with passes_of(make, files, threads) as one_pass:
        warm_up = one_pass()
        _say({"ready": True, "failed": failures(files, warm_up)})
        for _ in sys.stdin:
            cpu_before = time.process_time()
            wall, results = one_pass()
            cpu = time.process_time() - cpu_before
            _say({"seconds": wall, "cpu_seconds": cpu, "file_seconds": [t for t, _ in results]})


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--engine", action="store_true")
    parser.add_argument("--serve", action="store_true", help="a timed pass per input line")
    args = parser.parse_args()
    if missing := [str(path) for path in args.files if not path.is_file()]:
        parser.error(f"no such file: {', '.join(missing)}")
    make = converter_engine if args.engine else bare_mpxj
    if args.serve:
        serve(make, args.files, args.threads)
    else:
        json.dump(measure(make, args.files, args.threads, args.passes), sys.stdout)


if __name__ == "__main__":
    main()
