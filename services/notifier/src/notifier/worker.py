"""The notifier worker: fans events out into deliveries, sends them, keeps the replay window."""

from functools import partial

from notifier.bootstrap import worker
from notifier.settings import NotifierSettings
from shared.service import worker_main


def main() -> None:
    settings = NotifierSettings()
    worker_main("notifier-worker", settings, partial(worker, settings=settings))
