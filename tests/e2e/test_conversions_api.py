"""``/v1/conversions`` as a user calls it: formats, options, idempotency, reuse, lists, deletion."""

import asyncio
import gzip
import json
import uuid
from pathlib import Path

import httpx
import pytest
from system import System

from shared.messaging.notices import parse_recorded, recorded_key
from tests.support.api import convert, upload, wait_final
from tests.support.events import captured_bodies, outcome_listener
from tests.support.mspdi import normalise
from tests.support.notifier import new_tenant
from tests.support.reference import reference_outputs


@pytest.fixture
def sample(mpp_files: list[Path]) -> Path:
    return next(p for p in mpp_files if p.name == "mpp14timephased.mpp")


async def test_job_document_has_the_documented_shape(
    client: httpx.AsyncClient, sample: Path
) -> None:
    response = await upload(client, sample)
    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/conversions/{response.json()['id']}"
    job = await wait_final(client, response.json()["id"])
    assert job["status"] == "completed"
    assert job["source"]["filename"] == sample.name
    assert job["source"]["size"] == sample.stat().st_size
    assert job["source"]["format"] == "mpp"
    assert job["target"] == "mspdi"
    assert job["result"]["media_type"] == "application/vnd.ms-project+xml"
    manifest = job["result"]["manifest"]
    assert manifest["read"]["tasks"] == manifest["written"]["tasks"] > 0
    assert job["links"] == {
        "self": f"/v1/conversions/{job['id']}",
        "result": f"/v1/conversions/{job['id']}/result",
    }
    assert job["error"] is None


@pytest.mark.parametrize(
    "target, marker",
    [
        ("mpx", b"MPX,"),
        ("json", b"{"),
        ("pmxml", b"<APIBusinessObjects"),
        ("xer", b"ERMHDR"),
        ("planner", b"<project"),
        ("sdef", b"VOLM"),
    ],
)
async def test_each_target_format(
    client: httpx.AsyncClient, sample: Path, target: str, marker: bytes
) -> None:
    job = await convert(client, sample, target=target)
    assert job["status"] == "completed", job["error"]
    result = await client.get(f"/v1/conversions/{job['id']}/result")
    assert marker in result.content[:2000]
    assert result.headers["content-disposition"].startswith(
        'attachment; filename="mpp14timephased.'
    )
    if target == "json":
        assert json.loads(result.content)


async def test_timephased_option(client: httpx.AsyncClient, sample: Path) -> None:
    job = await convert(client, sample, timephased="true")
    result = await client.get(f"/v1/conversions/{job['id']}/result")
    assert b"<TimephasedData>" in result.content


async def test_result_is_gzipped_when_asked(client: httpx.AsyncClient, sample: Path) -> None:
    job = await convert(client, sample)
    raw = await client.get(
        f"/v1/conversions/{job['id']}/result", headers={"Accept-Encoding": "identity"}
    )
    async with client.stream(
        "GET", f"/v1/conversions/{job['id']}/result", headers={"Accept-Encoding": "gzip"}
    ) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        body = b"".join([chunk async for chunk in zipped.aiter_raw()])
    assert gzip.decompress(body) == raw.content
    assert len(body) < len(raw.content)


async def test_result_while_pending_is_409_and_failed_is_422_with_code(
    client: httpx.AsyncClient, fixtures_dir: Path
) -> None:
    response = await upload(client, content=b"\x00garbage" * 200, name="x.mpp")
    job_id = response.json()["id"]
    early = await client.get(f"/v1/conversions/{job_id}/result")
    job = await wait_final(client, job_id)
    if early.status_code != 422:  # it may already be final
        assert early.status_code == 409 and early.json()["code"] == "not_ready"
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_format"
    late = await client.get(f"/v1/conversions/{job_id}/result")
    assert late.status_code == 422
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["code"] == "unsupported_format"


async def test_a_read_password_opens_the_file_as_mpxj_does(
    system: System, client: httpx.AsyncClient, fixtures_dir: Path, tmp_path: Path
) -> None:
    protected = fixtures_dir / "password" / "password-protected-mpp9.mpp"
    references = await asyncio.to_thread(
        reference_outputs, [protected], tmp_path / "ref", "password"
    )
    reference = references[protected]
    assert reference is not None, "MPXJ itself cannot open the file with its password"
    job = await convert(client, protected, password="password")
    assert job["status"] == "completed", job["error"]
    result = await client.get(f"/v1/conversions/{job['id']}/result")
    assert normalise(result.content) == normalise(reference)
    job_dir = Path(system.env["DATA_DIR"]) / "objects" / "dev" / job["id"]
    assert [p.name for p in job_dir.iterdir() if p.name.startswith("password-")] == []


