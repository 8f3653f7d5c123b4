"""The converter worker process: warm JVM pool, subscriber, outbox relay, ops endpoints."""

from functools import partial

from converter.bootstrap import worker
from converter.settings import ConverterSettings
from shared.service import worker_main


def main() -> None:
    settings = ConverterSettings()
    worker_main("converter", settings, partial(worker, settings=settings))
