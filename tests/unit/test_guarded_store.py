"""A store's outages turn into Unavailable and open its circuit; its answers pass through."""

import errno
from pathlib import Path

import pytest

from shared.circuit import Circuit, State, Unavailable
from shared.storage import ObjectNotFound
from shared.storage.filesystem import FilesystemStore
from shared.storage.guarded import GuardedStore


class FullDisk(FilesystemStore):
    """The filesystem store on a disk that filled up: every write fails with ENOSPC."""

    full = True

    async def size(self, key: str) -> int:
        self.calls = getattr(self, "calls", 0) + 1
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return await super().size(key)


async def test_an_outage_is_unavailable_and_opens_the_circuit(tmp_path: Path) -> None:
    inner = FullDisk(tmp_path)
    store = GuardedStore(inner, Circuit("storage", threshold=2))
    for _ in range(2):
        with pytest.raises(Unavailable):
            await store.size("a")
    assert store.circuit.state is State.OPEN
    with pytest.raises(Unavailable):
        await store.size("a")
    assert inner.calls == 2  # the open circuit answered without calling the store


async def test_a_missing_object_is_an_answer_not_an_outage(tmp_path: Path) -> None:
    store = GuardedStore(FilesystemStore(tmp_path), Circuit("storage", threshold=1))
    with pytest.raises(ObjectNotFound):
        await store.size("missing")
    with pytest.raises(ObjectNotFound):
        [chunk async for chunk in store.read("missing")]
    assert store.circuit.state is State.CLOSED


async def test_writes_hash_and_count_once_and_land_like_the_inner_stores(tmp_path: Path) -> None:
    store = GuardedStore(FilesystemStore(tmp_path), Circuit("storage"))
    writer = store.writer("docs/a.txt")
    writer.write(b"hello ")
    writer.write(b"world")
    stored = await writer.commit()
    plain = FilesystemStore(tmp_path / "plain").writer("a")
    plain.write(b"hello world")
    expected = await plain.commit()
    assert (stored.size, stored.sha256) == (expected.size, expected.sha256)
    assert b"".join([c async for c in store.read("docs/a.txt")]) == b"hello world"
    assert store.circuit.last_success > 0


async def test_a_commit_error_that_is_no_outage_passes_unchanged(tmp_path: Path) -> None:
    store = GuardedStore(FilesystemStore(tmp_path), Circuit("storage", threshold=1))
    writer = store.writer("a")
    writer.write(b"x")
    (tmp_path / "a").mkdir()  # the rename into place fails (EISDIR: not an outage)
    with pytest.raises(IsADirectoryError):
        await writer.commit()
    assert store.circuit.state is State.CLOSED
