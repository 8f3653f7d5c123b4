"""FilesystemStore on a temporary directory: the same contract the S3 adapter is held to."""

import hashlib
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from shared.storage import ObjectNotFound, StoredObject
from shared.storage.filesystem import FilesystemStore
from shared.storage.port import write_all
from tests.support.memory import run_memory_probe

MiB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "objects")


async def write(store: FilesystemStore, key: str, chunks: Iterable[bytes]) -> StoredObject:
    writer = store.writer(key)
    for chunk in chunks:
        writer.write(chunk)
    return await writer.commit()


async def read_all(store: FilesystemStore, key: str, chunk_size: int = MiB) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, chunk_size)])


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


async def test_small_object_round_trip(store: FilesystemStore) -> None:
    data = b"hello, object storage"

    stored = await write(store, "docs/hello.txt", split(data, 5))

    assert stored == StoredObject("docs/hello.txt", len(data), hashlib.sha256(data).hexdigest())
    assert await read_all(store, "docs/hello.txt") == data
    assert await store.size("docs/hello.txt") == len(data)
    assert store.local_path("docs/hello.txt") == store.root / "docs" / "hello.txt"


async def test_multi_mb_object_round_trip(store: FilesystemStore) -> None:
    data = os.urandom(12 * MiB + 123)

    stored = await write(store, "big.bin", split(data, 300_001))

    chunks = [chunk async for chunk in store.read("big.bin", chunk_size=MiB)]
    assert max(map(len, chunks)) <= MiB
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == stored.sha256
    assert await store.size("big.bin") == stored.size


async def test_empty_object_round_trip(store: FilesystemStore) -> None:
    stored = await write(store, "empty", [])

    assert stored.size == 0
    assert await read_all(store, "empty") == b""
    assert await store.size("empty") == 0


async def test_nothing_is_visible_before_commit(store: FilesystemStore) -> None:
    writer = store.writer("pending")
    writer.write(b"x" * 1000)

    with pytest.raises(ObjectNotFound):
        await store.size("pending")
    await writer.commit()

    assert await store.size("pending") == 1000
    assert files_under(store.root) == [store.root / "pending"]


async def test_missing_key_raises_object_not_found(store: FilesystemStore) -> None:
    with pytest.raises(ObjectNotFound):
        await anext(aiter(store.read("missing")))
    with pytest.raises(ObjectNotFound):
        await store.size("missing")


async def test_delete_is_idempotent(store: FilesystemStore) -> None:
    await write(store, "doomed", [b"data"])

    await store.delete("doomed")
    await store.delete("doomed")
    await store.delete("never-existed")

    with pytest.raises(ObjectNotFound):
        await store.size("doomed")


async def test_abort_leaves_nothing(store: FilesystemStore) -> None:
    writer = store.writer("nested/aborted")
    writer.write(os.urandom(MiB))

    await writer.abort()

    with pytest.raises(ObjectNotFound):
        await store.size("nested/aborted")
    assert files_under(store.root) == []


@pytest.mark.parametrize("key", ["../../etc/passwd", "../sibling", "/etc/passwd", "", "a/../.."])
async def test_keys_outside_the_store_are_refused(
    store: FilesystemStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(ValueError):
        store.writer(key)
    with pytest.raises(ValueError):
        await store.size(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        await anext(aiter(store.read(key)))
    assert files_under(tmp_path) == []


async def test_ping(store: FilesystemStore) -> None:
    assert await store.ping() is True


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc")
def test_64_mib_object_in_1_mib_chunks_keeps_memory_flat(tmp_path: Path) -> None:
    environment = {"STORAGE_BACKEND": "filesystem", "DATA_DIR": str(tmp_path / "data")}

    report = run_memory_probe(environment, chunks=64, workdir=tmp_path)

    assert report["size"] == report["size_in_store"] == 64 * MiB
    assert report["read_sha256"] == report["sha256"]
    assert report["growth"] < 40 * MiB, f"peak RSS grew by {report['growth'] / MiB:.1f} MiB"


class _Trickle(io.BytesIO):
    """A file whose every write takes at most 3 bytes, as a raw write may."""

    def write(self, data: object) -> int:
        return super().write(bytes(memoryview(data)[:3]))  # type: ignore[arg-type]


def test_a_write_that_took_part_of_a_chunk_goes_on_with_the_rest() -> None:
    spool = _Trickle()
    write_all(spool, b"0123456789")
    write_all(spool, b"abcd")
    assert spool.getvalue() == b"0123456789abcd"
