"""SIGTERM, as Kubernetes stops a pod: a worker finishes its work in flight within the
deadline (``SHUTDOWN_GRACE_S``) or gives it back to the queue, and exits 0; an API whose
clients wait on long polls and live streams answers them and exits at once.

A job is held in flight by making its stored source a FIFO: the converter that opens it
waits there. Putting the file in the FIFO's place, then closing the FIFO, lets the job go on
(the converter checks the first bytes, reads nothing, and opens the path again to convert);
a FIFO left open holds its job past any deadline.
"""

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from system import System

from tests.support.api import api_client, upload, wait_final
from tests.support.infra import system_of_components
from tests.support.worker_kills import open_when_read

GRACE_S = 20  # the system's deadline: a prompt exit stays far below it
SHORT_GRACE_S = 5  # the converter's under test: what it waits out, what a job has to finish
PROMPT_S = 4.0  # what "at once" allows: the process's own closing, on a machine under load


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("shutdown"),
        MONGODB_DB="shutdown",
        SHUTDOWN_GRACE_S=str(GRACE_S),
        CONVERTER_WORKERS="1",
    ) as running:
        yield running


@pytest.fixture
async def client(platform: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(platform.base_url, platform.api_key) as c:
        yield c


def terminate(system: System, name: str) -> tuple[int, float]:
    """SIGTERM ``name``; its exit status and how long it took to exit."""
    process = system.processes.pop(name)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(GRACE_S + 10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"{name} still ran {GRACE_S + 10} s after SIGTERM") from None
    return code, time.monotonic() - started


def source_as_fifo(system: System, job_id: str) -> Path:
    """The job's stored source becomes a FIFO (the data folder is the store's root)."""
    (source,) = (system.logs.parent / "objects").glob(f"*/{job_id}/source-*")
    source.unlink()
    os.mkfifo(source)
    return source


def serve_upload_api(platform: System, processes: int) -> None:
    """The upload API served by ``processes`` processes (the system starts it with one)."""
    if "upload-api" in platform.processes:
        if processes == 1:
            return
        terminate(platform, "upload-api")
    port = urlsplit(platform.base_url).port or 0
    platform.start("upload-api", ["upload", "api"], port, {"UPLOAD_API_PROCESSES": str(processes)})


async def until_logged(log: Path, offset: int, event: str, timeout_s: float = 10) -> None:
    """Until the JSON log has ``event`` after ``offset``."""
    deadline = time.monotonic() + timeout_s
    while f'"event": "{event}"' not in log.read_bytes()[offset:].decode(errors="replace"):
        assert time.monotonic() < deadline, f"no {event} in {log} within {timeout_s} s"
        await asyncio.sleep(0.05)


def serve_instead(fifo: Path, file: Path) -> None:
    """The file takes the FIFO's place; whoever has the FIFO open keeps it."""
    fifo.unlink()
    shutil.copyfile(file, fifo)


async def queued_job(client: httpx.AsyncClient, system: System, path: Path) -> tuple[str, Path]:
    """A job uploaded while no converter runs, its source a FIFO, and that FIFO."""
    response = await upload(client, path)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    return job_id, source_as_fifo(system, job_id)


async def test_a_stopped_converter_completes_what_it_can_gives_back_the_rest_and_exits_0(
    platform: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    code, took = terminate(platform, "converter")
    assert (code, took < PROMPT_S) == (0, True), f"idle: exit {code} after {took:.1f} s"

    finishing, fifo = await queued_job(client, platform, mpp_files[0])
    outlasting, endless = await queued_job(client, platform, mpp_files[1])
    extra = {"CONVERTER_WORKERS": "2", "SHUTDOWN_GRACE_S": str(SHORT_GRACE_S)}
    platform.start_converter("converter", **extra)
    writer = await open_when_read(fifo)
    never_fed = await open_when_read(endless)  # both jobs are in flight
    log = platform.logs / "converter.log"
    logged_before = log.stat().st_size
    try:
        stopping = asyncio.create_task(asyncio.to_thread(terminate, platform, "converter"))
        await until_logged(log, logged_before, "worker.stopping")
        serve_instead(fifo, mpp_files[0])
        os.close(writer)  # its reader reads nothing; what the job opens next is the file
        code, took = await stopping
    finally:
        os.close(never_fed)  # only once it is gone: an empty read would fail the job
    assert code == 0
    # it waited for the job that could not finish until the deadline, and no longer
    assert SHORT_GRACE_S - 0.5 < took < SHORT_GRACE_S + PROMPT_S, f"exit after {took:.1f} s"
    jobs = [(await client.get(f"/v1/conversions/{j}")).json() for j in (finishing, outlasting)]
    assert [j["status"] for j in jobs] == ["completed", "converting"], jobs

    serve_instead(endless, mpp_files[1])
    platform.start_converter("converter")  # what the first gave back, the next one converts
    job = await wait_final(client, outlasting, timeout=60)
    assert job["status"] == "completed", job


@pytest.mark.parametrize("processes", [1, 2])
async def test_an_api_with_a_long_poll_open_answers_it_and_exits_at_once(
    platform: System, client: httpx.AsyncClient, mpp_files: list[Path], processes: int
) -> None:
    serve_upload_api(platform, processes)
    response = await upload(client, mpp_files[2 + processes])
    job = await wait_final(client, response.json()["id"])
    etag = (await client.get(f"/v1/conversions/{job['id']}")).headers["etag"]
    polling = asyncio.create_task(
        client.get(
            f"/v1/conversions/{job['id']}", params={"wait": 30}, headers={"If-None-Match": etag}
        )
    )
    await asyncio.sleep(1)
    assert not polling.done()
    code, took = await asyncio.to_thread(terminate, platform, "upload-api")
    answer = await polling
    assert answer.status_code == 304  # the job as it stands: unchanged
    # a single process ends by the signal it was sent (uvicorn raises it again once it has
    # stopped); the parent of several waits for them and exits 0
    assert code in (0, -signal.SIGTERM) and took < PROMPT_S, f"exit {code} after {took:.1f} s"


async def test_an_api_with_a_live_stream_open_ends_it_and_exits_at_once(platform: System) -> None:
    platform.start("notifier-api", ["notifier", "api"], urlsplit(platform.notifier_url).port or 0)
    async with (
        api_client(platform.notifier_url, platform.api_key) as notifier,
        notifier.stream("GET", "/v1/events/stream") as stream,
    ):
        chunks = stream.aiter_text()
        assert (await anext(chunks)).startswith("retry:")
        stopping = asyncio.create_task(asyncio.to_thread(terminate, platform, "notifier-api"))
        started = time.monotonic()
        async for _ in chunks:  # until the server ends the stream
            pass
        ended = time.monotonic() - started
        code, took = await stopping
    assert ended < PROMPT_S, f"the stream ended {ended:.1f} s after SIGTERM"
    assert code in (0, -signal.SIGTERM) and took < PROMPT_S, f"exit {code} after {took:.1f} s"
