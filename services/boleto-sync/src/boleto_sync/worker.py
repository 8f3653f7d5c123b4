"""The boleto worker: issues charges and syncs PDFs within the global rate limits."""

from functools import partial

from boleto_sync.bootstrap import worker
from boleto_sync.settings import BoletoSettings
from shared.service import worker_main


def main() -> None:
    settings = BoletoSettings()
    worker_main("boleto-sync-worker", settings, partial(worker, settings=settings))
