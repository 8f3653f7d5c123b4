"""Objects in one MinIO/S3 bucket, optionally under a key prefix.

Writes spool to a local temporary file and upload on commit, so memory stays flat whatever the
size and nothing is visible under the key before commit. The minio client is synchronous: every
call runs in a worker thread.
"""

import asyncio
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import certifi
import structlog
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from urllib3 import BaseHTTPResponse

from shared.settings import InfraSettings
from shared.storage.port import CHUNK, ObjectNotFound, ObjectStore, ObjectWriter, write_all

log = structlog.get_logger(__name__)

# Another replica creating the bucket at the same moment. (BucketAlreadyExists means another
# account owns the name: that one is raised.)
OWN_BUCKET_EXISTS = "BucketAlreadyOwnedByYou"
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 120.0


class S3Writer(ObjectWriter):
    def __init__(self, key: str, store: "S3Store", object_name: str) -> None:
        super().__init__(key)
        self._store = store
        self._object_name = object_name
        self._spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed on commit or abort
            "wb", buffering=0, prefix=".s3-spool-", dir=store.spool_dir, delete=False
        )
        self.spool_path = Path(self._spool.name)

    def _write(self, chunk: bytes) -> None:
        write_all(self._spool, chunk)

    async def _commit(self) -> None:
        await asyncio.to_thread(self._upload)

    def _upload(self) -> None:
        try:
            self._spool.close()
            self._store.upload(self._object_name, self.spool_path)
        finally:
            self.spool_path.unlink(missing_ok=True)

    async def abort(self) -> None:
        self._spool.close()
        self.spool_path.unlink(missing_ok=True)


class S3Store(ObjectStore):
    def __init__(
        self, client: Minio, bucket: str, *, prefix: str = "", spool_dir: Path | None = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            _check_key(self.prefix)
        self.spool_dir = spool_dir
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: InfraSettings, *, prefix: str = "") -> Self:
        endpoint, secure = _parse_endpoint(settings.s3_endpoint, settings.s3_secure)
        client = Minio(
            endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=secure,
            region=settings.s3_region,
            http_client=_http_client(),
        )
        return cls(client, settings.s3_bucket, prefix=prefix)

    def writer(self, key: str) -> ObjectWriter:
        return S3Writer(key, self, self._object_name(key))

    async def read(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        response = await asyncio.to_thread(self._open, key)
        exhausted = False
        try:
            while chunk := await asyncio.to_thread(response.read, chunk_size):
                yield chunk
            exhausted = True
        finally:
            # A connection with unread body must not go back to the pool: close it first.
            if not exhausted:
                response.close()
            response.release_conn()

    def _open(self, key: str) -> BaseHTTPResponse:
        name = self._object_name(key)
        self.ensure_bucket()
        try:
            return self.client.get_object(self.bucket, name)
        except S3Error as exc:
            raise _not_found_or(exc, key) from None

    async def size(self, key: str) -> int:
        return await asyncio.to_thread(self._stat_size, key)

    def _stat_size(self, key: str) -> int:
        name = self._object_name(key)
        self.ensure_bucket()
        try:
            return int(self.client.stat_object(self.bucket, name).size or 0)
        except S3Error as exc:
            raise _not_found_or(exc, key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._remove, self._object_name(key))

    def _remove(self, name: str) -> None:
        self.ensure_bucket()
        try:
            self.client.remove_object(self.bucket, name)
        except S3Error as exc:
            if exc.code != "NoSuchKey":
                raise

    async def ping(self) -> bool:
        try:
            await asyncio.to_thread(self.ensure_bucket)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("storage.s3.ping_failed", bucket=self.bucket, error=str(exc))
            return False
        return True

    def upload(self, name: str, path: Path) -> None:
        """Blocking; minio switches to a multipart upload for large files."""
        self.ensure_bucket()
        self.client.fput_object(self.bucket, name, str(path))

    def ensure_bucket(self) -> None:
        """Blocking; creates the bucket on first use, once per store."""
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self.client.bucket_exists(self.bucket):
                self._make_bucket()
            self._bucket_ready = True

    def _make_bucket(self) -> None:
        try:
            self.client.make_bucket(self.bucket)
            log.info("storage.s3.bucket_created", bucket=self.bucket)
        except S3Error as exc:
            if exc.code != OWN_BUCKET_EXISTS:
                raise

    def _object_name(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


def _http_client() -> urllib3.PoolManager:
    """minio's own client, but quick to give up on a server that does not answer: minio's
    default (five retries with backoff, five minutes to connect) holds a request for seconds
    while the store is down; here a refused connection fails in about half a second and the
    caller answers 503 (docs/architecture.md, "Faults")."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=2, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]),
    )


def _check_key(key: str) -> None:
    # Same keys as the filesystem store accepts: relative, no `.`/`..` segments, no empty segment.
    segments = key.split("/")
    if not key or any(segment in {"", ".", ".."} for segment in segments):
        raise ValueError(f"invalid object key (must be a relative path): {key!r}")


def _not_found_or(exc: S3Error, key: str) -> Exception:
    return ObjectNotFound(key) if exc.code == "NoSuchKey" else exc


def _parse_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """minio wants host:port; accept a URL too, whose scheme then decides TLS."""
    if "://" not in endpoint:
        return endpoint, secure
    url = urlsplit(endpoint)
    return url.netloc, url.scheme == "https"
