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
