"""``make run``: the whole local system (docs/architecture.md, "Running it locally") until Ctrl-C.

RabbitMQ (installed and started when missing), SecantusDB with data under DATA_DIR, the
filesystem object store, and every service as its own process (api and worker roles apart),
each started again when it dies (scripts/supervisor.py).
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from bootstrap import (
    RABBIT_PORT,
    BootstrapError,
    Secantus,
    ensure_rabbitmq,
    ensure_rabbitmq_in_background,
    port_open,
    say,
    start_secantus,
)
from supervisor import Supervisor
from system import Ports, System, running_system

ROOT = Path(__file__).resolve().parent.parent
API_PROCESSES = str(min(os.cpu_count() or 1, 2))

Process = subprocess.Popen[bytes]


@dataclass
class Extras:
    """What an addon started next to the system: its processes, each with how to start it again
    (supervised as the services are), and lines for the banner."""

    processes: dict[str, tuple[Process, Callable[[], Process]]] = field(default_factory=dict)
    banner: str = ""


# make observe's monitoring: started once the system is ready, stopped before it
Addon = Callable[[System, Path], AbstractContextManager[Extras]]


def _ports() -> Ports:
    """The public ports, each overridable by the variable its service reads."""
    env = os.environ
    return Ports(
        upload=int(env.get("UPLOAD_PORT", 8000)),
        boleto=int(env.get("BOLETO_PORT", 8002)),
        simulator=int(env.get("INTER_SIM_PORT", 8090)),
        notifier=int(env.get("NOTIFIER_PORT", 8001)),
    )


def _stop(*_: object) -> None:
    # later signals are ignored: a second Ctrl-C must not cut the stopping short and
    # leave processes behind (each runs in a process group the terminal does not signal)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(addon: Addon | None = None, reserved: Sequence[int] = ()) -> int:
    """The system until Ctrl-C; ``addon`` starts more next to it, on the ``reserved`` ports."""
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".data")).resolve()
    api_key = os.environ.get("DEV_API_KEY") or f"dev_{secrets.token_urlsafe(24)}"
    admin_key = os.environ.get("DEV_ADMIN_KEY") or f"admin_{secrets.token_urlsafe(24)}"
    ports = _ports()
    busy = [port for port in [*vars(ports).values(), *reserved] if port_open(port)]
    if busy:
        say(f"ports {busy} are already in use: is another `make run` still up?", "run")
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background shell may ignore it
        signal.signal(sig, _stop)
    try:
        ensure_rabbitmq()
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        mongo = start_secantus(data_dir / "mongo", data_dir / "logs" / "secantusdb.log")
    except BootstrapError as exc:
        say(str(exc), "run")
        return 1
    amqp_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    supervisor = Supervisor(data_dir / "logs" / "supervisor.json")
    try:
        with (
            running_system(
                data_dir,
                amqp_url,
                mongo.url,
                api_key=api_key,
                admin_key=admin_key,
                ports=ports,
                boleto=True,
                notifier=True,
                process_groups=True,
                lifted_limits=False,  # a user's system keeps the documented limits
                ENVIRONMENT="development",
                LOG_FORMAT=os.environ.get("LOG_FORMAT", "json"),
                # the APIs users poll hardest run a process per core (docs/benchmarks.md, "Load")
                UPLOAD_API_PROCESSES=os.environ.get("UPLOAD_API_PROCESSES", API_PROCESSES),
                BOLETO_API_PROCESSES=os.environ.get("BOLETO_API_PROCESSES", API_PROCESSES),
            ) as system,
            (addon or _no_addon)(system, data_dir) as extras,
        ):
            _supervise(supervisor, system, mongo, amqp_url)
            for name, (process, restart) in extras.processes.items():
                supervisor.add(name, process, restart)
            _banner(ports, api_key, admin_key, data_dir, extras.banner)
            while True:
                supervisor.tick()
                time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping", "run")
        return 0
    except RuntimeError as exc:
        say(str(exc), "run")
        return 1
    finally:
        mongo.stop()
        supervisor.stop()
        if supervisor.records:
            say(supervisor.summary(), "run")
        say("stopped", "run")


def _supervise(supervisor: Supervisor, system: System, mongo: Secantus, amqp_url: str) -> None:
    supervisor.add("secantusdb", mongo.process, mongo.restart)
    for name, process in system.processes.items():
        supervisor.add(name, process, partial(system.restart, name))
    broker = urlsplit(amqp_url)
    if broker.hostname in ("127.0.0.1", "localhost") and (broker.port or 5672) == RABBIT_PORT:
        supervisor.watch_broker(RABBIT_PORT, ensure_rabbitmq_in_background)


def _no_addon(system: System, data_dir: Path) -> AbstractContextManager[Extras]:
    return nullcontext(Extras())


def _banner(ports: Ports, api_key: str, admin_key: str, data_dir: Path, extra: str) -> None:
    print(
        f"""
  Web page         http://127.0.0.1:{ports.upload}/   (sign in with the API key below)
  Conversion API   http://127.0.0.1:{ports.upload}   (OpenAPI: http://127.0.0.1:{ports.upload}/docs)
  Boleto API       http://127.0.0.1:{ports.boleto}   (OpenAPI: http://127.0.0.1:{ports.boleto}/docs)
  Notifier API     http://127.0.0.1:{ports.notifier}   (webhooks, SSE: /v1/events/stream)
  Inter simulator  http://127.0.0.1:{ports.simulator}   (control: /_sim/stats, /_sim/config)
  API key (dev)    {api_key}
  Admin key        {admin_key}
  Data             {data_dir}
  Logs             {data_dir / "logs"}
  Restarts         {data_dir / "logs" / "supervisor.json"}
{extra}
  Try: curl -H "Authorization: Bearer {api_key}" -F file=@plan.mpp http://127.0.0.1:{ports.upload}/v1/conversions
  Paid: curl -X PATCH -H "Authorization: Bearer {admin_key}" -H "Content-Type: application/json"
          -d '{{"price_cents": 990}}' http://127.0.0.1:{ports.upload}/v1/admin/tenants/dev
        makes the dev tenant pay per conversion: the page then asks for a payer, shows the Pix
        QR code and the boleto, and offers "Simulate payment" (the simulator pays the charge).
  Ctrl-C stops everything; a process that dies is started again.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
