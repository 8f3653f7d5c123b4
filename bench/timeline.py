"""Where a job's time goes: the client's clock, the services' logs, the stored files' mtimes.

All marks are wall-clock seconds of the same machine: client ``time.time()``, structlog's
UTC timestamps, the job document's ``updated_at`` and the object files' modification times.
"""

import json
import statistics
from collections.abc import Iterable
from pathlib import Path

from bench.client import Outcome, epoch_seconds

STAGES = (
    "POST sent -> source written (HTTP, multipart, sha256)",
    "source written -> job inserted (fsync, reuse lookup, insert)",
    "job inserted -> 202 received (confirmed publish, outbox pull, response)",
    "202 -> result written (delivery, record lookup, started event, JVM conversion)",
    "result written -> status recorded (fsync, outcome write + publish, upload worker)",
    "status recorded -> seen by the client (polling)",
)
CONVERSION_STAGE = STAGES[3]


def log_times(log: Path, event: str) -> dict[str, float]:
    """Wall-clock seconds of each job's ``event`` in a JSON log."""
    times = {}
    for line in log.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event and "job_id" in record:
            times[record["job_id"]] = epoch_seconds(record["timestamp"])
    return times


def written_at(objects: Path, job_id: str, pattern: str) -> float | None:
    found = sorted(objects.glob(f"*/{job_id}/{pattern}"))
    return found[0].stat().st_mtime if found else None


def marks(outcome: Outcome, inserted: dict[str, float], objects: Path) -> list[float] | None:
    source = written_at(objects, outcome.job_id, "source-*")
    result = written_at(objects, outcome.job_id, "result.*")
    if source is None or result is None or outcome.job_id not in inserted:
        return None
    return [
        outcome.posted_at,
        source,
        inserted[outcome.job_id],
        outcome.accepted_at,
        result,
        outcome.updated_at,
        outcome.observed_at,
    ]


def stages(outcomes: Iterable[Outcome], root: Path) -> dict[str, float]:
    """Median milliseconds of each stage, over the completed jobs with every mark found."""
    inserted = log_times(root / "logs" / "upload-api.log", "conversion.accepted")
    spans: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for outcome in outcomes:
        found = (
            marks(outcome, inserted, root / "objects") if outcome.status == "completed" else None
        )
        for stage, start, end in zip(STAGES, found or [], (found or [])[1:], strict=False):
            spans[stage].append((end - start) * 1000)
    return {stage: statistics.median(values) for stage, values in spans.items() if values}
