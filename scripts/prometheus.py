"""A Prometheus and an Alertmanager of our own for a running system: ``make observe``, the tests.

Each runs the binary Debian ships (``bootstrap.ensure_monitoring_tools``) with a config and a
data folder we write, never the packages' services. Prometheus scrapes every process of the
system on its ``/metrics`` (one job per process, named as ``running_system`` names it), loads
ops/prometheus/rules.yml and sends what fires to the Alertmanager given to it.
"""

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from bootstrap import BootstrapError, ensure_monitoring_tools
from system import kill_group

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "ops" / "prometheus" / "rules.yml"
ALERTMANAGER_CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"

Process = subprocess.Popen[bytes]


@dataclass(frozen=True)
class Server:
    """A monitoring server as we start it: again the same way after it died."""

    name: str
    command: list[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> Process:
        """Started in a process group of its own, as make run's supervisor asks; returns at once."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            return subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, process_group=0
            )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def scrape_config(
    targets: dict[str, int], interval: str = "15s", alertmanager_port: int | None = None
) -> dict[str, Any]:
    """Prometheus's configuration: a job per process (``{process name: its metrics port}``)."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in sorted(targets.items())
        ],
    }
    if alertmanager_port is not None:
        alertmanagers = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        config["alerting"] = {"alertmanagers": alertmanagers}
    return config


def prometheus(
    folder: Path,
    port: int,
    targets: dict[str, int],
    interval: str = "15s",
    alertmanager_port: int | None = None,
    log: Path | None = None,
) -> Server:
    """A Prometheus with its configuration and data under ``folder``, logging to ``log``
    (default: next to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets, interval, alertmanager_port)))
    command = [
        ensure_monitoring_tools()["prometheus"],
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    return Server("prometheus", command, port, log or folder / "prometheus.log")


def alertmanager(folder: Path, port: int, log: Path | None = None) -> Server:
    """An Alertmanager alone (no cluster to gossip with) with ops/alertmanager/alertmanager.yml."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        ensure_monitoring_tools()["prometheus-alertmanager"],
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return Server("alertmanager", command, port, log or folder / "alertmanager.log")


@contextmanager
def running(*servers: Server, timeout: float = 60) -> Iterator[dict[str, Process]]:
    """The servers started and ready (``/-/ready``), by name; stopped on the way out, as the
    dict holds them then (a supervisor that restarts one puts the new process in it)."""
    processes: dict[str, Process] = {}
    try:
        for server in servers:
            processes[server.name] = server.spawn()
        for server in servers:
            _wait_ready(server, processes[server.name], timeout)
        yield processes
    finally:
        for process in processes.values():
            stop(process)


def stop(process: Process) -> None:
    """SIGTERM, then SIGKILL to the group of whatever did not leave within 10 s."""
    process.terminate()
    with suppress(subprocess.TimeoutExpired):
        process.wait(10)
    kill_group(process.pid)
    process.wait(10)


def _wait_ready(server: Server, process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BootstrapError(f"{server.name} exited; see {server.log}")
        if server.ready():
            return
        time.sleep(0.2)
    raise BootstrapError(f"{server.name} not ready within {timeout:.0f} s; see {server.log}")
