"""The references the pipeline is measured against: raw MPXJ in a warm JVM, and a JVM per file."""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procstat import machine_cpu
from bench.raw_mpxj import HEAP_MB
from bench.stats import percentile

RAW_SCRIPT = Path(__file__).with_name("raw_mpxj.py")
# run by this interpreter (the project's venv), so the converter package is importable
ONE_JVM_PER_FILE = """
import sys
from converter.jvm import start_jvm
start_jvm(heap_mb=int(sys.argv[3]))
from java.io import File
from org.mpxj.reader import UniversalProjectReader
from org.mpxj.writer import FileFormat, UniversalProjectWriter
project = UniversalProjectReader().read(sys.argv[1])
UniversalProjectWriter(FileFormat.MSPDI).write(project, File(sys.argv[2]))
"""


@dataclass(frozen=True)
class RawRun:
    """Timed passes of one warm JVM over every file (after a warm-up pass).

    Files/s come from the median pass, so a burst of other load on the machine during one
    pass does not move the figure; ``others_share`` tells how busy the machine was anyway.
    """

    threads: int
    files: int
    pass_seconds: list[float]
    cpu_seconds: float
    per_file_ms: dict[str, float]
    failed: list[str]
    others_cpu: float  # busy seconds of other processes on the machine during the run
    elapsed: float  # seconds the child process ran (JVM start, warm-up and timed passes)

    @property
    def files_per_s(self) -> float:
        return self.files / statistics.median(self.pass_seconds)

    @property
    def others_share(self) -> float:
        return self.others_cpu / (self.elapsed * (os.cpu_count() or 1))

    @property
    def cpu_ms_per_file(self) -> float:
        return self.cpu_seconds * 1000 / (self.files * len(self.pass_seconds))

    @property
    def p50_ms(self) -> float:
        return percentile(self.per_file_ms.values(), 50)

    @property
    def threads_text(self) -> str:
        return "1 thread" if self.threads == 1 else f"{self.threads} threads"


def raw_mpxj(files: list[Path], threads: int = 1, passes: int = 5, engine: bool = False) -> RawRun:
    args = [sys.executable, str(RAW_SCRIPT), "--threads", str(threads), "--passes", str(passes)]
    busy, child_cpu, started = machine_cpu(), _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [*args, *(["--engine"] if engine else []), *map(str, files)],
        capture_output=True,
        check=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    others = max(machine_cpu() - busy - (_children_cpu() - child_cpu), 0.0)
    return RawRun(**json.loads(done.stdout), others_cpu=others, elapsed=elapsed)


class Interleaved:
    """Raw MPXJ in one JVM kept warm for the whole run (``raw_mpxj.py --serve``), asked for
    a timed pass at a time: between the pipeline's rounds, so that both are measured over
    the same minutes. A shared machine's speed drifts by a fifth or more within minutes
    (docs/benchmarks.md), and a reference measured before the pipeline carried that drift
    into their ratio."""

    def __init__(self, files: list[Path], threads: int = 1) -> None:
        self.files = files
        self.threads = threads
        self._process = subprocess.Popen(
            [sys.executable, str(RAW_SCRIPT), "--serve", "--threads", str(threads)]
            + [str(path) for path in files],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._failed: list[str] = self._read()["failed"]  # after the warm-up pass
        self._passes: list[dict] = []
        self._others_cpu = 0.0

    @property
    def failed(self) -> list[str]:
        """The files its warm-up pass could not convert."""
        return self._failed

    @property
    def passes(self) -> int:
        return len(self._passes)

    def one_pass(self) -> float:
        """A timed pass; its files/s."""
        assert self._process.stdin is not None
        busy = machine_cpu()
        self._process.stdin.write("pass\n")
        self._process.stdin.flush()
        done = self._read()
        self._others_cpu += max(machine_cpu() - busy - done["cpu_seconds"], 0.0)
        self._passes.append(done)
        return len(self.files) / done["seconds"]

    def result(self) -> RawRun:
        """The timed passes so far, as one run (the warm-up pass not among them)."""
        per_file = zip(*(done["file_seconds"] for done in self._passes), strict=True)
        return RawRun(
            threads=self.threads,
            files=len(self.files),
            pass_seconds=[done["seconds"] for done in self._passes],
            cpu_seconds=sum(done["cpu_seconds"] for done in self._passes),
            per_file_ms={
                str(path): statistics.median(seconds) * 1000
                for path, seconds in zip(self.files, per_file, strict=True)
            },
            failed=self._failed,
            others_cpu=self._others_cpu,
            elapsed=sum(done["seconds"] for done in self._passes),
        )

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self) -> dict:
        """The server's next message (lines that are not JSON, if the JVM writes any, skipped)."""
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith("{"):
                return dict(json.loads(line))
        raise RuntimeError(f"raw MPXJ server ended (exit status {self._process.wait()})")


def jvm_per_file(files: list[Path]) -> list[float]:
    """Seconds per file when each conversion starts its own Python and JVM."""
    seconds = []
    with tempfile.TemporaryDirectory(prefix="jvm-per-file-") as tmp:
        for index, source in enumerate(files):
            output = f"{tmp}/{index}.xml"
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", ONE_JVM_PER_FILE, str(source), output, str(HEAP_MB)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            seconds.append(time.perf_counter() - started)
    return seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
