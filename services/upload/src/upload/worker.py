"""The upload worker: job status from converter events, the outbox relay, retention."""

from shared.service import worker_main
from upload import bootstrap
from upload.settings import UploadSettings


def main() -> None:
    settings = UploadSettings()
    worker_main("upload-worker", settings, lambda infra: bootstrap.worker(infra, settings))
