"""The object-storage port. Writes and reads stream in chunks: memory stays flat."""

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


def write_all(fh: IO[bytes], chunk: bytes) -> None:
    """``chunk`` into a file opened unbuffered, whose one write may take only part of it.

    Writers spool unbuffered: the chunks arrive as the request's body does (tens of KiB), and
    a buffer per open writer (1 MiB before) made every upload in flight hold its file a second
    time in memory until its commit: the upload API's peak under a flood of small files."""
    view = memoryview(chunk)
    while view:
        view = view[fh.write(view) :]


class ObjectNotFound(KeyError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class ObjectWriter(ABC):
    """Hashes and counts the chunks it receives; nothing is visible under the key before commit."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        self._write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def commit(self) -> StoredObject:
        await self._commit()
        return StoredObject(self.key, self.size, self.sha256)

    @abstractmethod
    def _write(self, chunk: bytes) -> None: ...

    @abstractmethod
    async def _commit(self) -> None: ...

    @abstractmethod
    async def abort(self) -> None: ...


class ObjectStore(ABC):
    @abstractmethod
    def writer(self, key: str) -> ObjectWriter: ...

    @abstractmethod
    def read(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """Chunks of the object; raises ObjectNotFound before the first chunk."""

    @abstractmethod
    async def size(self, key: str) -> int:
        """Size in bytes; raises ObjectNotFound."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    async def ping(self) -> bool: ...

    async def put_file(self, key: str, path: Path) -> StoredObject:
        writer = self.writer(key)
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    writer.write(chunk)
            return await writer.commit()
        except BaseException:
            await writer.abort()
            raise

    async def get_file(self, key: str, path: Path) -> None:
        with path.open("wb") as fh:
            async for chunk in self.read(key):
                fh.write(chunk)

    def local_path(self, key: str) -> Path | None:
        """A readable local path for the object when the backend has one (no copy needed)."""
        return None
