"""The converter's metrics: jobs finished, time in the JVM pool, input sizes, JVMs replaced.

Labels come from fixed lists only: the source format as its first bytes show it
(``shared.formats.SOURCE_FORMATS``), the target, the stable error codes.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Histogram

from converter.errors import ConversionError
from shared.events import ConversionFailed, Event
from shared.formats import source_format

HEAD_BYTES = 512
# why the pool replaced a JVM worker, as it logs it -> the cause counted
RESTART_CAUSES = {
    "timeout": "timeout",
    "heap_exhausted": "heap",
    "died": "crash",
    "died_idle": "crash",
    "cancelled": "cancelled",
    "disk_budget": "disk",
}

FINISHED = Counter(
    "conversion_jobs_finished_total",
    "Conversion jobs that reached a final status",
    ["format", "target", "status", "code"],
)
DURATION = Histogram(
    "converter_conversion_duration_seconds",
    "Time a conversion took in the JVM pool",
    ["format", "target", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
INPUT_BYTES = Histogram(
    "converter_input_bytes",
    "Size of the files converted",
    ["format"],
    buckets=tuple(2**power for power in range(10, 29, 2)),  # 1 KiB .. 256 MiB
)
RESTARTS = Counter("converter_jvm_restarts_total", "JVM workers replaced", ["cause"])
for _cause in set(RESTART_CAUSES.values()):
    RESTARTS.labels(_cause)


@dataclass
class JobLabels:
    """A job's labels; its format is ``unknown`` until its file is read."""

    target: str
    format: str = "unknown"

    def read_format(self, source: Path, size: int) -> None:
        """From the file's first bytes; anything but a regular file (a pipe would block, and
        lose what was read) stays ``unknown``."""
        if source.is_file():
            with source.open("rb") as file:
                self.format = source_format(file.read(HEAD_BYTES))
        INPUT_BYTES.labels(self.format).observe(size)


@contextmanager
def in_jvm(labels: JobLabels) -> Iterator[None]:
    """Times the conversion; its outcome is ``completed`` or the failure's stable code."""
    started = time.perf_counter()
    try:
        yield
    except ConversionError as exc:
        DURATION.labels(labels.format, labels.target, exc.code).observe(
            time.perf_counter() - started
        )
        raise
    DURATION.labels(labels.format, labels.target, "completed").observe(
        time.perf_counter() - started
    )


def jvm_replaced(reason: str) -> None:
    RESTARTS.labels(RESTART_CAUSES.get(reason, "crash")).inc()


def finished(labels: JobLabels, outcome: Event) -> None:
    code = outcome.code if isinstance(outcome, ConversionFailed) else ""
    status = "failed" if code else "completed"
    FINISHED.labels(labels.format, labels.target, status, code).inc()
