"""Hostile inputs against one whole system (issue 11, item 9): every case ends in a clear
code (a 4xx problem at the API, or a job failed with its code), nothing answers 500 or hangs,
no file outside the job is read or written, and the system still converts afterwards.

The cases come from ``tests/support/hostile.py`` with a fixed seed, sampled to keep the suite
within a few minutes; ``scripts/hostile_inputs.py`` writes the same cases to a folder.
"""

import asyncio
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from system import System

from shared import queues
from tests.support.api import upload, wait_final
from tests.support.hostile import (
    SEED,
    BodyCase,
    FileCase,
    archive_cases,
    hostile_filenames,
    malformed_messages,
    mspdi_variants,
    multipart_bodies,
    random_files,
    truncations,
)

STABLE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
JOB_BOUND_S = 150  # the converter's job timeout (120 s) and then some: past it, a hang
PARALLEL = 6
CANARY = f"canary-{uuid.uuid4().hex}"
PASSWD_LINE = "root:x:0:0"


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file no job may read: its text in a result or an error means an XXE read it."""
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text(CANARY)
    return path


@pytest.fixture(scope="module")
def escape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a zip entry climbing out of the converter's folder would land."""
    return tmp_path_factory.mktemp("outside") / f"escaped-{uuid.uuid4().hex}.xml"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A local HTTP port that records who connects: an external entity fetched shows here."""
    seen: list[str] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode("latin-1").strip())
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + CANARY.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()


@pytest.fixture(scope="module")
def sample_xml(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "other" / "legacy__sample.xml").read_bytes()


async def _outcome(client: httpx.AsyncClient, case: FileCase, **fields: str) -> str | None:
    """What is wrong with how the system answered ``case``; None when it answered well."""
    response = await upload(client, content=case.content, name=case.filename, **fields)
    if response.status_code != 202:
        return _problem_fault(response.status_code, response.content)
    job = await wait_final(client, response.json()["id"], timeout=JOB_BOUND_S)
    if job["status"] == "failed":
        code, message = job["error"]["code"], job["error"]["message"]
        if not STABLE_CODE.match(code) or code == "internal":
            return f"job failed with code {code!r}"
        return _leak(message)
    result = await client.get(f"/v1/conversions/{job['id']}/result")
    if result.status_code != 200:
        return f"completed but its result answered {result.status_code}"
    return _leak(result.text)


def _problem_fault(status: int, body: bytes) -> str | None:
    if not 400 <= status < 500:
        return f"answered {status}"
    try:
        code = json.loads(body)["code"]
    except (ValueError, KeyError, TypeError):
        return f"answered {status} without a problem body: {body[:100]!r}"
    return None if STABLE_CODE.match(str(code)) else f"answered {status} with code {code!r}"


def _leak(text: str) -> str | None:
    for secret in (CANARY, PASSWD_LINE):
        if secret in text:
            return f"the answer holds {secret!r}: a file outside the job was read"
    return None


async def _run_all(
    client: httpx.AsyncClient, cases: Iterable[FileCase], **fields: str
) -> dict[str, str]:
    """Every case sent (a few at once), and the ones answered badly, by name."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(case: FileCase) -> tuple[str, str | None]:
        async with gate:
            try:
                return case.name, await _outcome(client, case, **fields)
            except (httpx.HTTPError, AssertionError) as exc:
                return case.name, f"{type(exc).__name__}: {exc}"

    results = await asyncio.gather(*(one(case) for case in cases))
    return {name: fault for name, fault in results if fault is not None}


async def test_random_and_truncated_files_end_in_a_code(
    client: httpx.AsyncClient, mpp_files: list[Path], fixtures_dir: Path
) -> None:
    rng = random.Random(SEED)
    sources = [*mpp_files, *sorted((fixtures_dir / "other").iterdir())]
    cases = [*random_files(rng, 14), *truncations(rng, sources, 40)]
    assert await _run_all(client, cases) == {}


