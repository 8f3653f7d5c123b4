"""One system for the fault scenarios, with every dependency a scenario can take away.

The database is SecantusDB of its own, killed and restarted on the same port and data; the
broker is reached through a proxy a scenario cuts (to the services, the broker stopped); the
object store is the filesystem store on a small tmpfs a scenario fills, or an S3 server behind
a proxy a scenario cuts. Each scenario's
figures are written to ``CHAOS_RESULTS`` (default ``.data/chaos/results.json``) for
docs/resilience.md.
"""

import json
import os
import platform
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bootstrap import (
    Secantus,
    ensure_rabbitmq,
    free_port,
    port_open,
    rabbitmq_vhost,
    start_secantus,
    wait_for,
)
from system import System, running_system

from tests.support.chaos import Outcome
from tests.support.faultproxy import FaultProxy
from tests.support.notifier import new_tenant
from tests.support.s3server import running_s3_server

ROOT = Path(__file__).resolve().parents[2]
STORE_MB = 1024  # room for every scenario's files; the full-disk one fills what is left


@dataclass
class Chaos:
    system: System
    broker: FaultProxy
    mongo: Secantus
    objects: Path  # the filesystem store's folder (a tmpfs), when the store is that one
    storage: FaultProxy | None = None  # the S3 server's proxy, when the store is S3

    def kill_database(self) -> None:
        self.mongo.process.kill()
        self.mongo.process.wait(10)

    def start_database(self) -> None:
        """Again on the same port and data, as the services' clients know it."""
        self.mongo.restart()
        wait_for(lambda: port_open(self.mongo.port), 60, "SecantusDB")


@contextmanager
def chaos_system(
    root: Path, storage: FaultProxy | None = None, boleto: bool = False, **settings: str
) -> Iterator[Chaos]:
    """The whole system on a database of its own and the broker behind a proxy."""
    ensure_rabbitmq()
    mongo = start_secantus(root / "mongo", root / "secantusdb.log", port=free_port())
    try:
        with rabbitmq_vhost("chaos") as amqp_url:
            broker = FaultProxy(5672).start()
            proxied = amqp_url.replace(":5672/", f":{broker.port}/")
            try:
                with running_system(
                    root,
                    proxied,
                    mongo.url,
                    notifier=True,
                    boleto=boleto,
                    MONGODB_DB="chaos",
                    RETRY_BASE_DELAY_MS="200",
                    NOTIFIER_ALLOW_HTTP="true",
                    NOTIFIER_ALLOW_LOOPBACK="true",
                    **settings,
                ) as system:
                    chaos = Chaos(system, broker, mongo, root / "objects", storage)
                    yield chaos
            finally:
                broker.stop()
    finally:
        mongo.stop()


@pytest.fixture(scope="session")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """The system on the filesystem store, its folder a tmpfs of STORE_MB."""
    root = tmp_path_factory.mktemp("chaos")
    objects = root / "objects"
    objects.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={STORE_MB}m", "tmpfs", str(objects)]
    subprocess.run(mount, check=True)
    try:
        with chaos_system(root) as running:
            yield running
    finally:
        subprocess.run(["umount", "-l", str(objects)], check=False)


@pytest.fixture(scope="session")
def s3_chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """The system on an S3 server (moto) reached through a proxy, with boleto-sync and the
    bank's simulator (the bank's limits per second instead of per minute)."""
    with running_s3_server() as s3:
        storage = FaultProxy(int(s3.endpoint.rsplit(":", 1)[1])).start()
        settings = {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT": f"127.0.0.1:{storage.port}",
            "S3_ACCESS_KEY": s3.access_key,
            "S3_SECRET_KEY": s3.secret_key,
            "S3_BUCKET": "chaos",
            "S3_SECURE": "false",
            "INTER_SIM_PROCESSING_DELAY_SECONDS": "0.5",
            "BOLETO_PROCESSING_POLL_S": "0.2",
            "BOLETO_LIMIT_WINDOW_S": "1",
            "INTER_SIM_WINDOW_SECONDS": "1",
        }
        root = tmp_path_factory.mktemp("chaos-s3")
        try:
            with chaos_system(root, storage, boleto=True, **settings) as running:
                yield running
        finally:
            storage.stop()


@dataclass
class Tenant:
    key: str
    api: httpx.AsyncClient
    notifier: httpx.AsyncClient


@asynccontextmanager
async def new_tenant_of(system: System) -> AsyncIterator[Tenant]:
    """A tenant of its own per scenario, so each counts only its own deliveries."""
    _, key = await new_tenant(system.base_url, system.admin_key)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=system.base_url, headers=headers, timeout=30) as api,
        httpx.AsyncClient(base_url=system.notifier_url, headers=headers, timeout=30) as nt,
    ):
        yield Tenant(key, api, nt)


@pytest.fixture
async def tenant(chaos: Chaos) -> AsyncIterator[Tenant]:
    async with new_tenant_of(chaos.system) as tenant:
        yield tenant


_OUTCOMES: list[Outcome] = []


@pytest.fixture(scope="session")
def outcomes() -> Iterator[list[Outcome]]:
    yield _OUTCOMES
    path = Path(os.environ.get("CHAOS_RESULTS", ROOT / ".data" / "chaos" / "results.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.node()}, {os.cpu_count()} cores, {platform.platform()}"
    load = os.getloadavg()
    path.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine,
                "load_at_end": [round(x, 2) for x in load],
                "scenarios": [o.row() for o in _OUTCOMES],
            },
            indent=2,
        )
    )
    print(f"\nchaos results: {path}")


def ready_urls(system: System, *names: str) -> dict[str, str]:
    return {name: f"http://127.0.0.1:{system._ports[name]}/readyz" for name in names}
