"""Objects as files under one root; writes land in a temp file renamed into place on commit."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

from shared.storage.port import CHUNK, ObjectNotFound, ObjectStore, ObjectWriter, write_all


class FilesystemWriter(ObjectWriter):
    def __init__(self, key: str, target: Path) -> None:
        super().__init__(key)
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.temp = target.parent / f".{target.name}.{uuid4().hex}.part"
        self._fh = self.temp.open("wb", buffering=0)

    def _write(self, chunk: bytes) -> None:
        write_all(self._fh, chunk)

    async def _commit(self) -> None:
        await asyncio.to_thread(self._finish)

    def _finish(self) -> None:
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.temp, self.target)

    async def abort(self) -> None:
        self._fh.close()
        self.temp.unlink(missing_ok=True)


class FilesystemStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    def writer(self, key: str) -> ObjectWriter:
        return FilesystemWriter(key, self._path(key))

    async def read(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with fh:
            while chunk := await asyncio.to_thread(fh.read, chunk_size):
                yield chunk

    async def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def ping(self) -> bool:
        return os.access(self.root, os.W_OK)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