async def test_hostile_xml_ends_in_a_code_and_reads_nothing_outside_the_job(
    client: httpx.AsyncClient,
    sample_xml: bytes,
    canary: Path,
    listener: tuple[int, list[str]],
) -> None:
    port, connections = listener
    cases = mspdi_variants(sample_xml, canary, port)
    assert await _run_all(client, cases) == {}
    assert connections == [], "the converter fetched an external entity or DTD"


async def test_archives_end_in_a_code_and_write_nothing_outside_the_job(
    client: httpx.AsyncClient, sample_xml: bytes, escape: Path
) -> None:
    cases = archive_cases(random.Random(SEED), sample_xml, escape)
    assert await _run_all(client, cases) == {}
    assert not escape.exists(), "a zip entry was unpacked outside the job's folder"
    assert not Path(f"{escape}.abs").exists()


async def test_path_traversal_names_are_kept_as_plain_names(
    client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    content = mpp_files[0].read_bytes()
    for name in hostile_filenames():
        response = await upload(client, content=content, name=name)
        if response.status_code != 202:
            assert _problem_fault(response.status_code, response.content) is None, name
            continue
        job = response.json()
        stored = job["source"]["filename"]
        assert "/" not in stored and "\\" not in stored and "\0" not in stored, stored
        assert 0 < len(stored) <= 200 and stored not in (".", "..")
        final = await wait_final(client, job["id"], timeout=JOB_BOUND_S)
        assert final["status"] == "completed", (name, final["error"])
        result = await client.get(f"/v1/conversions/{job['id']}/result")
        disposition = result.headers["content-disposition"]
        assert "/" not in disposition.split("filename*=")[0] and "\0" not in disposition


async def test_malformed_multipart_bodies_get_a_4xx_code(
    client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    faults = {}
    for case in multipart_bodies(mpp_files[0].read_bytes()[:4096]):
        response = await _post_body(client, case)
        if fault := _problem_fault(response.status_code, response.content):
            faults[case.name] = fault
    assert faults == {}


async def _post_body(client: httpx.AsyncClient, case: BodyCase) -> httpx.Response:
    headers = {"Content-Type": case.content_type}
    return await client.post("/v1/conversions", content=case.body, headers=headers)


async def test_a_chunked_flood_of_fields_is_refused_at_once(system: System) -> None:
    """200,000 small fields (12 MB) without a Content-Length: refused within the first parts,
    before the body is sent, and the API holds none of them (it grew by 19 MB before)."""
    api = system.processes["upload-api"].pid
    field = b'--b\r\nContent-Disposition: form-data; name="target"\r\n\r\nmpx\r\n'
    Path(f"/proc/{api}/clear_refs").write_text("5")  # the peak starts again from now
    before = _rss(api, "VmRSS")
    status, problem, sent = await _chunked(system, (field * 1000 for _ in range(200)), 10)
    growth = _rss(api, "VmHWM") - before
    assert status in (413, 422) and problem["code"] in ("duplicate_field", "too_many_parts")
    assert sent < len(field) * 200_000, "the whole body was taken in before the refusal"
    assert growth < 8 << 20, f"the API grew by {growth >> 20} MB"


def _rss(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith(field))) * 1024


async def test_a_chunked_body_is_cut_at_the_limit_whatever_it_holds(system: System) -> None:
    """A well-formed form, then an endless epilogue: no part grows, the body still ends."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p.mpp"\r\n\r\n'
        + b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(1024)
        + b"\r\n--b--\r\n"
    )
    epilogue = (bytes(1 << 20) for _ in range(300))
    status, problem, sent = await _chunked(system, [head, *epilogue], 60)
    assert status == 413 and problem["code"] == "too_large"
    assert sent < problem["limit"] + (32 << 20)


async def _chunked(
    system: System, chunks: Iterable[bytes], within: float
) -> tuple[int, dict[str, Any], int]:
    """A chunked upload sent until the server answers: its status, problem and bytes sent."""
    host, port = system.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/conversions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {system.api_key}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    sent = 0
    try:
        for chunk in chunks:
            if answer.done():
                break
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0)  # drain() need not yield: let the answer be read
            sent += len(chunk)
    except ConnectionError:
        pass  # the server answered and closed; the answer is read below
    head = await asyncio.wait_for(answer, within)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    problem = json.loads(await reader.readexactly(length))
    writer.close()
    return int(head.split()[1]), problem, sent


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Padding": "p" * (64 << 10)}, id="header-64k"),
        pytest.param({"X-Padding": "p" * (1 << 20)}, id="header-1m"),
        pytest.param({f"X-H{n}": "v" for n in range(5000)}, id="5000-headers"),
        pytest.param({"Idempotency-Key": "k" * 8000}, id="idempotency-key-8k"),
        pytest.param({"Authorization": "Bearer " + "a" * 30000}, id="auth-30k"),
        pytest.param(
            {"Content-Type": "multipart/form-data; boundary=" + "b" * 20000}, id="ctype-20k"
        ),
    ],
)
async def test_huge_headers_are_refused_without_a_500(
    system: System, mpp_files: list[Path], headers: dict[str, str]
) -> None:
    status = await _raw_post(system, headers, mpp_files[0].read_bytes()[:1024])
    assert status is None or 400 <= status < 500, f"answered {status}"
    async with httpx.AsyncClient(base_url=system.base_url) as fresh:
        assert (await fresh.get("/healthz")).status_code == 200


async def _raw_post(system: System, headers: dict[str, str], file: bytes) -> int | None:
    """The status a raw request gets, or None when the server closes without answering."""
    host, port = system.base_url.removeprefix("http://").split(":")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p.mpp"\r\n\r\n'
        + file
        + b"\r\n--b--\r\n"
    )
    sent = {
        "Authorization": f"Bearer {system.api_key}",
        "Content-Type": "multipart/form-data; boundary=b",
        **headers,
    }
    lines = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST /v1/conversions HTTP/1.1\r\nHost: {host}\r\n{lines}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
    except ConnectionError:
        return None
    finally:
        writer.close()
    return int(status_line.split()[1]) if status_line else None


async def test_malformed_cloudevents_on_every_queue_are_dead_lettered(system: System) -> None:
    messages = malformed_messages()
    connection = await aio_pika.connect(system.env["RABBITMQ_URL"])
    try:
        channel = await connection.channel()
        before = {q: await _depth(channel, queues.dead_letter_queue(q)) for q in _queues()}
        for queue in _queues():
            for _, headers, body in messages:
                message = aio_pika.Message(body, headers=headers, content_type="application/json")
                await channel.default_exchange.publish(message, routing_key=queue)
        expected = {q: before[q] + len(messages) for q in _queues()}
        for _ in range(300):
            now = {q: await _depth(channel, queues.dead_letter_queue(q)) for q in _queues()}
            if now == expected:
                break
            await asyncio.sleep(0.1)
        assert now == expected, "each malformed message is dead-lettered once, none retried"
    finally:
        # the system is the session's: its dead letters are what later tests read (the
        # operator views count them), so the ones this test made go
        for queue in _queues():
            dead = await channel.declare_queue(queues.dead_letter_queue(queue), passive=True)
            await dead.purge()
        await connection.close()


def _queues() -> tuple[str, ...]:
    return queues.PLATFORM_QUEUES


async def _depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    declared = await channel.declare_queue(name, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def test_the_system_still_serves_after_the_suite(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    for name, process in system.processes.items():
        assert process.poll() is None, f"{name} exited ({process.returncode})"
    response = await upload(client, mpp_files[1])
    assert response.status_code == 202, response.text
    job = await wait_final(client, response.json()["id"], timeout=60)
    assert job["status"] == "completed", job["error"]
