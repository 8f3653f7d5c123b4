"""``make run`` as a user starts it (scripts/run.py): what dies comes back by itself, and
Ctrl-C stops everything it started. The shared broker is never stopped here."""

import os
import signal
from pathlib import Path

import pytest

from tests.support.api import api_client, convert
from tests.support.makerun import (
    Run,
    alive,
    amqp_url,
    children,
    eventually,
    make_run,
    processes_of_run,
    ready,
)

__all__ = ["amqp_url", "make_run"]  # fixtures


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_make_run_restarts_what_dies_and_ctrl_c_stops_it_all(
    make_run: Run, mpp_files: list[Path]
) -> None:
    run, port = make_run, make_run.ports.upload
    await eventually(run.started, 300, "the banner")
    mongo = run.state()["secantusdb"]["pid"]
    os.kill(mongo, signal.SIGKILL)
    await eventually(lambda: run.restarted("secantusdb", mongo), 30, "SecantusDB restarted")
    await eventually(lambda: ready(port), 60, "the API ready on the new database")
    api = run.state()["upload-api"]["pid"]
    api_workers = children(api)  # uvicorn's, which the parent's death alone would leave
    os.kill(api, signal.SIGKILL)
    await eventually(lambda: run.restarted("upload-api", api), 30, "the API restarted")
    await eventually(lambda: ready(port), 120, "the restarted API ready")
    assert not [pid for pid in api_workers if alive(pid)], "the old API workers live on"
    async with api_client(f"http://127.0.0.1:{port}", run.key) as client:
        job = await convert(client, min(mpp_files, key=lambda p: p.stat().st_size))
    assert job["status"] == "completed", job

    state = run.state()
    assert alive(state["secantusdb"]["pid"]) and alive(state["upload-api"]["pid"])
    assert state["upload-api"]["restarts"] == 1, "the restarted API did not stay up"
    assert state["secantusdb"]["last_exit"] == state["upload-api"]["last_exit"] == "signal 9"
    assert state["rabbitmq"]["state"] == "up"
    assert "[run] secantusdb exited (signal 9); restart 1 in 0.5 s" in run.output
    assert "[run] upload-api exited (signal 9); restart 1 in 0.5 s" in run.output

    run.process.send_signal(signal.SIGINT)
    await eventually(lambda: run.process.poll() is not None, 120, "run.py stopped")
    assert run.process.returncode == 0
    assert "[run] restarts: secantusdb 1, upload-api 1" in run.output
    assert {r["state"] for name, r in run.state().items() if name != "rabbitmq"} == {"stopped"}
    await eventually(lambda: not processes_of_run(run.data_dir), 5, "every process gone")
