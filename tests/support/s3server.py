"""A real S3 API for tests: moto's server mode in a child process on a free loopback port.

A child process rather than moto's in-process ThreadedMotoServer: the objects it stores stay out of
the test process's memory (tests measure that memory), and no `mock_aws` in another test can reset
its state.
"""

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"


@contextmanager
def running_s3_server(timeout: float = 20.0) -> Iterator[S3Server]:
    with tempfile.TemporaryDirectory(prefix="moto-") as workdir:
        log_path = Path(workdir) / "moto.log"
        process, port = _start(log_path, timeout)
        log.info("s3server.started", port=port, pid=process.pid)
        try:
            yield S3Server(endpoint=f"{HOST}:{port}")
        finally:
            _stop(process)
            log.info("s3server.stopped", port=port)


def _start(log_path: Path, timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    # The free port can be taken between probing and binding; a fresh port fixes that.
    for _ in range(START_ATTEMPTS):
        port = _free_port()
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_listening(process, port, timeout):
            return process, port
        _stop(process)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"moto server did not start; its output:\n{tail}")


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
