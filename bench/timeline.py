"""Where a job's time goes, from the client's clock, the services' logs and the job's stamps."""

import json
import statistics
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from bench.client import Outcome

STAGES = (
    "POST sent -> job inserted (receive, store, sniff, reuse lookup, insert)",
    "job inserted -> 202 received (publish, outbox pull, response)",
    "202 -> converter finished (delivery, JVM, result stored, outcome published)",
    "converter finished -> status recorded (upload worker)",
    "status recorded -> seen by the client (polling)",
)


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
            times[record["job_id"]] = datetime.fromisoformat(
                record["timestamp"].replace("Z", "+00:00")
            ).timestamp()
    return times


def stages(outcomes: Iterable[Outcome], logs: Path) -> dict[str, float]:
    """Median milliseconds of each stage over the jobs found in both logs."""
    accepted = log_times(logs / "upload-api.log", "conversion.accepted")
    finished = log_times(logs / "converter.log", "conversion.finished")
    spans: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for o in outcomes:
        if o.job_id not in accepted or o.job_id not in finished:
            continue
        marks = (
            o.posted_at,
            accepted[o.job_id],
            o.accepted_at,
            finished[o.job_id],
            o.updated_at,
            o.observed_at,
        )
        for stage, start, end in zip(STAGES, marks, marks[1:], strict=False):
            spans[stage].append((end - start) * 1000)
    return {stage: statistics.median(values) for stage, values in spans.items() if values}
