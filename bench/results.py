"""Every measurement of one benchmark run, and the figures and ratios derived from them."""

import statistics
from dataclasses import dataclass, field

from bench.client import Outcome
from bench.pipeline import Run
from bench.reference import RawRun
from bench.stats import percentile

# the conversion bars of docs/architecture.md ("Quality bars")
TARGET_THROUGHPUT_RATIO = 0.5
STRETCH_THROUGHPUT_RATIO = 0.8
TARGET_SPEEDUP_VS_JVM_PER_FILE = 30.0


@dataclass
class Results:
    machine: dict[str, str]
    settings: dict[str, str]
    raw: RawRun
    engine: RawRun
    threaded: RawRun
    jvm_per_file_s: list[float]
    primitives_ms: dict[str, float]
    first_job: Outcome
    first_round: Run
    rounds: list[Run]
    latency: Run
    stages_ms: dict[str, float] = field(default_factory=dict)

    @property
    def median_round(self) -> Run:
        return sorted(self.rounds, key=lambda run: run.files_per_s)[len(self.rounds) // 2]

    @property
    def pipeline_files_per_s(self) -> float:
        return statistics.median(run.files_per_s for run in self.rounds)

    @property
    def throughput_ratio(self) -> float:
        return self.pipeline_files_per_s / self.raw.files_per_s

    @property
    def jvm_per_file_mean_s(self) -> float:
        return statistics.mean(self.jvm_per_file_s)

    @property
    def speedup_vs_jvm_per_file(self) -> float:
        return self.pipeline_files_per_s * self.jvm_per_file_mean_s

    @property
    def latencies_ms(self) -> list[float]:
        return [o.latency * 1000 for o in self.latency.outcomes]

    @property
    def overheads_ms(self) -> list[float]:
        """Pipeline latency minus raw single-thread time, for files both converted."""
        return [
            o.latency * 1000 - self.raw.per_file_ms[str(o.path)]
            for o in self.latency.outcomes
            if o.status == "completed" and str(o.path) not in self.raw.failed
        ]

    @property
    def overhead_p50_ms(self) -> float:
        return percentile(self.overheads_ms, 50)
