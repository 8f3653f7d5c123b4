"""The same pipeline with the production storage backend: MinIO client against a real S3 server."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from minio import Minio
from system import System

from tests.support.api import api_client, convert
from tests.support.infra import system_of_components
from tests.support.mspdi import normalise
from tests.support.reference import reference_outputs
from tests.support.s3server import S3Server, running_s3_server

BUCKET = "e2e-s3"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def s3_system(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[System]:
    settings = {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT": s3.endpoint,
        "S3_ACCESS_KEY": s3.access_key,
        "S3_SECRET_KEY": s3.secret_key,
        "S3_BUCKET": BUCKET,
        "S3_SECURE": "false",
        "CONVERTER_WORKERS": "1",
    }
    root = tmp_path_factory.mktemp("s3-system")
    with system_of_components(root, MONGODB_DB="e2e_s3", **settings) as running:
        yield running


@pytest.fixture
async def s3_client(s3_system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(s3_system.base_url, s3_system.api_key) as c:
        yield c


def _objects(s3: S3Server, prefix: str) -> list[str]:
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    return [o.object_name for o in client.list_objects(BUCKET, prefix=prefix, recursive=True)]


async def test_conversion_through_s3_storage_equals_mpxj(
    s3_client: httpx.AsyncClient, s3: S3Server, mpp_files: list[Path], tmp_path: Path
) -> None:
    sources = mpp_files[::3]  # MPP9, MPP12 and MPP14
    references = reference_outputs(sources, tmp_path / "ref")
    for source in sources:
        job = await convert(s3_client, source)
        assert job["status"] == "completed", job["error"]
        result = await s3_client.get(f"/v1/conversions/{job['id']}/result")
        assert normalise(result.content) == normalise(references[source] or b"")
        stored = _objects(s3, f"dev/{job['id']}/")
        assert len(stored) == 2 and any(name.endswith("/result.xml") for name in stored)
        assert (await s3_client.delete(f"/v1/conversions/{job['id']}")).status_code == 204
        assert _objects(s3, f"dev/{job['id']}/") == []
