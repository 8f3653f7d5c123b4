"""``make run`` (scripts/run.py) started as a user would, on ports, a vhost and a DATA_DIR of
its own, and what a test reads of it: its output, its supervisor's state, its processes."""

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bootstrap import ensure_rabbitmq, rabbitmq_vhost
from system import LIFTED_LIMITS, Ports

RUN = Path(__file__).resolve().parents[2] / "scripts" / "run.py"


@pytest.fixture
def amqp_url() -> Iterator[str]:
    ensure_rabbitmq()  # up before run.py looks, so the run starts no broker of its own
    with rabbitmq_vhost("run") as url:
        yield url


# The machine's broker, when the run started it again, carries the run's environment too; it
# outlives the run (as one started before it would) and serves every other test.
BROKER_PROCESSES = {b"beam.smp", b"epmd", b"erl_child_setup", b"inet_gethost", b"heart"}


def processes_of_run(data_dir: Path) -> list[int]:
    """Every live process whose environment names the run's DATA_DIR: all that it started,
    but the broker."""
    marker = f"DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "comm").read_bytes().strip() not in BROKER_PROCESSES:
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    ports: Ports
    key: str
    data_dir: Path

    @property
    def output(self) -> str:
        return (self.data_dir / "run.out").read_text()

    def started(self) -> bool:
        """The banner is out: every process is ready and supervised."""
        assert self.process.poll() is None, f"run.py exited early:\n{self.output}"
        return "Ctrl-C stops everything" in self.output

    def state(self) -> dict[str, dict[str, Any]]:
        text = (self.data_dir / "logs" / "supervisor.json").read_text()
        return json.loads(text)["processes"]  # type: ignore[no-any-return]

    def restarted(self, name: str, old_pid: int) -> bool:
        record = self.state()[name]
        return record["restarts"] == 1 and record["pid"] not in (None, old_pid)


@pytest.fixture
def make_run(tmp_path: Path, amqp_url: str) -> Iterator[Run]:
    """scripts/run.py on ports, a vhost and a DATA_DIR of its own; whatever it leaves is killed."""
    with started_run(RUN, tmp_path, amqp_url) as run:
        yield run


@contextmanager
def started_run(script: Path, data_dir: Path, amqp_url: str, **extra_env: str) -> Iterator[Run]:
    """``script`` (run.py or a script built on it) on free public ports, the vhost of
    ``amqp_url`` and ``data_dir``, with ``extra_env``; whatever it leaves is killed."""
    ports, key = Ports.free(), f"dev_{secrets.token_urlsafe(12)}"
    env = {
        **LIFTED_LIMITS,  # the suites drive one key past the documented limits
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DEV_API_KEY": key,
        "RABBITMQ_URL": amqp_url,
        "UPLOAD_PORT": str(ports.upload),
        "BOLETO_PORT": str(ports.boleto),
        "INTER_SIM_PORT": str(ports.simulator),
        "NOTIFIER_PORT": str(ports.notifier),
        **extra_env,
    }
    with (data_dir / "run.out").open("wb") as out:
        process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=out, stderr=out)
    try:
        yield Run(process, ports, key, data_dir)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in processes_of_run(data_dir):
            os.kill(pid, signal.SIGKILL)