@pytest.mark.parametrize("password", [None, "not-it"])
async def test_a_protected_file_without_its_read_password_fails_password_protected(
    client: httpx.AsyncClient, fixtures_dir: Path, password: str | None
) -> None:
    protected = fixtures_dir / "password" / "password-protected-mpp9.mpp"
    opened = await convert(client, protected, password="password")
    assert opened["status"] == "completed", opened["error"]
    job = await convert(client, protected, **({"password": password} if password else {}))
    assert job["status"] == "failed" and job["error"]["code"] == "password_protected"
    assert job["reused"] is False  # the result made with the password is not handed out


async def test_a_file_mpxj_never_opens_stays_password_protected_and_its_password_is_not_sent(
    system: System, client: httpx.AsyncClient, fixtures_dir: Path
) -> None:
    protected = fixtures_dir / "password" / "legacy__bothpassword9.mpp"
    job = await convert(client, protected)
    assert job["status"] == "failed" and job["error"]["code"] == "password_protected"
    connection, requests = await captured_bodies(
        system.env["RABBITMQ_URL"], "conversion.requested.v1"
    )
    try:
        job = await convert(client, protected, password="password1-secret")
    finally:
        await connection.close()
    assert job["error"]["code"] == "password_protected"  # MPXJ cannot open this one even with it
    assert requests and not any(b"password1-secret" in body for body in requests)
    job_dir = Path(system.env["DATA_DIR"]) / "objects" / "dev" / job["id"]
    assert [p.name for p in job_dir.iterdir() if p.name.startswith("password-")] == []


@pytest.mark.parametrize(
    "content, name",
    [
        (b"", "empty.mpp"),
        (b"%PDF-1.4\n" + b"0" * 900, "doc.mpp"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "x.mpp"),
    ],
)
async def test_non_schedules_are_refused_with_415(
    client: httpx.AsyncClient, content: bytes, name: str
) -> None:
    response = await upload(client, content=content, name=name)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_format"


@pytest.mark.parametrize(
    "content, code",
    [
        (b"\x00\x01\x02\x03" * 300, "unsupported_format"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096, "corrupt_file"),
    ],
)
async def test_undecidable_content_fails_in_the_converter_with_its_code(
    client: httpx.AsyncClient, content: bytes, code: str
) -> None:
    response = await upload(client, content=content, name="x.mpp")
    job = await wait_final(client, response.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == code


async def test_over_limit_upload_is_refused_at_the_limit_without_buffering_it(
    system: System,
) -> None:
    """A chunked upload (no Content-Length to refuse early) of twice the limit."""
    api = system.processes["upload-api"].pid
    host, port = system.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/conversions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {system.api_key}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + _chunk(
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mpp"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        )
    )
    _reset_peak_rss(api)
    rss_before = _rss(api, "VmRSS")
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    sent, megabyte = 0, _chunk(b"\0" * (1 << 20))
    try:
        while not answer.done() and sent < 200 << 20:
            writer.write(megabyte)
            await writer.drain()
            sent += 1 << 20
    except ConnectionError:
        pass  # the server closes the connection once it has answered; the answer is read below
    head = await asyncio.wait_for(answer, 30)  # a connection closed without an answer fails
    peak_growth = _rss(api, "VmHWM") - rss_before
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    problem = json.loads(await reader.readexactly(length))
    writer.close()
    assert head.split()[1] == b"413" and problem["code"] == "too_large"
    assert problem["limit"] < sent < problem["limit"] + (32 << 20)  # refused at the limit
    assert peak_growth < 32 << 20, f"the API grew by {peak_growth >> 20} MB"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from VmRSS


def _rss(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith(field))) * 1024


async def test_declared_over_limit_length_is_refused_before_reading(system: System) -> None:
    host, port = system.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/conversions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {system.api_key}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {500 * 1024 * 1024}\r\n\r\n".encode()
    )
    await writer.drain()  # not one byte of the declared 500 MB follows
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1] == b"413"


@pytest.mark.parametrize(
    "fields, code",
    [({"target": "docx"}, "validation_error"), ({"timephased": "maybe"}, "validation_error")],
)
async def test_invalid_options_are_422(
    client: httpx.AsyncClient, sample: Path, fields: dict[str, str], code: str
) -> None:
    response = await upload(client, sample, **fields)
    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_form_without_file_and_non_multipart_bodies(client: httpx.AsyncClient) -> None:
    no_file = await client.post("/v1/conversions", data={"target": "mpx"}, files={"x": ("a", b"b")})
    assert no_file.status_code == 422
    not_form = await client.post("/v1/conversions", json={"file": "x"})
    assert not_form.status_code == 415


