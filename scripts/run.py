"""``make run``: the whole local system (docs/architecture.md, "Running it locally") until Ctrl-C.

RabbitMQ (installed and started when missing), SecantusDB with data under DATA_DIR, the
filesystem object store, and every service as its own process (api and worker roles apart).
"""

import os
import secrets
import signal
import sys
import time
from pathlib import Path

from bootstrap import BootstrapError, ensure_rabbitmq, port_open, say, start_secantus
from system import Ports, running_system

ROOT = Path(__file__).resolve().parent.parent
PORTS = Ports(upload=8000, boleto=8002, simulator=8090, notifier=8001)
API_PROCESSES = str(min(os.cpu_count() or 1, 2))


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".data")).resolve()
    api_key = os.environ.get("DEV_API_KEY") or f"dev_{secrets.token_urlsafe(24)}"
    admin_key = os.environ.get("DEV_ADMIN_KEY") or f"admin_{secrets.token_urlsafe(24)}"
    busy = [port for port in vars(PORTS).values() if port_open(port)]
    if busy:
        say(f"ports {busy} are already in use: is another `make run` still up?")
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background shell may ignore it
        signal.signal(sig, _stop)
    try:
        ensure_rabbitmq()
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        mongo = start_secantus(data_dir / "mongo", data_dir / "logs" / "secantusdb.log")
    except BootstrapError as exc:
        say(str(exc))
        return 1
    amqp_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    try:
        with running_system(
            data_dir,
            amqp_url,
            mongo.url,
            api_key=api_key,
            admin_key=admin_key,
            ports=PORTS,
            boleto=True,
            notifier=True,
            ENVIRONMENT="development",
            LOG_FORMAT=os.environ.get("LOG_FORMAT", "json"),
            # the APIs users poll hardest run a process per core (docs/benchmarks.md, "Load")
            UPLOAD_API_PROCESSES=os.environ.get("UPLOAD_API_PROCESSES", API_PROCESSES),
            BOLETO_API_PROCESSES=os.environ.get("BOLETO_API_PROCESSES", API_PROCESSES),
        ) as system:
            _banner(api_key, admin_key, data_dir)
            while not (dead := system.exited()):
                time.sleep(0.5)
            say(f"{', '.join(dead)} exited; see {system.logs}; stopping everything")
            return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except RuntimeError as exc:
        say(str(exc))
        return 1
    finally:
        mongo.stop()
        say("stopped")


def _banner(api_key: str, admin_key: str, data_dir: Path) -> None:
    print(
        f"""
  Conversion API   http://127.0.0.1:{PORTS.upload}   (OpenAPI: http://127.0.0.1:{PORTS.upload}/docs)
  Boleto API       http://127.0.0.1:{PORTS.boleto}   (OpenAPI: http://127.0.0.1:{PORTS.boleto}/docs)
  Notifier API     http://127.0.0.1:{PORTS.notifier}   (webhooks, SSE: /v1/events/stream)
  Inter simulator  http://127.0.0.1:{PORTS.simulator}   (control: /_sim/stats, /_sim/config)
  API key (dev)    {api_key}
  Admin key        {admin_key}
  Data             {data_dir}
  Logs             {data_dir / "logs"}

  Try: curl -H "Authorization: Bearer {api_key}" -F file=@plan.mpp http://127.0.0.1:{PORTS.upload}/v1/conversions
  Ctrl-C stops everything.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
