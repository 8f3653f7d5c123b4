"""Object storage behind one port: the local filesystem (embedded default) and MinIO/S3."""

from shared.storage.factory import create_store
from shared.storage.port import ObjectNotFound, ObjectStore, ObjectWriter, StoredObject

__all__ = ["ObjectNotFound", "ObjectStore", "ObjectWriter", "StoredObject", "create_store"]
