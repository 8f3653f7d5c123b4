"""The whole system as real processes (upload api and worker, converter): run, tests, bench."""

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bootstrap import allocator_env, free_port

ROOT = Path(__file__).resolve().parents[1]
# the bank's stand-in is no part of the platform and serves no /metrics
UNSCRAPED = {"inter-simulator"}
# the processes that keep the default allocators: the converter hosts JVMs, whose native
# memory was measured with them (bootstrap.JEMALLOC_CONF for the others)
DEFAULT_ALLOCATORS = {"converter"}


@dataclass
class System:
    base_url: str
    api_key: str
    admin_key: str
    env: dict[str, str]
    logs: Path
    boleto_url: str = ""
    simulator_url: str = ""
    notifier_url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # each process leads a process group of its own, signalled as a whole: a uvicorn parent
    # killed alone would leave its workers holding the port its restart must bind
    process_groups: bool = False
    _ports: dict[str, int] = field(default_factory=dict)
    _commands: dict[str, tuple[list[str], int, dict[str, str]]] = field(default_factory=dict)

    def start(
        self,
        name: str,
        args: list[str],
        ops_port: int,
        extra_env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        """Start a process; with ``wait``, return once its /readyz answers 200."""
        allocator = {} if args[0] in DEFAULT_ALLOCATORS else allocator_env()
        env = {**self.env, **allocator, **(extra_env or {})}
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", *args],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0 if self.process_groups else None,
            )
        self._ports[name] = ops_port
        self._commands[name] = (args, ops_port, extra_env or {})
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        port = self._ports[name]
        wait_until(partial(ready, port), self.processes[name], self.logs / f"{name}.log")

    def start_converter(self, name: str = "converter", **extra_env: str) -> None:
        port = free_port()
        self.start(name, ["converter"], port, {"CONVERTER_OPS_PORT": str(port), **extra_env})

    def start_boleto_worker(self, name: str, **extra_env: str) -> None:
        port = free_port()
        self.start(
            name, ["boleto_sync", "worker"], port, {"BOLETO_OPS_PORT": str(port), **extra_env}
        )

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``name`` again as it was started last (same ports); returns without waiting."""
        self.start(name, *self._commands[name], wait=False)
        return self.processes[name]

    def scrape_targets(self) -> dict[str, int]:
        """The port serving each process's /metrics (an API's own port, a worker's ops port)."""
        return {name: port for name, port in self._ports.items() if name not in UNSCRAPED}

    def exited(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait(10)
        self._kill_group(process)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for process in self.processes.values():
            self._kill_group(process)
        self.processes.clear()

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        if self.process_groups:
            kill_group(process.pid)


def kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of a process group (nothing when it is gone)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(
    probe: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 120
) -> None:
    """Return once ``probe()`` holds; fail at once if the process exits, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}; see {log}")
        if probe():
            return
        time.sleep(0.2)
    raise RuntimeError(f"not ready within {timeout} s; see {log}")


@dataclass(frozen=True)
class Ports:
    upload: int
    boleto: int
    simulator: int
    notifier: int

    @classmethod
    def free(cls) -> "Ports":
        return cls(free_port(), free_port(), free_port(), free_port())


def secrets_key(root: Path) -> str:
    """The key every process of systems on ``root`` seals secrets with: made once per data
    folder and kept there, so a restart still opens what an earlier run sealed."""
    path = root / "secrets.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with suppress(FileExistsError), os.fdopen(_create_private(path), "w") as out:
            out.write(base64.b64encode(os.urandom(32)).decode())
    return path.read_text().strip()


def _create_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


# Suites and benches drive one key far past the documented per-key limits (uploads at once,
# jobs in flight, request rate) and give their one tenant the whole of the bank's quota: these
# lift them unless the environment sets its own. The limits' own tests and bench set theirs
# (docs/security.md); `make run` keeps the documented defaults.
LIFTED_LIMITS = {
    "TENANT_DEFAULT_CONCURRENT_UPLOADS": "10000",
    "TENANT_DEFAULT_JOBS_IN_FLIGHT": "1000000",
    "UPLOAD_MAX_CONCURRENT_UPLOADS": "10000",
    "TENANT_DEFAULT_BANK_SHARE": "1",
    "TENANT_DEFAULT_REQUESTS_PER_S": "100000",
    "TENANT_DEFAULT_BURST": "1000000",
}


def _page_wiring(ports: Ports, *, boleto: bool, notifier: bool) -> dict[str, str]:
    """What the web page needs on one machine: the notifier's stream, on its own port, lets
    the page's origin in; the page's "simulate payment" button pays at the simulator."""
    wiring: dict[str, str] = {}
    if boleto:
        wiring["UPLOAD_SANDBOX_BANK_URL"] = f"http://127.0.0.1:{ports.simulator}"
    if notifier:
        wiring["UPLOAD_WEB_EVENTS_URL"] = f"http://127.0.0.1:{ports.notifier}/v1/events/stream"
        wiring["NOTIFIER_CORS_ORIGINS"] = (
            f"http://127.0.0.1:{ports.upload},http://localhost:{ports.upload}"
        )
    return wiring


@contextmanager
def running_system(
    root: Path,
    rabbitmq_url: str,
    mongodb_url: str,
    *,
    api_key: str = "e2e-key",
    admin_key: str = "e2e-admin-key",
    ports: Ports | None = None,
    boleto: bool = False,
    notifier: bool = False,
    process_groups: bool = False,
    lifted_limits: bool = True,
    **settings: str,
) -> Iterator[System]:
    """Every service as its own process, sharing one broker, database and data folder under root.

    With ``boleto``, also the Banco Inter simulator and boleto-sync (api and worker); with
    ``notifier``, the notifier (api and worker); with ``process_groups``, each process in a
    group of its own (``System.process_groups``); with ``lifted_limits``, ``LIFTED_LIMITS``
    under the caller's environment.
    """
    ports = ports or Ports.free()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    upload_ops, boleto_ops, notifier_ops = free_port(), free_port(), free_port()
    webhook = f"http://127.0.0.1:{ports.boleto}/v1/inter/webhook"
    env = {
        **(LIFTED_LIMITS if lifted_limits else {}),
        **os.environ,
        "ENVIRONMENT": "test",
        "RABBITMQ_URL": rabbitmq_url,
        "MONGODB_URL": mongodb_url,
        "DATA_DIR": str(root),
        "DEV_API_KEY": api_key,
        "DEV_ADMIN_KEY": admin_key,
        "SECRETS_KEY": os.environ.get("SECRETS_KEY") or secrets_key(root),
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        "UPLOAD_PORT": str(ports.upload),
        "UPLOAD_OPS_PORT": str(upload_ops),
        "CONVERTER_WORK_DIR": str(root / "work"),
        "BOLETO_PORT": str(ports.boleto),
        "BOLETO_OPS_PORT": str(boleto_ops),
        "BOLETO_INTER_BASE_URL": f"http://127.0.0.1:{ports.simulator}",
        "BOLETO_INTER_CLIENT_ID": "sim-client",
        "BOLETO_INTER_CLIENT_SECRET": "sim-secret",
        "BOLETO_WEBHOOK_URL": webhook,
        "INTER_SIM_PORT": str(ports.simulator),
        "INTER_SIM_ALLOW_HTTP_WEBHOOKS": "true",
        "NOTIFIER_PORT": str(ports.notifier),
        "NOTIFIER_OPS_PORT": str(notifier_ops),
        "NOTIFIER_PUBLIC_API_URL": f"http://127.0.0.1:{ports.upload}",
        **_page_wiring(ports, boleto=boleto, notifier=notifier),
        **settings,
    }
    system = System(
        f"http://127.0.0.1:{ports.upload}",
        api_key,
        admin_key,
        env,
        logs,
        boleto_url=f"http://127.0.0.1:{ports.boleto}",
        simulator_url=f"http://127.0.0.1:{ports.simulator}",
        notifier_url=f"http://127.0.0.1:{ports.notifier}",
        process_groups=process_groups,
    )
    try:
        converter_ops = free_port()
        starts = [
            ("upload-api", ["upload", "api"], ports.upload, {}),
            ("upload-worker", ["upload", "worker"], upload_ops, {}),
            ("converter", ["converter"], converter_ops, {"CONVERTER_OPS_PORT": str(converter_ops)}),
        ]
        if boleto:
            starts += [
                ("inter-simulator", ["inter_simulator"], ports.simulator, {}),
                ("boleto-api", ["boleto_sync", "api"], ports.boleto, {}),
                ("boleto-worker", ["boleto_sync", "worker"], boleto_ops, {}),
            ]
        if notifier:
            starts += [
                ("notifier-api", ["notifier", "api"], ports.notifier, {}),
                ("notifier-worker", ["notifier", "worker"], notifier_ops, {}),
            ]
        for name, args, port, extra in starts:
            system.start(name, args, port, extra, wait=False)
        for name, *_ in starts:
            system.wait_ready(name)
        yield system
    finally:
        system.stop()
