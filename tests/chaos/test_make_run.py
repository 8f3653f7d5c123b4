"""`make run` brings back the real broker when it stops (the machine's own RabbitMQ): the one
scenario that takes the shared broker away, so it runs last.

The broker is stopped with SIGTERM. After a SIGKILL this RabbitMQ (3.10, a single node that
has held hundreds of test vhosts) took over a minute to elect its quorum queues' leaders
again, consuming meanwhile failed with INTERNAL_ERROR: the broker's recovery, which no
supervisor shortens (docs/resilience.md)."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.api import api_client, convert
from tests.support.chaos import Outcome
from tests.support.makerun import Run, amqp_url, eventually, make_run, ready

__all__ = ["amqp_url", "make_run"]  # fixtures


def broker_pid() -> int | None:
    """The Erlang VM running RabbitMQ on this machine."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"beam.smp") and b"rabbit" in b" ".join(args):
            return int(cmdline.parent.name)
    return None


@pytest.mark.timeout(600)
async def test_make_run_restarts_a_stopped_broker(
    make_run: Run, mpp_files: list[Path], outcomes: list[Outcome]
) -> None:
    run, port = make_run, make_run.ports.upload
    small = min(mpp_files, key=lambda p: p.stat().st_size)
    await eventually(run.started, 300, "the banner")
    pid = broker_pid()
    assert pid is not None, "no RabbitMQ VM found to stop"
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    await eventually(lambda: run.state()["rabbitmq"]["restarts"] >= 1, 60, "a broker restart")
    await eventually(lambda: run.state()["rabbitmq"]["state"] == "up", 120, "the broker up")
    broker_back = time.monotonic() - killed_at
    assert broker_pid() not in (None, pid)
    await eventually(lambda: ready(port), 60, "the API ready")
    async with api_client(f"http://127.0.0.1:{port}", run.key) as client:
        job = await convert(client, small)
    converted = time.monotonic() - killed_at
    assert job["status"] == "completed", job
    assert "[run] rabbitmq" in run.output
    outcome = Outcome(
        scenario="make run: the machine's RabbitMQ stopped (SIGTERM)",
        accepted=1, completed=1, failed=0, lost=0, duplicates=0, retransmitted=0, answers_500=0,
        answers_503=0, slowest_503_s=0.0, p95_503_s=0.0, refused=0, slowest_upload_s=0.0,
        not_ready=0, unanswered_probes=0, longest_unready_streak=0,
        recovery_s=broker_back, drained_s=converted, delivered_s=converted,
    )  # fmt: skip
    outcomes.append(outcome)
