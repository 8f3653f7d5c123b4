"""Idempotent bootstrap of the real local components, shared by ``make run`` and ``make test``.

RabbitMQ: reuse one that accepts connections; otherwise install it with apt when missing
and start it detached. SecantusDB: a MongoDB-wire server on a free port, data in a folder.
"""

import functools
import os
import pwd
import random
import resource
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
from urllib.parse import quote, unquote

RABBIT_PORT = 5672
# RabbitMQ sizes its file handle budget from its open-file limit, and every quorum queue
# reserves about three handles: at the usual soft limit of 1024 the broker stops (new
# vhosts and connections wait forever) once some 300 quorum queues exist.
RABBIT_NOFILE = 65536
_APT_STAMP = Path("/var/lib/apt/lists/partial")


class BootstrapError(RuntimeError):
    pass


def say(message: str, source: str = "bootstrap") -> None:
    print(f"[{source}] {message}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port nothing listens on, for a process started later to bind.

    Chosen below the kernel's ephemeral range: a port the kernel picked (``bind(0)``) can be
    handed again to any outgoing connection (to the broker, the database) before its
    server binds it, which then fails with "address already in use".
    """
    low, _high = _ephemeral_range()
    first = 10000 if low > 12000 else 1024
    for _ in range(200):
        port = random.randrange(first, low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # a crowded range: fall back to the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise BootstrapError(f"{what} did not come up within {timeout:.0f} s")


def install_packages(packages: list[str], purpose: str) -> None:
    """Install Debian packages with apt-get, without starting the services they bring: the
    system's own scripts start what they need, on their own ports."""
    if os.geteuid() != 0:
        raise BootstrapError(
            f"{purpose} needs {' '.join(packages)}. Install with: "
            f"sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"
        )
    if shutil.which("apt-get") is None:
        raise BootstrapError(
            f"{purpose} needs {' '.join(packages)} and apt-get is unavailable: "
            "install them with your package manager"
        )
    say(f"installing {' '.join(packages)} with apt-get (once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    placed = not policy.exists()
    if placed:  # invoke-rc.d asks this script whether to start a service; 101: do not
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if placed:
            policy.unlink(missing_ok=True)


def _install_rabbitmq() -> None:
    install_packages(["rabbitmq-server"], "The message broker")


# the monitoring binaries Debian ships, by the package that holds each
MONITORING_TOOLS = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def ensure_monitoring_tools() -> dict[str, str]:
    """Prometheus, promtool and Alertmanager, installed from Debian when missing: the paths
    of the binaries, by name (``MONITORING_TOOLS``)."""
    return _ensure_tools(MONITORING_TOOLS, "Monitoring (make observe, the alert rules' tests)")


# the headless browser of the web page's tests, with the driver Selenium talks to
BROWSER_TOOLS = {"chromium": "chromium", "chromedriver": "chromium-driver"}


def ensure_chromium() -> dict[str, str]:
    """Debian's Chromium and its driver, installed when missing: the paths, by name."""
    return _ensure_tools(BROWSER_TOOLS, "The web page's browser tests")


# The memory allocator of every service process but the converter (scripts/system.py, and
# deploy/Dockerfile the same): jemalloc, which gives a process's freed pages back to the
# system a second after a burst, and all of Python's objects through it (PYTHONMALLOC=malloc).
# Python's own small-object arenas and glibc's heap kept an API process at the highest size
# a flood of uploads ever drove it to (docs/benchmarks.md, "Load: hand-written notes").
JEMALLOC_PACKAGE = "libjemalloc2"
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:1"


def jemalloc_library() -> Path | None:
    """Debian's jemalloc, if installed (its folder names the machine's architecture)."""
    return next(iter(sorted(Path("/usr/lib").glob("*-linux-gnu/libjemalloc.so.2"))), None)


def ensure_jemalloc() -> Path:
    """jemalloc, installed from Debian when missing: the library's path."""
    if (library := jemalloc_library()) is None:
        install_packages([JEMALLOC_PACKAGE], "The services' memory allocator")
        library = jemalloc_library()
    if library is None:
        raise BootstrapError(f"{JEMALLOC_PACKAGE} installed, and still no libjemalloc.so.2")
    return library


@functools.cache
def allocator_env() -> dict[str, str]:
    """The environment that runs a Python process on jemalloc; none without the library (a
    machine that never ran bootstrap: the process keeps Python's and glibc's allocators)."""
    library = jemalloc_library()
    if library is None:
        return {}
    return {"LD_PRELOAD": str(library), "PYTHONMALLOC": "malloc", "MALLOC_CONF": JEMALLOC_CONF}


def _ensure_tools(tools: dict[str, str], needed_by: str) -> dict[str, str]:
    """The binaries ``tools`` names (binary: its Debian package), the packages of those
    missing installed first: the paths, by name."""
    missing = sorted({pkg for tool, pkg in tools.items() if not _binary(tool)})
    if missing:
        install_packages(missing, needed_by)
    paths = {tool: _binary(tool) for tool in tools}
    absent = [tool for tool, path in paths.items() if not path]
    if absent:
        raise BootstrapError(f"{', '.join(absent)} still missing after installing {missing}")
    return {tool: str(path) for tool, path in paths.items()}


def _binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def ensure_rabbitmq() -> None:
    """A RabbitMQ broker on 127.0.0.1:5672 that accepts connections."""
    if port_open(RABBIT_PORT) and _rabbit_ready():
        return
    if shutil.which("rabbitmq-server") is None and not Path("/usr/sbin/rabbitmq-server").exists():
        _install_rabbitmq()
    if not port_open(RABBIT_PORT):
        say("starting rabbitmq-server -detached")
        subprocess.run(
            _rabbit_server_command(),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/var/lib/rabbitmq" if Path("/var/lib/rabbitmq").is_dir() else None,
            env={**os.environ, "PATH": f"/usr/sbin:{os.environ['PATH']}"},
            preexec_fn=_raise_open_file_limit,
        )
    wait_for(lambda: port_open(RABBIT_PORT) and _rabbit_ready(), 90, "RabbitMQ")
    say("RabbitMQ is up on 127.0.0.1:5672")
    _warn_if_few_file_handles()


def ensure_rabbitmq_in_background() -> subprocess.Popen[bytes]:
    """``ensure_rabbitmq`` in a process of its own (this script), for a caller that must not
    wait for the broker's slow start; it exits 0 once the broker accepts connections."""
    return subprocess.Popen([sys.executable, __file__], process_group=0)


def _warn_if_few_file_handles() -> None:
    """A broker started elsewhere with the default open-file limit hangs under the tests."""
    result = _rabbitmqctl("eval", "file_handle_cache:get_limit().", timeout=15)
    budget = result.stdout.decode().strip()
    if result.returncode == 0 and budget.isdigit() and int(budget) < 4000:
        say(
            f"warning: RabbitMQ has {budget} file handles (about {int(budget) // 3} quorum "
            "queues); restart it with a higher open-file limit (ulimit -n 65536)"
        )


def _rabbit_server_command() -> list[str]:
    """Debian's wrapper starts the broker through ``su``, whose PAM session resets the
    open-file limit to 1024; as root, switch to the broker's user without PAM instead."""
    server = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None or not server.exists():
        return ["rabbitmq-server", "-detached"]
    try:
        home = pwd.getpwnam("rabbitmq").pw_dir
    except KeyError:
        return ["rabbitmq-server", "-detached"]
    return [
        setpriv, "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups",
        "env", f"HOME={home}", str(server), "-detached",
    ]  # fmt: skip


def _raise_open_file_limit() -> None:
    """In the broker's process, before exec: as many open files as the hard limit allows."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = RABBIT_NOFILE if hard == resource.RLIM_INFINITY else min(hard, RABBIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


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


@contextmanager
def rabbitmq_user(amqp_url: str, password: str) -> Iterator[str]:
    """A user of its own, with ``password``, on the vhost of ``amqp_url`` (one of
    ``rabbitmq_vhost``'s); yields the URL that logs in as that user."""
    user = f"user-{uuid.uuid4().hex[:8]}"
    vhost = amqp_url.rsplit("/", 1)[1]
    for args in (
        ("add_user", user, password),
        ("set_permissions", "-p", unquote(vhost), user, ".*", ".*", ".*"),
    ):
        result = _rabbitmqctl(*args)
        if result.returncode != 0:
            _rabbitmqctl("delete_user", user)
            raise BootstrapError(f"rabbitmqctl {args[0]} failed: {result.stderr.decode()[:300]}")
    try:
        yield f"amqp://{user}:{quote(password, safe='')}@127.0.0.1:{RABBIT_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_user", user)


# SecantusDB keeps the reply of every retryable write for 30 min, up to 10,000 of them, and
# scans them all on each write: a write's CPU grows from 0.9 to 2.2 ms over the first 9,000,
# and sorting the full registry then makes every write cost 7 ms (measured 2026-12-02,
# docs/benchmarks.md). A one-node server gains nothing from them; a replica set keeps them.
RETRYABLE_WRITES_OFF = "retryWrites=false"


@dataclass
class Secantus:
    process: subprocess.Popen[bytes]
    port: int
    storage: Path
    log_file: Path

    @property
    def url(self) -> str:
        """Without retryable writes (``RETRYABLE_WRITES_OFF``)."""
        return f"mongodb://127.0.0.1:{self.port}/?{RETRYABLE_WRITES_OFF}"

    def restart(self) -> subprocess.Popen[bytes]:
        """A new server on the same port and data, so clients reconnect to the address they
        know; returns at once, without waiting for it to accept connections."""
        self.process = _spawn_secantus(self.storage, self.log_file, self.port)
        return self.process

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_secantus(storage: Path, log_file: Path, port: int | None = None) -> Secantus:
    port = port or free_port()
    storage.mkdir(parents=True, exist_ok=True)
    server = Secantus(_spawn_secantus(storage, log_file, port), port, storage, log_file)
    process = server.process
    try:
        wait_for(lambda: process.poll() is None and port_open(port), 60, "SecantusDB")
    except BootstrapError:
        server.stop()
        raise BootstrapError(f"SecantusDB did not start; see {log_file}") from None
    return server


def _spawn_secantus(storage: Path, log_file: Path, port: int) -> subprocess.Popen[bytes]:
    """The server in a session of its own: a Ctrl-C meant for the caller does not reach it."""
    binary = Path(sys.executable).with_name("secantusd-py")
    if not binary.exists():
        raise BootstrapError("secantusd-py is missing from the virtualenv: run `make venv`")
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [str(binary), "--port", str(port), "--storage-path", str(storage)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


if __name__ == "__main__":
    try:
        ensure_rabbitmq()
        ensure_jemalloc()
        ensure_monitoring_tools()
        ensure_chromium()
    except (BootstrapError, subprocess.CalledProcessError) as exc:
        sys.exit(f"[bootstrap] {exc}")
