"""What the benchmark ran on."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


def describe() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "memory": f"{_meminfo_kb('MemTotal') / 1024**2:.1f} GiB",
        "cpu": _cpu_model(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "java": _java_version(),
        "mpxj / jpype": f"{_version('mpxj')} / {_version('JPype1')}",
        "load average before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def summary(m: dict[str, str], java: bool = False) -> str:
    """The opening sentence of every report: when, on what, and how loaded beforehand."""
    runtime = f", {m['java']}, mpxj / JPype {m['mpxj / jpype']}" if java else ""
    return (
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory']} RAM, {m['os']}, "
        f"Python {m['python']}{runtime}; load average before the run {m['load average before']}"
    )


def _meminfo_kb(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _java_version() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = done.stderr.splitlines()
    return lines[0].strip() if lines else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
