"""``make observe``: ``make run`` plus a Prometheus scraping every process of the system, with
the alert rules loaded, and an Alertmanager it sends its alerts to (docs/monitoring.md).

Both run from DATA_DIR (``prometheus/``, ``alertmanager/``), are restarted by make run's
supervisor when they exit, and stop with the rest on Ctrl-C. ``OBSERVE_PROMETHEUS_PORT``
(9090), ``OBSERVE_ALERTMANAGER_PORT`` (9093) and ``OBSERVE_SCRAPE_INTERVAL`` (15s) change them.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import run
from prometheus import Process, Server, alertmanager, prometheus, running
from system import System


@dataclass(frozen=True)
class Settings:
    prometheus_port: int
    alertmanager_port: int
    scrape_interval: str

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            int(env.get("OBSERVE_PROMETHEUS_PORT", 9090)),
            int(env.get("OBSERVE_ALERTMANAGER_PORT", 9093)),
            env.get("OBSERVE_SCRAPE_INTERVAL", "15s"),
        )


@contextmanager
def monitoring(settings: Settings, system: System, data_dir: Path) -> Iterator[run.Extras]:
    """Alertmanager, then a Prometheus scraping every process of ``system``, both ready."""
    logs = data_dir / "logs"
    servers = [
        alertmanager(
            data_dir / "alertmanager", settings.alertmanager_port, logs / "alertmanager.log"
        ),
        prometheus(
            data_dir / "prometheus",
            settings.prometheus_port,
            system.scrape_targets(),
            settings.scrape_interval,
            alertmanager_port=settings.alertmanager_port,
            log=logs / "prometheus.log",
        ),
    ]
    with running(*servers) as processes:
        extras = run.Extras(banner=_banner(*servers))
        for server in servers:
            extras.processes[server.name] = (
                processes[server.name],
                partial(_respawn, server, processes),
            )
        yield extras


def _respawn(server: Server, processes: dict[str, Process]) -> Process:
    # kept in ``processes`` too, so that stopping reaches the process running now
    processes[server.name] = server.spawn()
    return processes[server.name]


def _banner(manager: Server, scraper: Server) -> str:
    return (
        f"  Prometheus       {scraper.url}   (targets: {scraper.url}/targets, "
        f"alerts: {scraper.url}/alerts)\n"
        f"  Alertmanager     {manager.url}\n"
        "  Dashboards       ops/grafana/*.json   (import into Grafana; docs/monitoring.md)\n"
    )


def main() -> int:
    settings = Settings.from_env()
    reserved = [settings.prometheus_port, settings.alertmanager_port]
    return run.main(partial(monitoring, settings), reserved)


if __name__ == "__main__":
    sys.exit(main())
