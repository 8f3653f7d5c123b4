"""``make run``: the whole local system (design.md section 7) until Ctrl-C.

RabbitMQ (installed and started when missing), SecantusDB with data under DATA_DIR, the
filesystem object store, and every service as its own process (api and worker roles apart).
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bootstrap import BootstrapError, ensure_rabbitmq, port_open, say, start_secantus, wait_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    args: tuple[str, ...]
    ready_port: int


SERVICES = [
    Service("upload-api", "upload", ("api",), 8000),
    Service("upload-worker", "upload", ("worker",), 9001),
    Service("converter", "converter", (), 9002),
]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> int:
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".data")).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    api_key = os.environ.get("DEV_API_KEY") or f"dev_{secrets.token_urlsafe(24)}"
    admin_key = os.environ.get("DEV_ADMIN_KEY") or f"admin_{secrets.token_urlsafe(24)}"
    busy = [s.ready_port for s in SERVICES if port_open(s.ready_port)]
    if busy:
        say(f"ports {busy} are already in use: is another `make run` still up?")
        return 1
    try:
        ensure_rabbitmq()
        mongo = start_secantus(data_dir / "mongo", logs / "secantusdb.log")
    except BootstrapError as exc:
        say(str(exc))
        return 1
    env = {**os.environ, "ENVIRONMENT": "development", "DATA_DIR": str(data_dir),
           "MONGODB_URL": mongo.url, "DEV_API_KEY": api_key, "DEV_ADMIN_KEY": admin_key,
           "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"), "PYTHONUNBUFFERED": "1"}
    env.setdefault("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    processes: list[tuple[Service, subprocess.Popen[bytes]]] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for service in SERVICES:
            with (logs / f"{service.name}.log").open("ab") as log:
                process = subprocess.Popen([sys.executable, "-m", service.module, *service.args],
                                           env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            processes.append((service, process))
        for service, process in processes:
            wait_for(lambda s=service, p=process: p.poll() is None and _ready(s.ready_port), 120,
                     f"{service.name} (log: {logs / service.name}.log)")
        _banner(api_key, admin_key, data_dir, logs)
        while all(process.poll() is None for _, process in processes):
            time.sleep(0.5)
        dead = [s.name for s, p in processes if p.poll() is not None]
        say(f"{', '.join(dead)} exited; see {logs}; stopping everything")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except BootstrapError as exc:
        say(str(exc))
        return 1
    finally:
        for _, process in reversed(processes):
            process.terminate()
        for _, process in reversed(processes):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        mongo.stop()
        say("stopped")


def _banner(api_key: str, admin_key: str, data_dir: Path, logs: Path) -> None:
    print(f"""
  Conversion API   http://127.0.0.1:8000   (OpenAPI: http://127.0.0.1:8000/docs)
  API key (dev)    {api_key}
  Admin key        {admin_key}
  Data             {data_dir}
  Logs             {logs}

  Try: curl -H "Authorization: Bearer {api_key}" -F file=@plan.mpp http://127.0.0.1:8000/v1/conversions
  Ctrl-C stops everything.
""", flush=True)


if __name__ == "__main__":
    sys.exit(main())
