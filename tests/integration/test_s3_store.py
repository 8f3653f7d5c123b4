"""S3Store against a real S3 API: moto's server mode in a child process, no mocked client."""

import asyncio
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import urllib3
from minio import Minio

from shared.settings import InfraSettings
from shared.storage import ObjectNotFound, StoredObject, create_store
from shared.storage.s3 import S3Store
from tests.support.memory import run_memory_probe
from tests.support.s3server import S3Server, running_s3_server

MiB = 1 << 20


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def bucket() -> str:
    # Created by the store on first use; one per session, and one key prefix per test.
    return new_bucket_name()


@pytest.fixture
def store(s3_server: S3Server, bucket: str, tmp_path: Path) -> S3Store:
    return S3Store(client_for(s3_server), bucket, prefix=f"t-{uuid4().hex}", spool_dir=tmp_path)


def new_bucket_name() -> str:
    return f"test-{uuid4().hex[:16]}"


def client_for(server: S3Server, http_client: urllib3.PoolManager | None = None) -> Minio:
    return Minio(
        server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        region=server.region,
        http_client=http_client,
    )


async def write(store: S3Store, key: str, chunks: Iterable[bytes]) -> StoredObject:
    writer = store.writer(key)
    for chunk in chunks:
        writer.write(chunk)
    return await writer.commit()


async def read_all(store: S3Store, key: str, chunk_size: int = MiB) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, chunk_size)])


def spool_files(spool_dir: Path) -> list[Path]:
    return list(spool_dir.iterdir())


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_small_object_round_trip(store: S3Store) -> None:
    data = b"hello, object storage"

    stored = await write(store, "docs/hello.txt", split(data, 5))

    assert stored == StoredObject("docs/hello.txt", len(data), hashlib.sha256(data).hexdigest())
    assert await read_all(store, "docs/hello.txt") == data
    assert await store.size("docs/hello.txt") == len(data)


async def test_multi_mb_object_round_trip(store: S3Store) -> None:
    # Above minio's 5 MiB part size, so the upload is multipart; odd chunk sizes on purpose.
    data = os.urandom(12 * MiB + 123)

    stored = await write(store, "big.bin", split(data, 300_001))

    chunks = [chunk async for chunk in store.read("big.bin", chunk_size=MiB)]
    assert max(map(len, chunks)) <= MiB
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == stored.sha256
    assert await store.size("big.bin") == stored.size


async def test_empty_object_round_trip(store: S3Store) -> None:
    stored = await write(store, "empty", [])

    assert stored.size == 0
    assert await read_all(store, "empty") == b""
    assert await store.size("empty") == 0


async def test_nothing_is_visible_before_commit(store: S3Store, tmp_path: Path) -> None:
    writer = store.writer("pending")
    writer.write(b"x" * 1000)

    with pytest.raises(ObjectNotFound):
        await store.size("pending")
    await writer.commit()

    assert await store.size("pending") == 1000
    assert spool_files(tmp_path) == [], "the spool file outlives the commit"


async def test_missing_key_raises_object_not_found(store: S3Store) -> None:
    with pytest.raises(ObjectNotFound):
        await anext(aiter(store.read("missing")))
    with pytest.raises(ObjectNotFound):
        await store.size("missing")


async def test_delete_is_idempotent(store: S3Store) -> None:
    await write(store, "doomed", [b"data"])

    await store.delete("doomed")
    await store.delete("doomed")
    await store.delete("never-existed")

    with pytest.raises(ObjectNotFound):
        await store.size("doomed")


async def test_abort_leaves_nothing(store: S3Store, tmp_path: Path) -> None:
    writer = store.writer("aborted")
    writer.write(os.urandom(MiB))

    await writer.abort()

    with pytest.raises(ObjectNotFound):
        await store.size("aborted")
    assert spool_files(tmp_path) == []


async def test_closing_a_read_early_keeps_the_connection_pool_usable(store: S3Store) -> None:
    # A connection returned to the pool with an unread body would corrupt the next response.
    large, small = os.urandom(3 * MiB), b"small object"
    await write(store, "large", [large])
    await write(store, "small", [small])

    for _ in range(3):
        reader = store.read("large", chunk_size=64 * 1024)
        assert await anext(reader) == large[: 64 * 1024]
        await reader.aclose()

    assert await read_all(store, "small") == small
    assert await read_all(store, "large") == large


async def test_prefixes_isolate_stores(s3_server: S3Server, bucket: str) -> None:
    first = S3Store(client_for(s3_server), bucket, prefix=f"a-{uuid4().hex}")
    second = S3Store(client_for(s3_server), bucket, prefix=f"b-{uuid4().hex}")
    await write(first, "same-key", [b"first"])

    with pytest.raises(ObjectNotFound):
        await second.size("same-key")
    await write(second, "same-key", [b"second"])
    assert await read_all(first, "same-key") == b"first"


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "", "a/./b", "a//b", "a/.."])
async def test_keys_outside_the_store_are_refused(store: S3Store, key: str) -> None:
    with pytest.raises(ValueError):
        store.writer(key)
    with pytest.raises(ValueError):
        await store.size(key)
    with pytest.raises(ValueError):
        await anext(aiter(store.read(key)))


async def test_ping(store: S3Store) -> None:
    assert await store.ping() is True


async def test_ping_is_false_when_the_server_is_unreachable(s3_server: S3Server) -> None:
    closed_port = S3Server(endpoint="127.0.0.1:1")
    no_retries = urllib3.PoolManager(retries=False, timeout=2)
    store = S3Store(client_for(closed_port, http_client=no_retries), new_bucket_name())

    assert await store.ping() is False


async def test_bucket_is_created_once_on_first_use_by_concurrent_stores(
    s3_server: S3Server,
) -> None:
    bucket = new_bucket_name()
    stores = [S3Store(client_for(s3_server), bucket) for _ in range(4)]

    assert await asyncio.gather(*(s.ping() for s in stores)) == [True] * 4
    assert client_for(s3_server).bucket_exists(bucket)


async def test_factory_builds_the_store_from_the_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_environment(s3_server, new_bucket_name()).items():
        monkeypatch.setenv(name, value)
    store = create_store(InfraSettings())

    assert isinstance(store, S3Store)
    await write(store, "via-settings", [b"ok"])
    assert await read_all(store, "via-settings") == b"ok"


def s3_environment(server: S3Server, bucket: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT": f"http://{server.endpoint}",
        "S3_ACCESS_KEY": server.access_key,
        "S3_SECRET_KEY": server.secret_key,
        "S3_BUCKET": bucket,
        "S3_REGION": server.region,
    }


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc")
def test_64_mib_object_in_1_mib_chunks_keeps_memory_flat(
    s3_server: S3Server, tmp_path: Path
) -> None:
    environment = s3_environment(s3_server, new_bucket_name())

    report = run_memory_probe(environment, chunks=64, workdir=tmp_path)

    assert report["size"] == report["size_in_store"] == 64 * MiB
    assert report["read_sha256"] == report["sha256"]
    assert report["growth"] < 40 * MiB, f"peak RSS grew by {report['growth'] / MiB:.1f} MiB"
