"""CPU time of processes and of the whole machine, read from /proc (no psutil here)."""

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")
MACHINE = "whole machine"
CPU_BOUND = 0.85  # busy share of all cores above which a run counts as CPU-bound


def process_cpu(pid: int) -> float:
    """User + system seconds of one process (all its threads); 0 once it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu() -> float:
    """Busy seconds of all cores together since boot (everything but idle and iowait)."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


def children(pid: int, argument: str = "") -> list[int]:
    """Child processes of pid, only those whose command line holds ``argument`` if given."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and _parent(entry) == pid and argument in _cmdline(entry):
            found.append(int(entry.name))
    return found


def pids_named(command: str, argument: str = "") -> list[int]:
    """Processes running ``command``, only those whose command line holds ``argument``."""
    found = []
    for entry in PROC.iterdir():
        try:
            if not entry.name.isdigit() or (entry / "comm").read_text().strip() != command:
                continue
        except OSError:
            continue
        if argument in _cmdline(entry):
            found.append(int(entry.name))
    return found


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class CpuUsage:
    """CPU seconds spent by each named group of processes while a block ran."""

    wall: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ours(self) -> float:
        return sum(value for name, value in self.seconds.items() if name != MACHINE)

    @property
    def others(self) -> float:
        """Busy time of processes outside the groups (other users of the machine, the kernel)."""
        return max(self.seconds.get(MACHINE, 0.0) - self.ours, 0.0)

    def others_share(self, cores: int) -> float:
        return self.others / (self.wall * cores) if self.wall else 0.0

    def busy_share(self, cores: int) -> float:
        """How much of the machine's CPU capacity was busy, every process counted (0..1)."""
        return self.seconds.get(MACHINE, 0.0) / (self.wall * cores) if self.wall else 0.0


def _sample(groups: Mapping[str, list[int]]) -> dict[str, float]:
    sample = {name: sum(process_cpu(pid) for pid in pids) for name, pids in groups.items()}
    sample[MACHINE] = machine_cpu()
    return sample


@contextmanager
def cpu_usage(groups: Mapping[str, list[int]]) -> Iterator[CpuUsage]:
    """Measure the groups' CPU seconds over the block (pids must outlive the block)."""
    usage = CpuUsage()
    before, started = _sample(groups), time.perf_counter()
    yield usage
    usage.wall = time.perf_counter() - started
    after = _sample(groups)
    usage.seconds = {name: after[name] - before[name] for name in after}