async def test_idempotency_key_returns_the_same_job(
    client: httpx.AsyncClient, sample: Path, mpp_files: list[Path]
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await upload(client, sample, headers=key)
    second = await upload(client, sample, headers=key)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    other = await upload(client, sample, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert other.json()["id"] != first.json()["id"]


async def test_same_file_and_options_reuse_the_prior_result(
    client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    source = mpp_files[3]
    first = await convert(client, source, target="xer")
    second = await convert(client, source, target="xer")
    assert second["id"] != first["id"]
    assert second["reused"] is True and second["status"] == "completed"
    assert second["result"] == first["result"]
    other_options = await convert(client, source, target="mpx")
    assert other_options["reused"] is False
    # deleting the first job keeps the result the second one shares
    assert (await client.delete(f"/v1/conversions/{first['id']}")).status_code == 204
    assert (await client.get(f"/v1/conversions/{second['id']}/result")).status_code == 200


async def test_list_pages_with_a_cursor_and_filters_by_status(
    system: System, admin: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    key = (
        await admin.post("/v1/admin/api-keys", json={"tenant": f"lister-{uuid.uuid4().hex[:6]}"})
    ).json()
    async with httpx.AsyncClient(
        base_url=system.base_url, timeout=60, headers={"Authorization": f"Bearer {key['key']}"}
    ) as mine:
        ids = [(await convert(mine, p))["id"] for p in mpp_files[:5]]
        failed = await upload(mine, content=b"\x00\x01" * 600, name="bad.bin")
        await wait_final(mine, failed.json()["id"])
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await mine.get("/v1/conversions", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted([*ids, failed.json()["id"]]) and len(seen) == 6
        only_failed = (await mine.get("/v1/conversions", params={"status": "failed"})).json()
        assert [i["id"] for i in only_failed["items"]] == [failed.json()["id"]]
        bad = await mine.get("/v1/conversions", params={"cursor": "!!nope"})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_delete_removes_the_job_and_its_files(
    client: httpx.AsyncClient, system: System, mpp_files: list[Path]
) -> None:
    job = await convert(client, mpp_files[7], target="sdef")
    stored = list((Path(system.env["DATA_DIR"]) / "objects" / "dev" / job["id"]).iterdir())
    assert len(stored) == 2  # source and result
    assert (await client.delete(f"/v1/conversions/{job['id']}")).status_code == 204
    assert (await client.get(f"/v1/conversions/{job['id']}")).status_code == 404
    assert not any(p.exists() for p in stored)
    assert (await client.delete(f"/v1/conversions/{job['id']}")).status_code == 404


async def test_auth_and_tenant_isolation(
    system: System, client: httpx.AsyncClient, admin: httpx.AsyncClient, sample: Path
) -> None:
    job = await convert(client, sample)
    async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as anonymous:
        assert (await anonymous.get("/v1/conversions")).status_code == 401
        wrong = await anonymous.get("/v1/conversions", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    created = await admin.post("/v1/admin/api-keys", json={"tenant": "other"})
    assert created.status_code == 201
    other = {"Authorization": f"Bearer {created.json()['key']}"}
    for path in (f"/v1/conversions/{job['id']}", f"/v1/conversions/{job['id']}/result"):
        assert (await client.get(path, headers=other)).status_code == 404
    assert (await client.delete(f"/v1/conversions/{job['id']}", headers=other)).status_code == 404
    assert (await client.get("/v1/conversions", headers=other)).json()["items"] == []
    assert (
        await client.post("/v1/admin/api-keys", json={"tenant": "x"}, headers=other)
    ).status_code == 403


async def test_revoked_key_is_refused_within_seconds(
    system: System, admin: httpx.AsyncClient
) -> None:
    created = (await admin.post("/v1/admin/api-keys", json={"tenant": "revokee"})).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    async with httpx.AsyncClient(base_url=system.base_url, headers=headers, timeout=30) as user:
        assert (await user.get("/v1/conversions")).status_code == 200
        assert (await admin.delete(f"/v1/admin/api-keys/{created['id']}")).status_code == 204
        for _ in range(50):
            if (await user.get("/v1/conversions")).status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert (await user.get("/v1/conversions")).status_code == 401
    assert (await admin.delete(f"/v1/admin/api-keys/{created['id']}")).status_code == 404


async def test_ops_endpoints_and_openapi(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        ready = (await anonymous.get("/readyz")).json()
        assert ready["ready"] is True and ready["serving"] is True
        dependencies = ready["dependencies"]
        assert set(dependencies) == {"mongodb", "rabbitmq", "storage"}
        assert dependencies["mongodb"]["state"] == "closed"
        assert dependencies["mongodb"]["last_success_s_ago"] is not None
        assert dependencies["rabbitmq"] == {"connected": True}
        metrics = await anonymous.get("/metrics")
        assert "http_request_duration_seconds" in metrics.text
        spec = (await anonymous.get("/openapi.json")).json()
        assert {
            "/v1/conversions",
            "/v1/conversions/{job_id}",
            "/v1/conversions/{job_id}/result",
            "/v1/admin/api-keys",
        } <= set(spec["paths"])


async def test_one_trace_spans_the_upload_the_broker_and_the_converter(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    connection, _, traces = await outcome_listener(system.env["RABBITMQ_URL"])
    try:
        response = await upload(client, mpp_files[5], target="planner")
        trace_id = response.headers["x-trace-id"]
        job = await wait_final(client, response.json()["id"])
        for _ in range(50):
            if job["id"] in traces:
                break
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    assert len(trace_id) == 32
    assert traces[job["id"]].split("-")[1] == trace_id


async def test_polling_an_unchanged_job_costs_no_database_read(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    job = await convert(client, mpp_files[4], target="json")
    await asyncio.sleep(0.5)  # the job's last event reaches every API replica

    async def lookups() -> dict[str, float]:
        text = (await client.get("/metrics")).text
        return {
            outcome: float(line.rsplit(" ", 1)[1])
            for outcome in ("hit", "miss")
            for line in text.splitlines()
            if line.startswith(
                f'api_document_cache_lookups_total{{cache="conversion_jobs",outcome="{outcome}"}}'
            )
        }

    await client.get(f"/v1/conversions/{job['id']}")
    before = await lookups()
    for _ in range(20):
        assert (await client.get(f"/v1/conversions/{job['id']}")).json()["status"] == "completed"
    after = await lookups()
    assert after["hit"] - before.get("hit", 0) == 20
    assert after.get("miss", 0) == before.get("miss", 0)


async def test_an_unchanged_job_answers_304_to_its_etag(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    job = await convert(client, mpp_files[4], target="json")
    first = await client.get(f"/v1/conversions/{job['id']}")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert first.headers["cache-control"] == "private, no-cache"
    again = await client.get(f"/v1/conversions/{job['id']}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    listed = await client.get(
        f"/v1/conversions/{job['id']}", headers={"If-None-Match": f'"stale", W/{etag}'}
    )
    assert listed.status_code == 304
    other = await client.get(f"/v1/conversions/{job['id']}", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200 and other.json()["id"] == job["id"]


async def test_a_long_poll_answers_when_the_job_finishes(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    accepted = await upload(client, mpp_files[6], target="planner", timephased="true")
    job = accepted.json()
    assert job["status"] == "queued"
    started = asyncio.get_running_loop().time()
    while job["status"] not in ("completed", "failed"):
        answer = await client.get(f"/v1/conversions/{job['id']}", params={"wait": 30})
        assert answer.status_code == 200
        job = answer.json()
    assert job["status"] == "completed"
    assert asyncio.get_running_loop().time() - started < 25  # woken, not timed out


async def test_the_worker_tells_the_api_replicas_when_each_change_is_recorded(
    system: System, mpp_files: list[Path]
) -> None:
    """The notices that let a long poll read once per change, each sent after the upload
    worker's write, so a read then shows it: the outcome, after 'converting' when the JVM
    had the job long enough to announce it (CONVERTER_STARTED_AFTER_S; a warm JVM converts
    this file in less, a cold one may not)."""
    _, key = await new_tenant(system.base_url, system.admin_key)  # nothing to reuse
    connection, notices = await captured_bodies(
        system.env["RABBITMQ_URL"], recorded_key("conversion_jobs")
    )
    try:
        async with httpx.AsyncClient(
            base_url=system.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as own:
            job = await convert(own, mpp_files[5], target="json")
        statuses: list[str] = []
        for _ in range(100):
            statuses = [
                change.fields["status"]
                for body in notices
                for job_id, change in parse_recorded(body).items()
                if job_id == job["id"]
            ]
            if "completed" in statuses:
                break
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    assert job["status"] == "completed"
    assert statuses in (["completed"], ["converting", "completed"])


async def test_a_long_poll_on_a_current_etag_waits_then_answers_304(
    system: System, client: httpx.AsyncClient, mpp_files: list[Path]
) -> None:
    job = await convert(client, mpp_files[4], target="json")
    etag = (await client.get(f"/v1/conversions/{job['id']}")).headers["etag"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    held = await client.get(
        f"/v1/conversions/{job['id']}", params={"wait": 1}, headers={"If-None-Match": etag}
    )
    assert held.status_code == 304
    assert loop.time() - started >= 1
    at_once = await client.get(f"/v1/conversions/{job['id']}", params={"wait": 30})
    assert at_once.status_code == 200 and at_once.json()["status"] == "completed"
    too_long = await client.get(f"/v1/conversions/{job['id']}", params={"wait": 61})
    assert too_long.status_code == 422
