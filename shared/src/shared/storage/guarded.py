"""A store whose outages open a circuit: while it is open, calls fail at once with Unavailable."""

from collections.abc import AsyncIterator
from pathlib import Path

from shared.circuit import Circuit, Unavailable, is_storage_outage
from shared.storage.port import CHUNK, ObjectStore, ObjectWriter


class GuardedStore(ObjectStore):
    def __init__(self, inner: ObjectStore, circuit: Circuit) -> None:
        self.inner, self.circuit = inner, circuit

    def writer(self, key: str) -> ObjectWriter:
        self._check()
        try:
            return _GuardedWriter(self.inner.writer(key), self)
        except Exception as exc:
            raise self._failed(exc) from exc

    async def read(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        self._check()
        try:
            async for chunk in self.inner.read(key, chunk_size):
                yield chunk
        except Exception as exc:
            raise self._failed(exc) from exc
        self.circuit.succeeded()

    async def size(self, key: str) -> int:
        self._check()
        try:
            size = await self.inner.size(key)
        except Exception as exc:
            raise self._failed(exc) from exc
        self.circuit.succeeded()
        return size

    async def delete(self, key: str) -> None:
        self._check()
        try:
            await self.inner.delete(key)
        except Exception as exc:
            raise self._failed(exc) from exc
        self.circuit.succeeded()

    async def ping(self) -> bool:
        return await self.inner.ping()

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)

    def _check(self) -> None:
        self.circuit.check()

    def _failed(self, exc: Exception) -> Exception:
        """Count an outage and turn it into Unavailable; any other error passes unchanged.
        (A missing object is an answer, not an outage: it counts as a success.)"""
        if not is_storage_outage(exc):
            self.circuit.succeeded()
            return exc
        self.circuit.failed()
        return Unavailable(self.circuit.name, max(self.circuit.retry_after_s, 1.0))


class _GuardedWriter(ObjectWriter):
    """Hashing and counting stay the inner writer's; only its failures are watched."""

    def __init__(self, inner: ObjectWriter, store: GuardedStore) -> None:
        super().__init__(inner.key)
        self.inner, self.store = inner, store

    def write(self, chunk: bytes) -> None:
        try:
            self.inner.write(chunk)
        except Exception as exc:
            raise self.store._failed(exc) from exc
        self.size = self.inner.size

    @property
    def sha256(self) -> str:
        return self.inner.sha256

    def _write(self, chunk: bytes) -> None:  # pragma: no cover - write() delegates whole
        raise NotImplementedError

    async def _commit(self) -> None:
        try:
            await self.inner.commit()
        except Exception as exc:
            raise self.store._failed(exc) from exc
        self.store.circuit.succeeded()

    async def abort(self) -> None:
        await self.inner.abort()
