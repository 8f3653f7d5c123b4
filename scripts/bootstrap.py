"""Idempotent bootstrap of the real local components, shared by ``make run`` and ``make test``.

RabbitMQ: reuse one that accepts connections; otherwise install it with apt when missing
and start it detached. SecantusDB: a MongoDB-wire server on a free port, data in a folder.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

RABBIT_PORT = 5672
_APT_STAMP = Path("/var/lib/apt/lists/partial")


class BootstrapError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise BootstrapError(f"{what} did not come up within {timeout:.0f} s")


def _install_rabbitmq() -> None:
    if os.geteuid() != 0:
        raise BootstrapError(
            "RabbitMQ is not installed. Install it with: "
            "sudo apt-get update && sudo apt-get install -y rabbitmq-server"
        )
    if shutil.which("apt-get") is None:
        raise BootstrapError(
            "RabbitMQ is not installed and apt-get is unavailable: install "
            "rabbitmq-server (>= 3.10) with your package manager, or set RABBITMQ_URL"
        )
    say("installing rabbitmq-server with apt-get (once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "rabbitmq-server"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def ensure_rabbitmq() -> None:
    """A RabbitMQ broker on 127.0.0.1:5672 that accepts connections."""
    if port_open(RABBIT_PORT) and _rabbit_ready():
        return
    if shutil.which("rabbitmq-server") is None and not Path("/usr/sbin/rabbitmq-server").exists():
        _install_rabbitmq()
    if not port_open(RABBIT_PORT):
        say("starting rabbitmq-server -detached")
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PATH": f"/usr/sbin:{os.environ['PATH']}"},
        )
    wait_for(lambda: port_open(RABBIT_PORT) and _rabbit_ready(), 90, "RabbitMQ")
    say("RabbitMQ is up on 127.0.0.1:5672")


def _rabbit_ready() -> bool:
    return _rabbitmqctl("await_startup", timeout=30).returncode == 0


def _rabbitmqctl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    try:
        return subprocess.run([ctl, "-q", *args], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess([ctl, *args], 1, b"", str(exc).encode())


@contextmanager
def rabbitmq_vhost(prefix: str = "test") -> Iterator[str]:
    """A fresh vhost (so queues of concurrent runs never meet); yields its AMQP URL."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    for args in (("add_vhost", name), ("set_permissions", "-p", name, "guest", ".*", ".*", ".*")):
        result = _rabbitmqctl(*args)
        if result.returncode != 0:
            raise BootstrapError(
                f"rabbitmqctl {' '.join(args)} failed: {result.stderr.decode()[:300]}"
            )
    try:
        yield f"amqp://guest:guest@127.0.0.1:{RABBIT_PORT}/{quote(name, safe='')}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@dataclass
class Secantus:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_secantus(storage: Path, log_file: Path, port: int | None = None) -> Secantus:
    binary = Path(sys.executable).with_name("secantusd-py")
    if not binary.exists():
        raise BootstrapError("secantusd-py is missing from the virtualenv: run `make venv`")
    port = port or free_port()
    storage.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [str(binary), "--port", str(port), "--storage-path", str(storage)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Secantus(process, port)
    try:
        wait_for(lambda: process.poll() is None and port_open(port), 60, "SecantusDB")
    except BootstrapError:
        server.stop()
        raise BootstrapError(f"SecantusDB did not start; see {log_file}") from None
    return server


if __name__ == "__main__":
    try:
        ensure_rabbitmq()
    except (BootstrapError, subprocess.CalledProcessError) as exc:
        sys.exit(f"[bootstrap] {exc}")
