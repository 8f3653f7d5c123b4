from shared.settings import InfraSettings
from shared.storage.filesystem import FilesystemStore
from shared.storage.port import ObjectStore


def create_store(settings: InfraSettings) -> ObjectStore:
    if settings.storage_backend == "s3":
        from shared.storage.s3 import S3Store

        return S3Store.from_settings(settings)
    return FilesystemStore(settings.storage_dir)
